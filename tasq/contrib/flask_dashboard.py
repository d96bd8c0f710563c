"""Flask: the dashboard as a blueprint, mounted when ``TASQ_DASHBOARD`` names its path.

``TASQ_DASHBOARD = "/tasq"``, ``TASQ_DASHBOARD_AUTH`` a callable ``(flask.request) -> "admin" |
"view" | None`` (required: nobody gets in by default), ``TASQ_DASHBOARD_SHOW_ARGS`` (True),
``TASQ_DASHBOARD_LOGIN_URL`` (where an anonymous browser is sent; otherwise 403).

The CSRF token is an HMAC, under a key derived from ``app.secret_key``, of a random secret kept
in the Flask session (``session["_tasq_csrf"]``): the session identifies the user's browser,
and a token is good for that session only.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, Flask, Response, request, session

from ..dashboard import Auth, Dashboard, DashboardSource, Request, SessionCsrf, source_for
from ..dashboard.security import check_auth, csrf_key, new_session_secret, origin, role_of
from ..engine import TasQ

__all__ = ["DASHBOARD_KEYS", "init_dashboard", "mount_dashboard"]

# app.config key -> default; TASQ_DASHBOARD_AUTH has none on purpose.
DASHBOARD_KEYS: dict[str, object] = {
    "TASQ_DASHBOARD": None,
    "TASQ_DASHBOARD_AUTH": None,
    "TASQ_DASHBOARD_SHOW_ARGS": True,
    "TASQ_DASHBOARD_LOGIN_URL": None,
}
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_SESSION_KEY = "_tasq_csrf"


def init_dashboard(app: Flask, engine: TasQ | DashboardSource) -> Blueprint | None:
    """Mount ``engine``'s dashboard on ``app`` if ``TASQ_DASHBOARD`` is set; the blueprint, or None.

    Call it before the engine starts (``init_app`` does), so that it sees every task.
    """
    prefix = app.config.get("TASQ_DASHBOARD")
    if not prefix:
        return None
    return mount_dashboard(
        app,
        engine,
        prefix=prefix,
        auth=check_auth(app.config.get("TASQ_DASHBOARD_AUTH"), f"app {app.name!r}, TASQ_DASHBOARD_AUTH"),
        show_args=app.config.get("TASQ_DASHBOARD_SHOW_ARGS", True),
        login_url=app.config.get("TASQ_DASHBOARD_LOGIN_URL"),
    )


def mount_dashboard(
    app: Flask,
    engine: TasQ | DashboardSource,
    *,
    prefix: str,
    auth: Auth | None,
    show_args: bool = True,
    login_url: str | None = None,
) -> Blueprint:
    """A dashboard of ``engine`` at ``prefix``, with these settings rather than the config's."""
    if not isinstance(prefix, str) or not prefix.startswith("/") or prefix.rstrip("/") == "":
        raise ValueError(f'app {app.name!r}, TASQ_DASHBOARD: a path such as "/tasq", not {prefix!r}')
    auth = check_auth(auth, f"app {app.name!r}, TASQ_DASHBOARD_AUTH")
    if not isinstance(show_args, bool):
        raise TypeError(f"app {app.name!r}, TASQ_DASHBOARD_SHOW_ARGS must be True or False, not {show_args!r}")
    if not app.secret_key:
        raise ValueError(f"app {app.name!r}: the TasQ dashboard needs app.secret_key for its CSRF tokens")
    dashboard = Dashboard(source_for(engine), show_args=show_args)
    mount = prefix.rstrip("/")

    def serve(rest: str = "") -> Response:
        csrf = _FlaskCsrf(csrf_key(app.secret_key or ""))
        answer = dashboard.handle(
            Request(
                method=request.method,
                path="/" + rest,
                mount=request.script_root + mount,
                role=role_of(auth, request),
                csrf=csrf,
                own_origin=origin(request.scheme, request.host),
                origin=request.headers.get("Origin"),
                referer=request.headers.get("Referer"),
                fetch_site=request.headers.get("Sec-Fetch-Site"),
                form=request.form.to_dict() if request.method == "POST" else {},
                wants_json="application/json" in request.headers.get("Accept", ""),
                login_url=_login(login_url),
            )
        )
        response = Response(answer.body, status=answer.status, content_type=answer.content_type)
        for name, value in answer.headers:
            response.headers[name] = value
        response.vary.add("Cookie")
        return response

    blueprint = Blueprint("tasq_dashboard" + mount.replace("/", "_"), __name__)
    rule: dict[str, Any] = {"view_func": serve, "methods": _METHODS, "provide_automatic_options": False}
    blueprint.add_url_rule("", endpoint="page", strict_slashes=False, **rule)
    blueprint.add_url_rule("/<path:rest>", endpoint="path", **rule)
    app.register_blueprint(blueprint, url_prefix=mount)
    return blueprint


def _login(login_url: object) -> str | None:
    if not login_url:
        return None
    separator = "&" if "?" in str(login_url) else "?"
    return f"{login_url}{separator}next={quote(request.full_path.rstrip('?'))}"


class _FlaskCsrf:
    """The token of this Flask session; the session's secret is made when a token is first shown."""

    field = SessionCsrf.field

    def __init__(self, key: bytes) -> None:
        self.key = key

    def token(self) -> str:
        secret = session.get(_SESSION_KEY)
        if not isinstance(secret, str):
            secret = session[_SESSION_KEY] = new_session_secret()
        return SessionCsrf(self.key, secret).token()

    def valid(self, token: str | None) -> bool:
        secret = session.get(_SESSION_KEY)
        return isinstance(secret, str) and SessionCsrf(self.key, secret).valid(token)
