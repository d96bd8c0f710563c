"""``Journal``: one SQLite file that holds every task of the engines sharing it.

The journal knows rows, not functions: it stores a task's name and JSON arguments and hands
them back to whichever process claims the row. It starts no thread and opens no file until
it is first used; after ``fork()`` the child opens its own connections.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from . import control, leases, reads, upkeep
from .commit import GroupCommit
from .connection import Handle, check_writable, translate
from .records import ClaimedTask, NewTask, Outcome, StoreStats, TaskRecord, TaskState
from .schema import check, migrate
from .url import StoreSync, check_sync, store_path
from .writes import Row, encode, insert, insert_rows, one_statement, rows_of

__all__ = ["Journal"]

# What concurrent callers hand to the one group commit: rows to insert, or outcomes of an
# owner's runs. Inserts and finishes of one group share a transaction: the writer's lock is
# taken once per group, not once per kind.
_Write = tuple[list[Row], None] | tuple[str, Sequence[Outcome]]


class Journal:
    """The durable store at ``url`` (``sqlite:///PATH``).

    ``sync``: ``"normal"`` (a commit survives any process crash) or ``"full"`` (also an OS
    crash or power loss, at an fsync per commit). ``max_pages``: an upper bound on the file's
    size in pages (``PRAGMA max_page_count``), past which a write fails as on a full disk.
    Every method raises ``StoreError`` when the file cannot be opened or written, with the
    path and what to do; nothing of that call is then stored.
    """

    def __init__(self, url: str, *, sync: StoreSync = "normal", max_pages: int | None = None) -> None:
        self.url = url
        self.path = store_path(url)
        self.sync = check_sync(sync)
        if max_pages is not None and (type(max_pages) is not int or max_pages < 1):
            raise ValueError(f"max_pages must be a positive int or None, not {max_pages!r}")
        self._writer = Handle(self.path, self.sync, max_pages)
        self._reader = Handle(self.path, self.sync, max_pages)
        self._writes: GroupCommit[_Write, list[Any]] = GroupCommit(self._write_groups)
        self._opened_in: int | None = None  # the pid that checked the schema
        self._lock = (os.getpid(), threading.Lock())
        self._owner: tuple[int, str] | None = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Journal({self.url!r}, sync={self.sync!r})"

    # -- opening ---------------------------------------------------------------------------

    def open(self) -> None:
        """Create or migrate the file, or refuse it (``StoreError``); idempotent, per process."""
        if self._opened_in == os.getpid():
            return
        with self._open_lock():
            if self._opened_in == os.getpid():
                return
            check_writable(self.path)
            self._writer.write(lambda _: None)  # opens the connection, or says why it cannot
            with self._writer.lock:
                connection = self._writer.connection()
                try:
                    check(connection, self.path)  # another application's file stays as it was
                    connection.execute("PRAGMA journal_mode = WAL")
                    migrate(connection, self.path)
                except sqlite3.Error as error:
                    raise translate(error, self.path) from error
            self._opened_in = os.getpid()

    @property
    def opened(self) -> bool:
        """Has this process opened the file (so that using it costs no check)?"""
        return self._opened_in == os.getpid()

    def _open_lock(self) -> threading.Lock:
        # A lock made in the parent may have been held by one of its threads at fork().
        pid, lock = self._lock
        if pid != os.getpid():
            pid, lock = self._lock = (os.getpid(), threading.Lock())
        return lock

    def close(self) -> None:
        """Close this process's connections; the next call opens them again."""
        self._writer.close()
        self._reader.close()
        self._opened_in = None

    @property
    def owner(self) -> str:
        """This process's name on the leases it takes: host, pid and a random part."""
        pid = os.getpid()
        owner = self._owner
        if owner is None or owner[0] != pid:
            with self._open_lock():  # threads asking at once must all get the same name
                owner = self._owner
                if owner is None or owner[0] != pid:
                    owner = self._owner = (pid, f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:8]}")
        return owner[1]

    # -- accepting -------------------------------------------------------------------------

    def add(self, tasks: Sequence[NewTask], *, owner: str | None = None, lease: float = 30.0) -> list[int]:
        """Store ``tasks``, all or none, committed before it returns; their ids, in order.

        With ``owner``, the tasks already due are stored claimed by it (attempt 1, leased
        for ``lease`` seconds): the enqueuing process runs them without a claim of its own.
        Concurrent callers share commits.
        """
        return self.insert(rows_of(tasks, owner, lease))

    def insert(self, rows: list[Row]) -> list[int]:
        """``add`` of rows made by ``tasq.store.writes.rows_of`` (whose encoded arguments the
        caller may keep): all or none, committed before it returns; their ids, in order."""
        if not rows:
            return []
        self.open()
        ids: list[int] = self._writes.submit((rows, None))
        return ids

    def add_many(self, tasks: Sequence[NewTask], *, owner: str | None = None, lease: float = 30.0) -> list[int]:
        """``add`` for a large batch: one transaction of its own, not shared with others."""
        return self.insert_many(rows_of(tasks, owner, lease))

    def insert_many(self, rows: list[Row]) -> list[int]:
        """``add_many`` of rows made by ``tasq.store.writes``: all or none, in a transaction
        of its own; their ids, in order."""
        if not rows:
            return []
        self.open()
        return self._insert_alone(rows)

    def _insert_alone(self, rows: list[Row]) -> list[int]:
        """``rows`` in a write of their own: one statement when they fit one (atomic in
        SQLite's autocommit, no BEGIN and COMMIT to step through), else one transaction."""

        def work(connection: sqlite3.Connection) -> int:
            return insert_rows(connection, rows)

        last = self._writer.transaction_free(work) if one_statement(rows) else self._writer.write(work)
        return list(range(last - len(rows) + 1, last + 1))

    # -- runs ------------------------------------------------------------------------------

    def claim(
        self, engine: str, owner: str, limit: int, now: float | None = None, lease: float = 30.0
    ) -> list[ClaimedTask]:
        """Up to ``limit`` due rows of ``engine``, highest priority first, leased to ``owner``."""
        self.open()
        at = time.time() if now is None else now
        # One UPDATE ... RETURNING is atomic on its own: no BEGIN and COMMIT to step through.
        return self._writer.transaction_free(
            lambda connection: leases.claim(connection, engine, owner, limit, at, lease)
        )

    def renew(self, owner: str, lease: float = 30.0, now: float | None = None) -> int:
        """The heartbeat: every lease ``owner`` holds now ends ``lease`` seconds from now."""
        self.open()
        until = (time.time() if now is None else now) + lease
        return self._writer.write(lambda connection: leases.renew(connection, owner, until))

    def recover(self, engine: str, now: float | None = None) -> tuple[list[int], list[int]]:
        """Runs of ``engine`` whose lease lapsed: (ids pending again, ids failed with WorkerLost).

        The lost run counted as an attempt; a row with none left, or with ``rerun_lost``
        false, fails. The caller reports the failed ones: it recorded them.
        """
        self.open()
        at = time.time() if now is None else now
        return self._writer.write(lambda connection: leases.recover(connection, engine, at))

    def finish(self, owner: str, outcomes: Sequence[Outcome]) -> list[bool]:
        """Record how runs ended (concurrent callers share commits); False for a run this
        owner no longer holds (its lease lapsed and the row was recovered): not recorded."""
        if not outcomes:
            return []
        self.open()
        recorded: list[bool] = self._writes.submit((owner, outcomes))
        return recorded

    def _write_groups(self, groups: Sequence[_Write]) -> list[list[Any]]:
        if len(groups) == 1:  # alone: one statement, its own commit, when it is one
            first, outcomes = groups[0]
            if outcomes is None:
                rows: list[Row] = first  # type: ignore[assignment]
                return [self._insert_alone(rows)]
            if outcomes is not None and len(outcomes) == 1:
                owner: str = first  # type: ignore[assignment]
                row = leases.finish_row(outcomes[0], owner, time.time())
                return [[self._writer.update(leases.FINISH, row) == 1]]
        return self._writer.write(lambda connection: _write_all(connection, groups))

    def release(self, owner: str, task_ids: Sequence[int]) -> list[int]:
        """Give back runs claimed but never started (at close): pending again, their attempt
        not counted, for this or another process to claim. The ids given back."""
        if not task_ids:
            return []
        self.open()
        return self._writer.write(lambda connection: leases.release(connection, owner, task_ids))

    def reschedule(
        self,
        owner: str,
        task_id: int,
        attempt: int,
        run_at: float,
        error_type: str | None = None,
        error_message: str | None = None,
    ) -> bool:
        """A run that asked for a retry waits in the store for ``run_at``; False if not held."""
        self.open()
        return self._writer.write(
            lambda connection: leases.reschedule(connection, owner, task_id, attempt, run_at, error_type, error_message)
        )

    # -- control ---------------------------------------------------------------------------

    def cancel(self, task_id: int) -> bool:
        """Cancel a task that has not started; False (nothing changed) for any other."""
        self.open()
        return self._writer.write(lambda connection: control.cancel(connection, task_id, time.time()))

    def cancel_claimed(self, owner: str, task_id: int, attempt: int) -> bool:
        """Cancel a run ``owner`` claimed and has not started; False if it does not hold it."""
        self.open()
        return self._writer.write(
            lambda connection: control.cancel_claimed(connection, owner, task_id, attempt, time.time())
        )

    def set_headers(self, task_id: int, headers: dict[str, str]) -> None:
        """Store the headers of a task accepted a moment ago (its hooks needed its id)."""
        text = encode(headers, "the headers")
        self.open()
        self._writer.write(lambda connection: control.set_headers(connection, task_id, text))

    def cancel_pending(self, engine: str) -> list[int]:
        """Cancel every task of ``engine`` that has not started; their ids."""
        self.open()
        return self._writer.write(lambda connection: control.cancel_pending(connection, engine, time.time()))

    def retry(self, task_id: int) -> int:
        """A failed or cancelled task again, as a new row; its id. ``ValueError`` otherwise."""
        self.open()
        return self._writer.write(lambda connection: control.retry(connection, task_id, time.time()))

    def claim_slot(self, slot: int, task: NewTask, *, owner: str | None = None) -> int | None:
        """Run ``task`` for periodic slot ``slot`` unless a process already did: its id, or None."""
        (row,) = rows_of([task], None, 0.0)
        self.open()
        who = owner or self.owner
        return self._writer.write(
            lambda connection: control.claim_slot(connection, task.engine, task.name, slot, who, row)
        )

    def take_slot(self, engine: str, name: str, slot: int, forget_before: int, *, owner: str | None = None) -> bool:
        """Win periodic slot ``slot`` (a Unix time) of ``name``; False if a process already did."""
        self.open()
        who = owner or self.owner
        return self._writer.write(
            lambda connection: control.take_slot(connection, engine, name, slot, who, time.time(), forget_before)
        )

    # -- reading ---------------------------------------------------------------------------

    def result(self, task_id: int) -> TaskRecord | None:
        self.open()
        return self._reader.read(lambda connection: reads.result(connection, task_id))

    def stats(self, engine: str) -> StoreStats:
        self.open()
        now = time.time()
        return self._reader.read(lambda connection: reads.stats(connection, engine, now))

    def listing(self, engine: str, state: TaskState, limit: int = 50) -> list[TaskRecord]:
        """Up to ``limit`` of ``engine``'s rows in ``state`` (for the dashboard)."""
        self.open()
        return self._reader.read(lambda connection: reads.listing(connection, engine, state, limit))

    def failures(self, engine: str, limit: int = 50) -> list[TaskRecord]:
        """The newest ``limit`` failed or cancelled rows of ``engine``."""
        self.open()
        return self._reader.read(lambda connection: reads.failures(connection, engine, limit))

    def recent_runs(self, engine: str, limit: int = 10_000) -> list[tuple[str, TaskState, float | None, float | None]]:
        """The newest ``limit`` finished rows: (name, state, started_at, finished_at) each."""
        self.open()
        return self._reader.read(lambda connection: reads.recent_runs(connection, engine, limit))

    def finished_among(self, task_ids: Sequence[int]) -> set[int]:
        """Which of ``task_ids`` have ended, or are no longer kept."""
        if not task_ids:
            return set()
        self.open()
        ids = list(task_ids)
        return self._reader.read(lambda connection: reads.finished_among(connection, ids))

    def next_run_at(self, engine: str) -> float | None:
        self.open()
        return self._reader.read(lambda connection: reads.next_run_at(connection, engine))

    # -- upkeep ----------------------------------------------------------------------------

    def prune(self, engine: str, keep: int) -> int:
        """Delete ``engine``'s finished rows but the newest ``keep``, then checkpoint the WAL."""
        self.open()
        deleted = self._writer.write(lambda connection: upkeep.prune(connection, engine, keep))
        self.checkpoint()
        return deleted

    def checkpoint(self) -> tuple[int, int]:
        """Checkpoint and truncate the WAL if no reader holds it: (its pages, pages copied)."""
        self.open()
        with self._writer.lock:
            return upkeep.checkpoint(self._writer.connection())


def _write_all(connection: sqlite3.Connection, groups: Sequence[_Write]) -> list[list[Any]]:
    inserts = [(index, group[0]) for index, group in enumerate(groups) if group[1] is None]
    answers: list[list[Any]] = [[] for _ in groups]
    if inserts:
        for (index, _), ids in zip(inserts, insert(connection, [rows for _, rows in inserts]), strict=True):
            answers[index] = ids
    now = time.time()
    for index, (owner, outcomes) in enumerate(groups):
        if outcomes is not None:
            answers[index] = leases.finish(connection, owner, outcomes, now)  # type: ignore[arg-type]
    return answers
