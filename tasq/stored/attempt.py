"""One claimed run, from its row to its one recorded and reported outcome.

The function is found by the row's name and its arguments loaded from the row's JSON here,
where it runs: a row that no longer matches the code fails alone, with ``TaskNotFound``.
The attempt runs through the executor (hooks, time limit, ``RetryTask`` against
``max_retry``); a retry is put back in the store to wait for its next attempt.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ..backends.execution import Executor
from ..backends.payload import TaskMessage
from ..exceptions import TaskNotFound
from ..store import ClaimedTask
from .ledger import REPORT_ONLY
from .lookup import Found

if TYPE_CHECKING:
    from ..engine import TasQ
    from .runner import Runner

__all__ = ["report_recorded", "run_claimed"]


def run_claimed(runner: Runner, run: ClaimedTask, found: Found | None) -> bool:
    """Run one claimed attempt; False when it was put back to wait for its next one."""
    engine = runner.engine
    if found is None:
        found = engine.lookup.find(run.name)
    message = TaskMessage(
        id=run.id,
        name=run.name,
        args=[],
        kwargs={},
        engine=engine.name,
        attempt=run.attempt,
        max_retry=run.max_retry,
        retry_delay=run.retry_delay,
        results=engine.results,
        producer=runner.owner,
        headers=_headers(run.headers),
    )
    executor = runner.executor
    if found is None:
        why = f"no task named {run.name!r} can be found in this process (renamed or deleted?)"
        executor.fail(runner.ledger, message, TaskNotFound(why))
        return True
    try:
        args = json.loads(run.args)
        kwargs = json.loads(run.kwargs)
        if type(args) is not list or type(kwargs) is not dict:
            raise ValueError("not a list and an object")
    except ValueError as bad:
        executor.fail(runner.ledger, message, TaskNotFound(f"the arguments of task {run.id} no longer load: {bad}"))
        return True
    fn, options = found
    attempt = executor.begin(runner.ledger, message, options)
    if attempt is None:
        return True
    error: BaseException | None = None
    try:
        executor.run(attempt, fn, args, kwargs)
    except BaseException as raised:  # noqa: BLE001 - a task's exception is its outcome
        error = raised
    delay = executor.settle(attempt, error)
    if delay is None:
        return True
    runner._put_back(run, delay, error)
    return False


def report_recorded(
    engine: TasQ, executor: Executor, owner: str, task_id: int, name: str, error: BaseException
) -> None:
    """Report an outcome this process recorded outside a run (a cancel, a lost run)."""
    message = TaskMessage(
        id=task_id,
        name=name,
        args=[],
        kwargs={},
        engine=engine.name,
        max_retry=1,
        retry_delay=None,
        results=engine.results,
        producer=owner,
    )
    executor.fail(REPORT_ONLY, message, error)


def _headers(text: str) -> dict[str, str]:
    if text == "{}":
        return {}
    try:
        headers = json.loads(text)
    except ValueError:
        return {}
    return headers if isinstance(headers, dict) else {}
