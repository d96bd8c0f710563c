"""Which file a ``store=`` URL names, and how hard its commits are pushed to disk.

``sqlite:///relative/path.db`` and ``sqlite:////absolute/path.db`` (SQLAlchemy's spelling:
three slashes, then the path) are the only forms; anything else is a ``ValueError`` that
shows the form, at configuration time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

__all__ = ["SCHEME", "SYNC_MODES", "StoreSync", "check_sync", "store_path"]

SCHEME = "sqlite:///"
StoreSync = Literal["normal", "full"]
# How SQLite's ``synchronous`` pragma is set for each: in WAL mode, NORMAL survives any
# process crash (a commit is in the WAL, in the OS's cache, before it returns) and FULL also
# an OS crash or power loss (an fsync of the WAL at every commit).
SYNC_MODES: dict[str, str] = {"normal": "NORMAL", "full": "FULL"}


def store_path(url: object) -> Path:
    """The file a ``sqlite:///PATH`` URL names; a clear ``ValueError`` for anything else."""
    if not isinstance(url, str):
        raise TypeError(f"store must be a 'sqlite:///PATH' string or None, not {type(url).__name__}")
    if not url.startswith(SCHEME):
        raise ValueError(f"store must look like 'sqlite:///path/to/tasq.db' (sqlite:/// then the file), not {url!r}")
    path = url.removeprefix(SCHEME)
    if "?" in path or "#" in path:
        raise ValueError(f"store takes no query or fragment: {url!r}; use store_sync= for the sync mode")
    if not path or path.endswith("/") or path == ":memory:":
        raise ValueError(f"store needs a file name after 'sqlite:///' (a durable store is a file): {url!r}")
    return Path(path)


def check_sync(sync: object) -> StoreSync:
    if sync not in SYNC_MODES:
        raise ValueError(f"store_sync must be 'normal' or 'full', not {sync!r}")
    return sync  # type: ignore[return-value]
