"""Help for an application's own tests: run its background tasks inline and see them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from . import lifecycle
from .engine import TasQ
from .hooks import Hooks

__all__ = ["Outcomes", "eager", "record"]


@contextmanager
def eager(*engines: TasQ, propagate: bool = False) -> Iterator[None]:
    """Run tasks inside ``enqueue``, in the caller's thread, within this block.

    With no engines named: every engine, including the ones made inside the block and
    ``tasq.default()``. With ``propagate``, a task that fails raises its error from
    ``enqueue`` (after it was reported, as always) so that a test sees it at once.
    """
    for engine in engines:
        if not isinstance(engine, TasQ):
            raise TypeError(f"eager() takes TasQ engines, not {type(engine).__name__}")
    targets = list(engines) if engines else lifecycle.open_engines()
    before = [(engine, engine.eager, engine._eager_propagate) for engine in targets]
    if not engines:
        lifecycle.push_eager(propagate)
    try:
        for engine in targets:
            engine.eager = True
            engine._eager_propagate = propagate
        yield
    finally:
        if not engines:
            lifecycle.pop_eager()
        for engine, was_eager, was_propagating in before:
            engine.eager = was_eager
            engine._eager_propagate = was_propagating


@dataclass
class Outcomes:
    """What happened to the tasks of one engine, in the order it was reported."""

    enqueued: list[int] = field(default_factory=list)
    done: dict[int, object] = field(default_factory=dict)
    failed: dict[int, BaseException] = field(default_factory=dict)
    retried: list[int] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def wait(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``count`` tasks have finished (done or failed); True if they have."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.done) + len(self.failed) >= count, timeout)


class _Recorder(Hooks):
    def __init__(self, outcomes: Outcomes) -> None:
        self.outcomes = outcomes

    def after_enqueue(self, task_id: int) -> None:
        with self.outcomes._changed:
            self.outcomes.enqueued.append(task_id)

    def after_retry(self, task_id: int, error: BaseException) -> None:
        with self.outcomes._changed:
            self.outcomes.retried.append(task_id)

    def after_done(self, task_id: int, return_value: object) -> None:
        with self.outcomes._changed:
            self.outcomes.done[task_id] = return_value
            self.outcomes._changed.notify_all()

    def after_failed(self, task_id: int, error: BaseException) -> None:
        with self.outcomes._changed:
            self.outcomes.failed[task_id] = error
            self.outcomes._changed.notify_all()


def record(engine: TasQ) -> Outcomes:
    """Record every outcome of ``engine`` (before it starts): return values and errors by id."""
    outcomes = Outcomes()
    engine.add_hooks(_Recorder(outcomes))
    return outcomes
