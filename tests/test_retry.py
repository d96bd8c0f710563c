from __future__ import annotations

import pytest

from tasq import Backoff, RetryTask, backoff


def test_backoff_grows_and_caps() -> None:
    delay = backoff(0.5, factor=2, max=3, jitter=False)
    assert [delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert delay(10_000) == 3.0  # no overflow on a large attempt number


def test_jitter_stays_in_the_upper_half() -> None:
    delay = backoff(1.0, factor=3)
    for attempt in (1, 2, 3):
        full = min(300.0, 3.0 ** (attempt - 1))
        assert all(full / 2 <= delay(attempt) <= full for _ in range(200))


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ((-1,), ValueError),
        ((1, 0.5), ValueError),
        ((2, 2, 1), ValueError),
        (("1",), TypeError),
        ((float("inf"),), ValueError),
        ((True,), TypeError),
    ],
)
def test_backoff_checks_its_arguments(arguments: tuple[object, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        Backoff(*arguments)  # type: ignore[arg-type]


def test_retry_task_delay() -> None:
    assert RetryTask().delay is None
    assert RetryTask("x", delay=1.5).delay == 1.5
    with pytest.raises(ValueError):
        RetryTask(delay=-1)
    with pytest.raises(TypeError):
        RetryTask(delay="soon")  # type: ignore[arg-type]
    assert not issubclass(RetryTask, __import__("tasq").TasQError)
