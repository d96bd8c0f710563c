"""In memory: one process of the app on this machine holds the schedule, by an OS file lock.

Each engine name has a lock file, ``<dir>/<engine name>.lock``, where ``<dir>`` is
``$TASQ_PERIODIC_DIR`` or else ``<tempdir>/tasq-<uid>``: a directory every process of the
app shares (gunicorn's workers, a ``tasq worker``), private to the user. The process that
holds ``flock(LOCK_EX)`` on it runs the schedule; the others try again about once a second.
The kernel releases the lock when its holder dies, however it dies (SIGKILL, OOM killer),
so another process takes over within a second.

The holder records the last slot it claimed per task in ``<engine name>.slots`` (JSON,
replaced atomically), and a new holder reads it first: a slot the dead holder claimed is
not run again by the next one.
"""

from __future__ import annotations

import fcntl
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["FileLock", "lock_directory"]

logger = logging.getLogger(__name__)


def lock_directory() -> Path:
    """Where the lock files are: ``$TASQ_PERIODIC_DIR``, else ``<tempdir>/tasq-<uid>``."""
    import tempfile  # here, not at import: importing tasq stays light

    configured = os.environ.get("TASQ_PERIODIC_DIR")
    return Path(configured) if configured else Path(tempfile.gettempdir()) / f"tasq-{os.getuid()}"


class FileLock:
    """The schedule's lock for one engine name, and the slots its holders claimed (a ``SlotClaim``).

    Not thread-safe: one ticker thread owns it.
    """

    def __init__(self, engine: str, directory: Path | None = None) -> None:
        from urllib.parse import quote

        self.directory = directory if directory is not None else lock_directory()
        stem = quote(engine, safe="")  # any engine name makes one safe file name
        self.path = self.directory / f"{stem}.lock"
        self.slots_path = self.directory / f"{stem}.slots"
        self._fd: int | None = None
        self._last: dict[str, datetime] = {}

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lock if nobody holds it (never blocks); True if this process holds it."""
        if self._fd is not None:
            return True
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        owner = self.directory.stat().st_uid
        if owner != os.getuid():  # a shared temp dir: someone else's directory is not ours to trust
            raise PermissionError(f"{self.directory} belongs to uid {owner}, not to this user: set TASQ_PERIODIC_DIR")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # who holds it, for a person looking
        self._last = self._read_slots()
        logger.info("this process (%d) now runs the schedule of %s", os.getpid(), self.path, extra={"task_id": None})
        return True

    def release(self) -> None:
        """Let another process take over at once."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the last descriptor releases the lock

    def forget_after_fork(self) -> None:
        """In a forked child: drop the parent's descriptor without releasing the parent's lock.

        A forked child shares the parent's open file, and with it the lock: LOCK_UN here would
        release it for the parent too. Closing only the child's copy leaves the parent holding it.
        """
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def claim(self, engine: str, task: str, slot: datetime, keep_until: datetime) -> bool:
        """True if this process holds the lock and no holder has claimed ``slot`` or a later one."""
        if self._fd is None:
            return False
        last = self._last.get(task)
        if last is not None and slot <= last:
            return False
        self._last[task] = slot
        self._write_slots()
        return True

    def _read_slots(self) -> dict[str, datetime]:
        import json

        try:
            recorded = json.loads(self.slots_path.read_text())
            return {task: datetime.fromisoformat(value).astimezone(UTC) for task, value in recorded.items()}
        except FileNotFoundError:
            return {}
        except (ValueError, TypeError, AttributeError, OSError) as error:
            logger.warning("ignoring unreadable %s (%s)", self.slots_path, error, extra={"task_id": None})
            return {}

    def _write_slots(self) -> None:
        import json

        text = json.dumps({task: slot.isoformat() for task, slot in self._last.items()})
        temporary = self.slots_path.with_name(f"{self.slots_path.name}.{os.getpid()}")
        temporary.write_text(text)
        os.replace(temporary, self.slots_path)  # readers see the old file or the new, never half
