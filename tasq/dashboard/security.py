"""Who may look and who may act: roles, CSRF tokens bound to a session, same-origin checks.

Every response of a dashboard carries ``HEADERS`` (and a CSP with a fresh nonce): nothing
is framed, sniffed, cached or sent as a referrer to another site.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import logging
import secrets
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = [
    "HEADERS",
    "Auth",
    "Role",
    "SessionCsrf",
    "arole_of",
    "as_role",
    "check_auth",
    "content_security_policy",
    "csrf_key",
    "new_session_secret",
    "origin",
    "role_of",
    "same_origin",
]

logger = logging.getLogger("tasq.dashboard")

Role = Literal["admin", "view"]
Auth = Callable[[Any], "Role | None"]  # (the framework's request) -> "admin" | "view" | None

HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)


def content_security_policy(nonce: str) -> str:
    """Only this response's own script and style run; nothing loads from anywhere else."""
    return (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
        "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


def check_auth(auth: object, where: str) -> Auth:
    """The auth callable a mount was given, or the error that says why it cannot mount."""
    if auth is None:
        raise ValueError(
            f"{where}: the dashboard needs an auth callable, (request) -> 'admin' | 'view' | None;"
            " nobody gets in by default"
        )
    if not callable(auth):
        raise TypeError(f"{where}: auth must be a callable (request) -> 'admin' | 'view' | None, not {auth!r}")
    return auth


def role_of(auth: Auth, request: object) -> Role | None:
    """What ``auth`` says of ``request``; anything but "admin" or "view" (or an error) lets nobody in."""
    try:
        role: object = auth(request)
    except Exception:
        logger.exception("the dashboard's auth callable raised: access refused", extra={"task_id": None})
        return None
    return as_role(role)


async def arole_of(auth: Auth, request: object) -> Role | None:
    """``role_of`` for an ASGI app: ``auth`` may also be a coroutine function."""
    try:
        role: object = auth(request)
        if inspect.isawaitable(role):
            role = await role
    except Exception:
        logger.exception("the dashboard's auth callable raised: access refused", extra={"task_id": None})
        return None
    return as_role(role)


def as_role(role: object) -> Role | None:
    """An auth callable's answer as a role; anything unexpected is no role at all."""
    if role == "admin" or role == "view":
        return role
    if role is not None:
        logger.error(
            "the dashboard's auth callable returned %r, not 'admin', 'view' or None: access refused",
            role,
            extra={"task_id": None},
        )
    return None


def new_session_secret() -> str:
    return secrets.token_urlsafe(32)


def csrf_key(secret: str | bytes) -> bytes:
    """The dashboard's own key, derived from an app's secret so that it serves no other use."""
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    if not raw:
        raise ValueError("the app's secret key is empty")
    return hmac.new(raw, b"tasq.dashboard.csrf", hashlib.sha256).digest()


class SessionCsrf:
    """A CSRF token bound to one session: HMAC-SHA256 of the session's secret under a key.

    The session's secret is random per session and kept where the framework keeps the
    session (Flask's session, a dashboard cookie under Starlette); the key is the app's
    secret, so the token holds across the processes of one app.
    """

    __slots__ = ("_token",)

    field = "csrf_token"

    def __init__(self, key: bytes, session_secret: str) -> None:
        if not key:
            raise ValueError("a CSRF key must not be empty")
        self._token = hmac.new(key, session_secret.encode(), hashlib.sha256).hexdigest()

    def token(self) -> str:
        return self._token

    def valid(self, token: str | None) -> bool:
        return isinstance(token, str) and hmac.compare_digest(token.encode(), self._token.encode())


def same_origin(own_origin: str, origin: str | None, referer: str | None, fetch_site: str | None) -> bool:
    """True when the browser says the request comes from ``own_origin`` (``scheme://host[:port]``).

    ``Sec-Fetch-Site`` when sent, then ``Origin``, then ``Referer``; a request that carries
    none of them is refused (every browser sends ``Origin`` on a POST).
    """
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    own_origin = _origin_of(own_origin)
    if not own_origin:
        return False
    if origin is not None:  # "null" (a sandboxed frame, a data: page) is no origin of ours
        return origin != "null" and _origin_of(origin) == own_origin
    if referer:
        return _origin_of(referer) == own_origin
    return False


def _origin_of(url: str) -> str:
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return ""
    host = parts.hostname or ""
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    try:
        port = parts.port
    except ValueError:
        return ""
    netloc = host if port is None or port == default else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}".lower()


def origin(scheme: str, host: str) -> str:
    """``scheme://host`` as ``same_origin`` compares it, the default port dropped."""
    return _origin_of(f"{scheme}://{host}")
