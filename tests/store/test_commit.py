"""Group commit: concurrent producers share commits; each gets its own ids or its own error."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from tasq.store import Journal
from tasq.store.commit import GroupCommit

from .conftest import task

pytestmark = pytest.mark.timeout(30)


def test_eight_producers_get_distinct_increasing_ids_all_committed(journal: Journal) -> None:
    per_thread = 500
    got: dict[int, list[int]] = {}
    start = threading.Barrier(8)

    def produce(number: int) -> None:
        start.wait()
        got[number] = [journal.add([task("app.tasks.send", number, i)])[0] for i in range(per_thread)]

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [task_id for per in got.values() for task_id in per]
    assert len(set(ids)) == 8 * per_thread
    assert all(per == sorted(per) for per in got.values())
    assert journal.stats("default").pending == 8 * per_thread
    for number, per in got.items():  # each id holds the row its producer sent
        record = journal.result(per[-1])
        assert record is not None
        assert record.args == f"[{number},{per_thread - 1}]"


def test_add_is_all_or_nothing_and_says_which_item() -> None:
    with pytest.raises(TypeError, match=r"item 1 \(app.tasks.send\): the arguments must be JSON"):
        Journal("sqlite:///unused.db").add([task(), task("app.tasks.send", object())])


def test_not_json_is_refused_before_the_file_is_touched(journal: Journal) -> None:
    with pytest.raises(ValueError, match="item 0"):
        journal.add_many([task("app.tasks.send", float("nan"))])
    assert not journal.path.exists()
    assert journal.add([task(), task()]) == [1, 2]


def test_one_callers_failing_write_is_not_anothers() -> None:
    release = threading.Event()
    entered = threading.Event()
    calls: list[list[str]] = []

    def write(items: Sequence[str]) -> list[str]:
        calls.append(list(items))
        if len(calls) == 1:  # the first leader waits, so that the others queue behind it
            entered.set()
            release.wait(5)
        if "bad" in items:
            raise ValueError("refused")
        return [item.upper() for item in items]

    group: GroupCommit[str, str] = GroupCommit(write)
    answers: dict[str, object] = {}

    def submit(item: str) -> None:
        try:
            answers[item] = group.submit(item)
        except ValueError as error:
            answers[item] = error

    first = threading.Thread(target=submit, args=("first",))
    first.start()
    assert entered.wait(5)
    others = [threading.Thread(target=submit, args=(item,)) for item in ("a", "bad", "b")]
    for thread in others:
        thread.start()
    while len(group._queue) < 4:  # all three queued behind the leader
        threading.Event().wait(0.001)
    release.set()
    for thread in [first, *others]:
        thread.join(5)
    assert answers["first"] == "FIRST"
    assert (answers["a"], answers["b"]) == ("A", "B")
    assert isinstance(answers["bad"], ValueError)
    assert sorted(calls[1]) == ["a", "b", "bad"]  # one shared try, then one each
    assert len(calls) == 5
