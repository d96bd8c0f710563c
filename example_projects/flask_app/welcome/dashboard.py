"""Who may open the TasQ dashboard at /tasq: a demo rule, HTTP basic against the environment.

``DASHBOARD_PASSWORD`` is the password of user ``admin`` (may retry and cancel),
``DASHBOARD_VIEW_PASSWORD`` that of user ``view`` (may look). With neither set nobody gets
in. This is a demo: a real app returns the role of its own signed-in user from
``TASQ_DASHBOARD_AUTH``, any callable ``(request) -> "admin" | "view" | None``.
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from flask import Flask, Request, Response, redirect, request

MOUNT = "/tasq"
_ROLES = (("admin", "DASHBOARD_PASSWORD"), ("view", "DASHBOARD_VIEW_PASSWORD"))


def demo_auth(incoming: Request) -> str | None:
    credentials = incoming.authorization
    if credentials is None or credentials.type != "basic":
        return None
    for role, variable in _ROLES:
        expected = os.environ.get(variable)
        if expected and credentials.username == role and hmac.compare_digest(
            (credentials.password or "").encode(), expected.encode()
        ):
            return role
    return None


def add_login(app: Flask) -> None:
    """``/login``, where the dashboard sends an anonymous browser: the browser asks for the password."""

    @app.get("/login")
    def login() -> Any:
        if demo_auth(request) is None:
            challenge = {"WWW-Authenticate": 'Basic realm="TasQ dashboard", charset="UTF-8"'}
            return Response("Sign in to see the TasQ dashboard.\n", 401, challenge, mimetype="text/plain")
        wanted = request.args.get("next", "")
        return redirect(wanted if wanted.startswith(MOUNT + "/") else MOUNT + "/")  # never off this site
