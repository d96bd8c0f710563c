"""The group commit TasQ did not choose, kept to be measured beside the one it did: one
writer thread drains a queue of producers' rows and commits what it found in one
transaction (huey's and persist-queue's shape, with batching)."""

from __future__ import annotations

import _thread
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

from tasq.store import Journal
from tasq.store.writes import Row, insert


class WriterThread:
    """``submit(rows)`` returns the rows' ids once the writer thread has committed them."""

    def __init__(self, journal: Journal) -> None:
        journal.open()
        self._journal = journal
        self._queue: queue.SimpleQueue[tuple[list[Row], list[Any]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="tasq-store-writer", daemon=True)
        self._thread.start()

    def submit(self, rows: list[Row]) -> list[int]:
        wake = _thread.allocate_lock()
        wake.acquire()
        answer: list[Any] = [wake, None, None]
        self._queue.put((rows, answer))
        wake.acquire()
        if answer[2] is not None:
            raise answer[2]
        return answer[1]  # type: ignore[no-any-return]

    def _run(self) -> None:
        write: Callable[[Sequence[list[Row]]], list[list[int]]] = lambda groups: self._journal._writer.write(  # noqa: E731
            lambda connection: insert(connection, groups)
        )
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while True:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            try:
                answers = write([rows for rows, _ in batch])
                for (_, answer), ids in zip(batch, answers, strict=True):
                    answer[1] = ids
            except Exception as error:
                for _, answer in batch:
                    answer[2] = error
            for _, answer in batch:
                answer[0].release()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
