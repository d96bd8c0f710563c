"""One SQLite connection per process and role, its pragmas, its transactions, its errors.

Every transaction that writes starts with ``BEGIN IMMEDIATE``: it takes the write lock up
front, where SQLite's busy handler waits for it, instead of upgrading a read transaction
later, where SQLite answers ``database is locked`` at once whatever the timeout (the
"deadlock" case of https://www.sqlite.org/lang_transaction.html). A ``BUSY`` that gets
through anyway is retried here with a short backoff, so it never reaches a caller.

No connection crosses ``fork()``: SQLite forbids using one in the child
(https://www.sqlite.org/howtocorrupt.html, 2.6). Each handle remembers the pid that opened
it; in a child it drops the parent's connection (without closing it, which could touch the
parent's locks) and opens its own.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from ..exceptions import StoreError
from .url import SYNC_MODES, StoreSync
from .writes import STATEMENTS

__all__ = ["BUSY_PATIENCE", "Handle", "check_writable", "translate"]

T = TypeVar("T")

BUSY_TIMEOUT = 5.0  # seconds SQLite's own busy handler waits for a lock, per attempt
BUSY_PATIENCE = 60.0  # seconds a transaction keeps retrying a lock before it is an error
WAL_LIMIT = 4 * 1024 * 1024  # bytes of WAL past which it is checkpointed and truncated
PAGE_SIZE = 1024  # bytes, for a new file
WAL_CHECK_EVERY = 16  # write transactions between two looks at the WAL's size
_ABANDONED: list[sqlite3.Connection] = []  # a parent's connections, kept from the collector in a child
_HANDLES: weakref.WeakSet[Handle] = weakref.WeakSet()  # every handle of this process, for fork()


def translate(error: sqlite3.Error, path: Path) -> StoreError:
    """SQLite's error as one that says which file and what to do about it."""
    code = getattr(error, "sqlite_errorname", "")
    where = str(path)
    if code.startswith("SQLITE_CANTOPEN"):
        parent = path.resolve().parent
        if not parent.is_dir():
            return StoreError(f"cannot open the store {where}: the directory {parent} does not exist; create it", where)
        return StoreError(f"cannot open the store {where}: check that this process may read and write it", where)
    if code.startswith("SQLITE_READONLY"):
        return StoreError(f"the store {where} is read-only: let this process write it", where)
    if code.startswith("SQLITE_FULL"):
        return StoreError(f"the store {where} is full (no space left): free disk space or prune it", where)
    if code.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")):
        return StoreError(f"{where} is not a TasQ store (not an SQLite database): point store= at another file", where)
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StoreError(f"the store {where} stayed locked for {BUSY_PATIENCE:.0f} s by another process", where)
    return StoreError(f"the store {where} failed: {error}", where)


def _close_if_opened_here(connection: sqlite3.Connection, pid: int) -> None:
    if os.getpid() == pid:
        try:
            connection.close()
        except sqlite3.Error:
            pass  # closing at collection is never a caller's error


def _busy(error: sqlite3.Error) -> bool:
    return getattr(error, "sqlite_errorname", "").startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))


def _rollback(connection: sqlite3.Connection) -> None:
    if connection.in_transaction:
        try:
            connection.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # SQLite already rolled back (a full disk does that)


def _may(path: Path, mode: int) -> bool:
    return os.access(path, mode, effective_ids=os.access in os.supports_effective_ids)


def check_writable(path: Path) -> None:
    """A clear error before SQLite gives a vague one: the directory, then the files."""
    where = str(path)
    parent = path.resolve().parent
    if not parent.is_dir():
        raise StoreError(f"cannot open the store {where}: the directory {parent} does not exist; create it", where)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and not _may(file, os.R_OK | os.W_OK):
            raise StoreError(f"the store {where} is read-only ({file.name}): let this process write it", where)
    if not path.exists() and not _may(parent, os.W_OK | os.X_OK):
        raise StoreError(f"cannot create the store {where}: the directory {parent} is not writable", where)


class Handle:
    """A lazily opened connection of this process, and the lock its users take turns on."""

    def __init__(self, path: Path, sync: StoreSync, max_pages: int | None) -> None:
        self.path = path
        self._sync = SYNC_MODES[sync]
        self._max_pages = max_pages
        self._pid = os.getpid()
        self._connection: sqlite3.Connection | None = None
        self.lock = threading.Lock()  # held by the one thread using the connection
        self._wal = path.with_name(path.name + "-wal")
        self._writes = 0
        self._held_for_fork = False
        _HANDLES.add(self)

    def connection(self) -> sqlite3.Connection:
        """The connection, opened on first use; the caller holds ``lock``."""
        if self._connection is None:
            connection = self._connection = self._open()
            # A handle dropped without close() (an engine never closed) closes its connection
            # as it goes, in the process that opened it: never one a child inherited. Not at
            # interpreter exit, where the exit drain still records outcomes through it.
            weakref.finalize(self, _close_if_opened_here, connection, os.getpid()).atexit = False
        return self._connection

    def _after_fork(self) -> None:
        # A child: the parent's connection is not ours to use or close, and its lock may
        # have been held by a thread that does not exist here.
        if self._connection is not None:
            _ABANDONED.append(self._connection)
        self._connection = None
        self.lock = threading.Lock()
        self._pid = os.getpid()

    def _before_fork(self) -> None:
        # A child forked in the middle of a transaction would inherit SQLite's record of
        # the parent's locks on the file (its in-process lock and WAL-index bookkeeping),
        # and its own connection would then wait on a lock nobody in it holds, forever.
        # So fork() waits for the transaction in flight to end.
        self._held_for_fork = self._pid == os.getpid() and self.lock.acquire(timeout=BUSY_PATIENCE)

    def _after_fork_in_parent(self) -> None:
        if self._held_for_fork:
            self._held_for_fork = False
            self.lock.release()

    def _open(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=STATEMENTS + 64,  # every INSERT of writes.py, and the rest
            )
        except sqlite3.Error as error:
            raise translate(error, self.path) from error
        try:
            # Small pages: a commit writes whole pages to the WAL, and a task's row is small;
            # 1 KiB pages made a one-row commit a third faster than 4 KiB ones. Only a new
            # file takes it: the page size of a database in WAL mode is fixed.
            connection.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            connection.execute(f"PRAGMA synchronous = {self._sync}")
            connection.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT}")
            connection.execute("PRAGMA wal_autocheckpoint = 0")  # see _bound_wal
            if self._max_pages is not None:
                connection.execute(f"PRAGMA max_page_count = {int(self._max_pages)}")
        except sqlite3.Error as error:
            connection.close()
            raise translate(error, self.path) from error
        return connection

    def close(self) -> None:
        if self._pid != os.getpid():
            self._after_fork()
        with self.lock:
            if self._connection is not None:
                self._connection.close()
            self._connection = None

    def _bound_wal(self, connection: sqlite3.Connection) -> None:
        # SQLite's automatic checkpoints are PASSIVE: while other processes keep writing, none
        # of them copies the WAL to its end, so none can start it over and it grows without
        # bound ("checkpoint starvation", https://www.sqlite.org/wal.html#bigwal); and as they
        # hold the checkpoint lock in turn, a TRUNCATE checkpoint gets SQLITE_BUSY at once.
        # So automatic checkpoints are off (``_open``), and past the limit one TRUNCATE
        # checkpoint waits for the writer and the readers, copies everything, starts over.
        try:
            if self._wal.stat().st_size > WAL_LIMIT:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except (OSError, sqlite3.Error):
            pass  # the next look tries again; a checkpoint is never a caller's error

    def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` in one ``BEGIN IMMEDIATE`` transaction, committed: all of it or nothing."""
        return self._transaction(work, "BEGIN IMMEDIATE")

    def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` in one read transaction: one consistent snapshot."""
        return self._transaction(work, "BEGIN")

    def transaction_free(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` of one write statement, atomic as SQLite's autocommit makes it."""
        return self._transaction(work, None)

    def update(self, sql: str, parameters: Sequence[object]) -> int:
        """One UPDATE or DELETE in a transaction of its own: how many rows it changed."""
        return self._transaction(lambda connection: connection.execute(sql, parameters).rowcount, None)

    def _transaction(self, work: Callable[[sqlite3.Connection], T], begin: str | None) -> T:
        deadline = time.monotonic() + BUSY_PATIENCE
        delay = 0.0002
        if self._pid != os.getpid():
            self._after_fork()
        with self.lock:
            connection = self.connection()
            while True:
                try:
                    if begin is None:
                        result = work(connection)
                    else:
                        connection.execute(begin)
                        result = work(connection)
                        connection.execute("COMMIT")
                    if begin == "BEGIN":
                        return result
                    self._writes += 1
                    if self._writes % WAL_CHECK_EVERY == 0:
                        self._bound_wal(connection)
                    return result
                except sqlite3.Error as error:
                    _rollback(connection)
                    if not _busy(error) or time.monotonic() > deadline:
                        raise translate(error, self.path) from error
                except BaseException:
                    _rollback(connection)
                    raise
                time.sleep(delay)  # another process holds the lock beyond the busy handler's wait
                delay = min(delay * 2, 0.05)


def _before_fork() -> None:
    for handle in list(_HANDLES):
        handle._before_fork()


def _after_fork_in_parent() -> None:
    for handle in list(_HANDLES):
        handle._after_fork_in_parent()


def _after_fork_in_child() -> None:
    for handle in list(_HANDLES):
        handle._held_for_fork = False  # its lock is made anew on its next use (_after_fork)


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)
