"""The rules a task obeys to leave the process (tasq.payload), shared by the backends and a store."""

from __future__ import annotations

import pytest

from tasq import background
from tasq.payload import check_json, resolve_name, task_name

pytestmark = pytest.mark.timeout(10)


@background
def send_mail(to: str) -> str:
    return to


def test_a_task_is_named_module_qualname_and_found_again_by_it() -> None:
    name = task_name(send_mail.fn, send_mail.options)
    assert name == "tests.test_payload.send_mail"
    assert resolve_name(name) is send_mail.fn
    assert resolve_name("tests.test_payload.nowhere") is None
    assert resolve_name("no_such_module_anywhere.fn") is None


def test_arguments_that_json_would_change_are_refused() -> None:
    check_json("t", ("a", 1, 2.5, None, [1], {"k": True}), {})
    with pytest.raises(TypeError, match="a tuple arrives as a list"):
        check_json("t", ((1, 2),), {})


def test_the_backends_use_the_same_rules() -> None:
    from tasq.backends import payload

    assert payload.task_name is task_name and payload.check_json is check_json
