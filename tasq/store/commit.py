"""Group commit: concurrent callers' writes committed together, in one transaction.

The first caller to arrive leads: it commits its own write and every write queued behind
it while it waited for the database, then hands the lead to the first caller that queued
after that (LevelDB's writer queue, ``DBImpl::Write``). Alone, a caller commits in its own
thread with no hand-off; under load, N callers share one commit instead of queueing for N.
A writer thread draining a queue was measured against this (benchmarks/bench_store.py):
it costs two thread switches per call when there is no contention, and one producer is
the common case.

If the shared transaction fails, each write is tried again in a transaction of its own,
so that one caller's error (a row the database refuses) never becomes another's.
"""

from __future__ import annotations

import _thread
import os
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from ..exceptions import StoreError

__all__ = ["GroupCommit"]

ROUNDS = 8  # groups one leader commits before it hands the lead on

In = TypeVar("In")
Out = TypeVar("Out")


class _Waiter(Generic[In, Out]):
    __slots__ = ("done", "error", "item", "result", "wake")

    def __init__(self, item: In) -> None:
        self.item = item
        self.result: Out | None = None
        self.error: BaseException | None = None
        self.done = False
        self.wake = _thread.allocate_lock()  # a bare lock, acquired: the cheapest one-shot signal
        self.wake.acquire()


class GroupCommit(Generic[In, Out]):
    """``submit(item)`` returns ``write([item, ...])``'s answer for that item, once committed.

    ``write`` gets the items of every caller in the group, commits them in one transaction,
    and returns one answer per item, in order; it raises if nothing was committed.
    """

    def __init__(self, write: Callable[[Sequence[In]], Sequence[Out]]) -> None:
        self._write = write
        self._mutex = threading.Lock()
        self._queue: list[_Waiter[In, Out]] = []
        self._pid = os.getpid()

    def submit(self, item: In) -> Out:
        if self._pid != os.getpid():  # a child: the parent's queue and lock are not ours
            self._mutex, self._queue, self._pid = threading.Lock(), [], os.getpid()
        waiter: _Waiter[In, Out] = _Waiter(item)
        with self._mutex:
            self._queue.append(waiter)
            leading = len(self._queue) == 1
        if not leading:
            waiter.wake.acquire()  # released when committed, or when the lead passes here
        if not waiter.done:
            self._lead()
        if waiter.error is not None:
            raise waiter.error
        return waiter.result  # type: ignore[return-value]

    def _lead(self) -> None:
        # The leader goes on committing while callers queue behind it, up to ROUNDS groups:
        # handing the lead to a sleeping thread would leave the database idle until that
        # thread is scheduled, which under load takes longer than a commit.
        with self._mutex:
            group = self._queue[:]  # the leader first, then whoever queued behind it
        leader = group[0]
        for rounds in range(1, ROUNDS + 1):
            try:
                self._commit(group)
            except BaseException:
                self._settle(group, leader, hand_over=True)
                raise
            group = self._settle(group, leader, hand_over=rounds == ROUNDS)
            if not group:
                return

    def _settle(
        self, group: list[_Waiter[In, Out]], leader: _Waiter[In, Out], hand_over: bool
    ) -> list[_Waiter[In, Out]]:
        """Wake the group's callers; the callers queued since, for the leader to go on with
        (none when it hands over: then the first of them leads)."""
        with self._mutex:
            del self._queue[: len(group)]
            following = self._queue[:]
        for waiter in group:
            if not waiter.done:  # the leader was interrupted before it could say
                waiter.error = StoreError("the commit was interrupted; nothing was stored", "")
                waiter.done = True
            if waiter is not leader:
                waiter.wake.release()
        if following and hand_over:
            following[0].wake.release()
            return []
        return following

    def _commit(self, group: list[_Waiter[In, Out]]) -> None:
        try:
            results = self._write([waiter.item for waiter in group])
        except Exception as error:  # noqa: BLE001 - handed to the caller whose write it was
            if len(group) == 1:
                group[0].error, group[0].done = error, True
                return
            for waiter in group:  # one at a time: whose write was it?
                try:
                    waiter.result = self._write([waiter.item])[0]
                except Exception as own:  # noqa: BLE001 - handed to its caller
                    waiter.error = own
                waiter.done = True
            return
        for waiter, result in zip(group, results, strict=True):
            waiter.result, waiter.done = result, True
