"""TasQ(store=...): what it accepts, what it refuses, and what a second engine on the file sees.

Every test uses a real SQLite file in its temporary directory; a "restart" is an engine
closed and a new one made on the same file, as a new process would.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import pytest

from tasq import TaskStatus, TasQ, use_engine
from tests.stored import tasks
from tests.stored.conftest import StoreMake, rows
from tests.support import Recorder

pytestmark = pytest.mark.timeout(30)


def test_enqueue_submit_and_background_enqueue_store_and_run_each_task_once(make: StoreMake) -> None:
    rec = Recorder()
    engine = make(results=20, on_done=rec.on_done, on_failed=rec.on_failed)
    engine.start()
    with use_engine(engine):
        ids = [
            engine.enqueue(tasks.add.task(1, 2)),
            engine.submit(tasks.add, 2, 3),
            engine.submit(tasks.plain_add, 3, 4),  # a module-level function, no decorator
            tasks.add.enqueue(4, b=5),
            tasks.renamed.enqueue(21),  # stored under its name=
        ]
    assert all(type(task_id) is int and task_id > 0 for task_id in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert engine.join(10)
    rec.assert_once_each(ids)
    assert [engine.result(task_id).return_value for task_id in ids] == [3, 5, 7, 9, 42]  # type: ignore[union-attr]
    names = [row["name"] for row in rows(engine.store)]  # type: ignore[arg-type]
    assert names[-1] == "stored.renamed" and names[0] == "tests.stored.tasks.add"


def test_ids_keep_increasing_across_engines_and_restarts(make: StoreMake) -> None:
    first = make()
    ids = [first.enqueue(tasks.add.task(i, i)) for i in range(3)]
    first.close()
    second = make()
    ids += [second.enqueue(tasks.add.task(i, i)) for i in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 6


def test_enqueue_many_stores_all_in_order_or_none(make: StoreMake, store: str) -> None:
    rec = Recorder()
    engine = make(results=20, on_done=rec.on_done, on_failed=rec.on_failed)
    ids = engine.enqueue_many([tasks.add.task(i, i) for i in range(5)])
    assert ids == list(range(ids[0], ids[0] + 5))
    stored = len(rows(store))
    refused: list[object] = [tasks.add.task(1, 1)] * 3 + [object(), tasks.add.task(2, 2)]
    with pytest.raises(TypeError, match=r"^tasks\[3\]: "):
        engine.enqueue_many(refused)
    with pytest.raises(TypeError, match=r"^tasks\[1\]: .*JSON"):
        engine.enqueue_many([tasks.add.task(1, 1), tasks.add.task({1, 2}, 1)])
    with pytest.raises(ValueError, match=r"^tasks\[0\]: .*priority"):
        engine.enqueue_many([tasks.add.task(1, 1)], priority=500)
    with pytest.raises(TypeError, match="iterable"):
        engine.enqueue_many(tasks.add.task(1, 1))  # type: ignore[arg-type]
    assert len(rows(store)) == stored  # nothing of a refused batch was stored
    assert engine.enqueue_many([]) == []
    engine.start()
    assert engine.join(10)
    rec.assert_once_each(ids)
    assert [engine.result(task_id).return_value for task_id in ids] == [0, 2, 4, 6, 8]  # type: ignore[union-attr]


def _closure_maker() -> object:
    captured = 1

    def inner() -> int:
        return captured

    return inner


class _TaskObject:
    def do(self) -> None:
        pass


def _not_json_arguments() -> list[tuple[object, ...]]:
    return [(object(),), ({1, 2},), ((lambda: 1),), ({1: "a"},), (float("nan"),), (b"bytes",)]


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda engine: engine.submit(lambda: None), id="lambda"),
        pytest.param(lambda engine: engine.submit(_closure_maker()), id="closure"),
        pytest.param(lambda engine: engine.enqueue(_TaskObject()), id="task-object"),
        pytest.param(lambda engine: engine.enqueue(lambda: None), id="enqueue-lambda"),
        pytest.param(lambda engine: engine.submit(_TaskObject().do), id="bound-method"),
        pytest.param(lambda engine: engine.submit(functools.partial(tasks.plain_add, 1), 2), id="partial"),
        pytest.param(lambda engine: engine.enqueue_many([tasks.add.task(1, 1), lambda: None]), id="many-lambda"),
    ],
)
def test_what_cannot_be_found_again_is_a_type_error_and_nothing_is_stored(make: StoreMake, store: str, call) -> None:  # type: ignore[no-untyped-def]
    engine = make()
    engine.enqueue(tasks.add.task(0, 0))  # the file exists, with one row
    with pytest.raises(TypeError):
        call(engine)
    assert len(rows(store)) == 1


@pytest.mark.parametrize("arguments", _not_json_arguments(), ids=["object", "set", "lambda", "int-key", "nan", "bytes"])
def test_arguments_that_are_not_json_are_refused_and_nothing_is_stored(
    make: StoreMake, store: str, arguments: tuple[object, ...]
) -> None:
    engine = make()
    engine.enqueue(tasks.add.task(0, 0))
    with pytest.raises(TypeError, match="JSON"):
        engine.enqueue(tasks.record.task("unused", *arguments))
    with pytest.raises(TypeError, match="JSON"):
        engine.submit(tasks.plain_add, *arguments, 1)
    assert len(rows(store)) == 1
    assert engine.stats().enqueued == 1


def test_delays_priorities_and_a_waiting_retry_survive_a_restart(make: StoreMake, tmp_path: Path) -> None:
    log = str(tmp_path / "runs.jsonl")
    # A first "process": a retry that asks to run again 1.5 s later, then the engine closes.
    closing = Recorder()
    first = make(workers=1, max_retry=2, on_done=closing.on_done, on_failed=closing.on_failed)
    first.start()
    retried = first.enqueue(tasks.retry_later.task(log, 1.5))
    deadline = time.monotonic() + 10
    while not tasks.read_lines(log) and time.monotonic() < deadline:
        time.sleep(0.01)
    first.close()  # the retry is not due: it stays in the store, not run early, not reported
    assert closing.finished == 0
    # Stored before start() in a second "process" that never starts: priorities and a delay.
    second = make(workers=1)
    sent = time.time()
    delayed = second.enqueue(tasks.record.task(log, "delayed"), delay=1.0)
    low = second.enqueue(tasks.record.task(log, "low"), priority=-5)
    plain = second.enqueue(tasks.record.task(log, "plain"))
    high = second.enqueue(tasks.record.task(log, "high"), priority=7)
    second.close()
    # The restart: one worker runs them in priority order, each when due.
    rec = Recorder()
    third = make(workers=1, max_retry=2, results=10, on_done=rec.on_done, on_failed=rec.on_failed)
    third.start()
    assert rec.wait(5, timeout=15)
    third.close()
    rec.assert_once_each([retried, delayed, low, plain, high])
    lines = tasks.read_lines(log)
    tags = [line["tag"] for line in lines if line["tag"] in ("high", "plain", "low")]
    assert tags == ["high", "plain", "low"]
    (delayed_run,) = [line for line in lines if line["tag"] == "delayed"]
    assert float(delayed_run["t"]) >= sent + 0.95  # type: ignore[arg-type]
    retry_runs = [float(line["t"]) for line in lines if line["tag"] == "retry_later"]  # type: ignore[arg-type]
    assert len(retry_runs) == 2 and retry_runs[1] - retry_runs[0] >= 1.45
    assert type(rec.error(retried)).__name__ == "MaxRetryExceeded"
    result = third.result(retried)
    assert result is not None and result.attempts == 2 and result.status is TaskStatus.FAILED


def test_result_and_stats_answer_from_a_second_engine_on_the_same_file(make: StoreMake, store: str) -> None:
    runner = make(results=10)
    runner.start()
    done = runner.enqueue(tasks.add.task(20, 22))
    failed = runner.enqueue(tasks.fail.task("ValueError"))
    assert runner.join(10)
    waiting = runner.enqueue(tasks.add.task(1, 1), delay=60)
    reader = make(results=10)  # never started: it only reads the file
    ok, bad, later = reader.result(done), reader.result(failed), reader.result(waiting)
    assert ok is not None and (ok.status, ok.return_value, ok.attempts) == (TaskStatus.DONE, 42, 1)
    assert ok.enqueued_at <= ok.started_at <= ok.finished_at  # type: ignore[operator]
    assert bad is not None and bad.status is TaskStatus.FAILED and "a ValueError on purpose" in str(bad.error)
    assert later is not None and later.status is TaskStatus.PENDING and later.started_at is None
    assert reader.result(waiting + 1000) is None
    stats = reader.stats()
    assert (stats.enqueued, stats.done, stats.failed, stats.pending, stats.running) == (3, 1, 1, 1, 0)
    assert stats.workers == 0  # the reader runs nothing
    other = make(name="another-app")  # another engine name on the same file sees none of it
    assert other.result(done) is None and other.stats().enqueued == 0


def test_an_engine_keeps_only_results_finished_rows(make: StoreMake, store: str) -> None:
    engine = make(results=3)
    engine.start()
    ids = [engine.enqueue(tasks.add.task(i, 0)) for i in range(10)]
    assert engine.join(10)
    engine.journal.prune(engine.name, engine.results)  # what the keeper does every few seconds
    assert [row["id"] for row in rows(store)] == ids[-3:]
    assert engine.result(ids[0]) is None and engine.result(ids[-1]).return_value == 9  # type: ignore[union-attr]


def test_a_store_engine_refuses_queue_size_and_a_broker(store: str) -> None:
    with pytest.raises(ValueError, match="queue_size"):
        TasQ(store=store, queue_size=10)
    with pytest.raises(ValueError, match="store"):
        TasQ(store=store, backend="dramatiq", broker_url="stub://")
    with pytest.raises(ValueError, match="sqlite:///"):
        TasQ(store="postgres://localhost/db")
    with pytest.raises(ValueError, match="store_sync"):
        TasQ(store=store, store_sync="fast")  # type: ignore[arg-type]
