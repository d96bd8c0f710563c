"""The dashboard as a function of a request: routes, access rules, actions; no framework.

A mount turns its framework's request into a ``Request`` (with the role its auth rule gave
and the CSRF check of that framework) and the ``Response`` back. Paths below the mount:

- ``GET``/``HEAD`` ``/``                      the page
- ``GET``/``HEAD`` ``/data.json``             the same data as JSON
- ``POST`` ``/tasks/<id>/retry``, ``/cancel``  the actions ("admin", CSRF token, same origin)

Anything else is 404, and only to someone who may look: without a role every path is 403
(or, for the page, the login redirect), so nobody can tell what exists.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from dataclasses import dataclass, field, replace
from typing import Protocol

from .encode import snapshot_json
from .page import render_page
from .security import HEADERS, Role, content_security_policy, same_origin
from .source import DashboardSource

__all__ = ["Csrf", "Dashboard", "Request", "Response"]

logger = logging.getLogger("tasq.dashboard")

_ACTION = re.compile(r"/tasks/([1-9][0-9]{0,17})/(retry|cancel)")
_ACTION_LIKE = re.compile(r"/tasks/[^/]*/(retry|cancel)")


class Csrf(Protocol):
    """A framework's CSRF check, as the dashboard needs it."""

    field: str  # the form field the token travels in

    def token(self) -> str: ...

    def valid(self, token: str | None) -> bool: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    method: str
    path: str  # below the mount: "", "/", "/data.json", "/tasks/12/retry"
    mount: str  # the mount's own path, for links and form actions: "/tasq"
    role: Role | None
    csrf: Csrf
    own_origin: str  # "scheme://host[:port]" this request was sent to
    origin: str | None = None
    referer: str | None = None
    fetch_site: str | None = None  # Sec-Fetch-Site
    form: dict[str, str] = field(default_factory=dict)  # the POST body's fields
    wants_json: bool = False  # Accept: application/json (the page's own script asks so)
    login_url: str | None = None  # where an anonymous browser is sent for the page, if anywhere


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


class Dashboard:
    """One dashboard: its source and what it shows.

    ``show_args=False`` keeps task arguments out of every page and JSON response (they are
    not even read). ``limit`` bounds each list shown.
    """

    def __init__(self, source: DashboardSource, *, show_args: bool = True, limit: int = 50) -> None:
        if not isinstance(source, DashboardSource):
            raise TypeError(f"source must be a DashboardSource, not {type(source).__name__}")
        if not isinstance(show_args, bool):
            raise TypeError(f"show_args must be True or False, not {show_args!r}")
        self.source = source
        self.show_args = show_args
        self.limit = limit

    def handle(self, request: Request) -> Response:
        path = request.path or "/"
        method = request.method.upper()
        if request.role is None:
            if request.login_url and method in ("GET", "HEAD") and path == "/":
                return _redirect(request.login_url)
            return _error(403, "Forbidden: sign in with an account that may see this dashboard", path)
        if path in ("/", "/data.json"):
            if method not in ("GET", "HEAD"):
                return _error(405, "Method not allowed", path, allow="GET, HEAD")
            response = self.page(request) if path == "/" else self.data()
            return response if method == "GET" else replace(response, body=b"")
        match = _ACTION.fullmatch(path)
        if match is None:
            if _ACTION_LIKE.fullmatch(path):
                return _error(404, "No such task: a task id is a positive integer", path)
            return _error(404, "Not found", path)
        if method != "POST":
            return _error(405, "Method not allowed: actions are POST only", path, allow="POST")
        return self.act(request, int(match.group(1)), match.group(2))

    def page(self, request: Request) -> Response:
        nonce = secrets.token_urlsafe(18)
        snapshot = self.source.snapshot(args=self.show_args, limit=self.limit)
        token = request.csrf.token() if request.role == "admin" else None
        body = render_page(
            snapshot, mount=request.mount, role=request.role or "view", nonce=nonce, csrf=(request.csrf.field, token)
        )
        return Response(
            status=200,
            body=body.encode(),
            content_type="text/html; charset=utf-8",
            headers=(*HEADERS, ("Content-Security-Policy", content_security_policy(nonce))),
        )

    def data(self) -> Response:
        snapshot = self.source.snapshot(args=self.show_args, limit=self.limit)
        return _json(200, snapshot_json(snapshot))

    def act(self, request: Request, task_id: int, action: str) -> Response:
        if request.role != "admin":
            return _refused(request, 403, "Forbidden: only an admin may retry or cancel")
        if not _same_origin(request):
            return _refused(request, 403, "Forbidden: the request did not come from this dashboard's own page")
        if not request.csrf.valid(request.form.get(request.csrf.field)):
            return _refused(request, 403, "Forbidden: the CSRF token is missing or wrong; reload the page")
        source = self.source
        if action == "cancel":
            if not source.can_cancel:
                return _refused(request, 501, "This engine cannot cancel a task")
            if not source.cancel(task_id):
                return _refused(request, 409, f"Task {task_id} was not cancelled: it is running, finished or unknown")
            logger.info("dashboard: task %d cancelled", task_id, extra={"task_id": task_id})
            return _done(request, {"ok": True, "task_id": task_id, "message": f"Task {task_id} cancelled"})
        if not source.can_retry:
            return _refused(request, 501, "This engine cannot retry a task")
        try:
            new_id = source.retry(task_id)
        except ValueError as error:
            return _refused(request, 409, f"Task {task_id} was not retried: {error}")
        logger.info("dashboard: task %d retried as %d", task_id, new_id, extra={"task_id": task_id})
        message = f"Task {task_id} retried as task {new_id}"
        return _done(request, {"ok": True, "task_id": task_id, "new_task_id": new_id, "message": message})


def _same_origin(request: Request) -> bool:
    return same_origin(request.own_origin, request.origin, request.referer, request.fetch_site)


def _json(status: int, payload: object) -> Response:
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    # <, > and & only ever occur inside JSON strings: escaped there, no sniffing browser or
    # careless embedding can read markup out of a task's error or arguments.
    body = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()
    return Response(status=status, body=body, content_type="application/json", headers=(*HEADERS, _NO_CONTENT_CSP))


_NO_CONTENT_CSP = ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'")


def _error(status: int, message: str, path: str, allow: str | None = None) -> Response:
    headers = (*HEADERS, _NO_CONTENT_CSP) + ((("Allow", allow),) if allow else ())
    if path == "/data.json":
        return replace(_json(status, {"error": message}), headers=headers)
    return Response(status=status, body=message.encode(), content_type="text/plain; charset=utf-8", headers=headers)


def _redirect(location: str) -> Response:
    return Response(
        status=302, body=b"", content_type="text/plain; charset=utf-8", headers=(*HEADERS, ("Location", location))
    )


def _refused(request: Request, status: int, message: str) -> Response:
    if request.wants_json:
        return _json(status, {"ok": False, "error": message})
    return _text(status, message)


def _text(status: int, message: str) -> Response:
    headers = (*HEADERS, _NO_CONTENT_CSP)
    return Response(status=status, body=message.encode(), content_type="text/plain; charset=utf-8", headers=headers)


def _done(request: Request, payload: dict[str, object]) -> Response:
    if request.wants_json:
        return _json(200, payload)
    # A form posted without the page's script: back to the page, which shows the outcome.
    return Response(
        status=303,
        body=b"",
        content_type="text/plain; charset=utf-8",
        headers=(*HEADERS, ("Location", request.mount.rstrip("/") + "/")),
    )
