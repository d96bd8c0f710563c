"""The Redis URLs the backends take, and the form each client library wants.

Over TCP: ``redis://host:port/db`` and ``rediss://`` (TLS). Over a Unix socket, either
spelling: redis-py's ``unix:///path/to/redis.sock?db=N`` or kombu's (Celery's)
``redis+socket:///path/to/redis.sock?virtual_host=N``. redis-py (Dramatiq, the ledger)
is given the first, kombu the second; a password (``unix://:secret@/path``) and the other
query parameters go through as they are.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

__all__ = ["SCHEMES", "SOCKET_SCHEMES", "check", "for_kombu", "for_redis_py", "is_redis", "is_socket"]

TCP_SCHEMES = ("redis", "rediss")
SOCKET_SCHEMES = ("unix", "redis+socket")
SCHEMES = TCP_SCHEMES + SOCKET_SCHEMES


def is_redis(url: str) -> bool:
    return urlsplit(url).scheme in SCHEMES


def is_socket(url: str) -> bool:
    return urlsplit(url).scheme in SOCKET_SCHEMES


def check(url: str) -> None:
    """A Unix socket URL without the socket's path: ValueError (at configuration, not at connect)."""
    parts = urlsplit(url)
    if parts.scheme in SOCKET_SCHEMES and not parts.path.strip("/"):
        raise ValueError(f"a Unix socket URL needs the socket's path: {parts.scheme}:///path/to/redis.sock")


def for_redis_py(url: str) -> str:
    """``redis+socket:///path?virtual_host=N`` as ``unix:///path?db=N``; others unchanged."""
    return _socket_url(url, "unix", "virtual_host", "db") if urlsplit(url).scheme == "redis+socket" else url


def for_kombu(url: str) -> str:
    """``unix:///path?db=N`` as ``redis+socket:///path?virtual_host=N``; others unchanged."""
    return _socket_url(url, "redis+socket", "db", "virtual_host") if urlsplit(url).scheme == "unix" else url


def _socket_url(url: str, scheme: str, db_from: str, db_to: str) -> str:
    parts = urlsplit(url)
    check(url)
    query = urlencode(
        [(db_to if key == db_from else key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True)]
    )
    return f"{scheme}://{parts.netloc}{parts.path}" + (f"?{query}" if query else "")
