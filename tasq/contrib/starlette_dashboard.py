"""Starlette / FastAPI: the dashboard as an ASGI app, ``app.mount("/tasq", dashboard(engine, auth=...))``.

The CSRF token is an HMAC, under ``secret_key``, of a random secret in the dashboard's own
cookie ``tasq_session`` (HttpOnly, SameSite=Strict, scoped to the mount's path): that cookie
identifies the browser's session with the dashboard.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, quote

import anyio.to_thread
from starlette.requests import Request as StarletteRequest
from starlette.types import Receive, Scope, Send

from ..dashboard import Dashboard, DashboardSource, Request, SessionCsrf, source_for
from ..dashboard.security import arole_of, check_auth, csrf_key, new_session_secret, origin
from ..engine import TasQ

__all__ = ["DashboardApp", "dashboard"]

_COOKIE = "tasq_session"
_LONGEST_BODY = 16 * 1024  # an action's form is one token


def dashboard(
    engine: TasQ | DashboardSource,
    *,
    auth: Callable[[StarletteRequest], Any] | None = None,
    show_args: bool = True,
    login_url: str | None = None,
    secret_key: str | bytes | None = None,
) -> DashboardApp:
    """The dashboard of ``engine`` as an ASGI app; make it before the engine starts.

    ``auth``: ``(request) -> "admin" | "view" | None`` (or a coroutine function returning one),
    required. ``show_args=False`` keeps task arguments out of the page and the JSON.
    ``login_url``: where an anonymous browser is sent (otherwise 403). ``secret_key`` keys the
    CSRF tokens; default ``$TASQ_DASHBOARD_SECRET``, else a random key per process, which is
    right for one process only: give the same key to every process of the app.
    """
    checked = check_auth(auth, "tasq.contrib.starlette.dashboard(auth=...)")
    key = secret_key if secret_key is not None else os.environ.get("TASQ_DASHBOARD_SECRET") or os.urandom(32)
    return DashboardApp(Dashboard(source_for(engine), show_args=show_args), checked, csrf_key(key), login_url)


class DashboardApp:
    """The ASGI app ``dashboard()`` returns."""

    def __init__(self, core: Dashboard, auth: Callable[[StarletteRequest], Any], key: bytes, login_url: str | None):
        self.core = core
        self.auth = auth
        self.key = key
        self.login_url = login_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # served on its own, not mounted
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        request = StarletteRequest(scope, receive)
        role = await arole_of(self.auth, request)
        root = scope.get("root_path", "")
        path = scope["path"]
        if root and path.startswith(root):  # Starlette keeps the full path in scope["path"]
            path = path[len(root) :]
        secret = request.cookies.get(_COOKIE)
        fresh = None if secret else new_session_secret()
        form: dict[str, str] = {}
        if request.method == "POST" and role is not None:
            body = await _body(request)
            form = dict(parse_qsl(body.decode("latin-1"))) if body is not None else {}
        core_request = Request(
            method=request.method,
            path=path or "/",
            mount=root,
            role=role,
            csrf=_CookieCsrf(self.key, secret, fresh),
            own_origin=origin(scope.get("scheme", "http"), request.headers.get("host", "")),
            origin=request.headers.get("origin"),
            referer=request.headers.get("referer"),
            fetch_site=request.headers.get("sec-fetch-site"),
            form=form,
            wants_json="application/json" in request.headers.get("accept", ""),
            login_url=f"{self.login_url}?next={quote(str(request.url.path))}" if self.login_url else None,
        )
        answer = await anyio.to_thread.run_sync(self.core.handle, core_request)
        headers = [(name.lower().encode(), value.encode()) for name, value in answer.headers]
        headers += [(b"content-type", answer.content_type.encode()), (b"vary", b"Cookie")]
        if fresh is not None and role is not None:
            cookie = SimpleCookie()
            cookie[_COOKIE] = fresh
            morsel = cookie[_COOKIE]
            morsel["path"] = root or "/"  # "/tasq" matches "/tasq" and "/tasq/...", not "/tasqx"
            morsel["httponly"] = True
            morsel["samesite"] = "Strict"
            morsel["secure"] = scope.get("scheme") == "https"
            headers.append((b"set-cookie", morsel.OutputString().encode()))
        body = b"" if request.method == "HEAD" else answer.body
        headers.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _body(request: StarletteRequest) -> bytes | None:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _LONGEST_BODY:
            return None
    return body


class _CookieCsrf:
    field = SessionCsrf.field

    def __init__(self, key: bytes, secret: str | None, fresh: str | None) -> None:
        self.key, self.secret, self.fresh = key, secret, fresh

    def token(self) -> str:
        # A new session's first page carries the token of the cookie it sets.
        return SessionCsrf(self.key, self.secret or self.fresh or "").token()

    def valid(self, token: str | None) -> bool:
        return bool(self.secret) and SessionCsrf(self.key, self.secret or "").valid(token)
