"""The demo sign-in of the Starlette and FastAPI examples' dashboard at /tasq.

HTTP basic against the environment: user "admin" with ``DASHBOARD_PASSWORD`` may retry and
cancel, user "view" with ``DASHBOARD_VIEW_PASSWORD`` may look; with neither set nobody gets
in. This is a demo: a real app returns the role of its own signed-in user from ``auth=``.

Both apps mount ``dashboard(engine, auth=demo_auth, login_url="/login")`` at ``DASHBOARD``
and route ``/login`` to ``login``; FastAPI's ``Request`` is Starlette's.
"""

from __future__ import annotations

import base64
import hmac
import os

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

__all__ = ["DASHBOARD", "demo_auth", "login"]

DASHBOARD = "/tasq"
_ROLES = (("admin", "DASHBOARD_PASSWORD"), ("view", "DASHBOARD_VIEW_PASSWORD"))


def demo_auth(request: Request) -> str | None:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    for role, variable in _ROLES:
        expected = os.environ.get(variable)
        if expected and user == role and hmac.compare_digest(password.encode(), expected.encode()):
            return role
    return None


async def login(request: Request) -> Response:
    """Where the dashboard sends an anonymous browser: the browser asks for the password."""
    if demo_auth(request) is None:
        challenge = {"WWW-Authenticate": 'Basic realm="TasQ dashboard", charset="UTF-8"'}
        return PlainTextResponse("Sign in to see the TasQ dashboard.\n", 401, challenge)
    wanted = request.query_params.get("next", "")
    return RedirectResponse(wanted if wanted.startswith(DASHBOARD + "/") else DASHBOARD + "/", 303)
