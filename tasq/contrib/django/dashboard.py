"""The dashboard view: Django's auth decides who looks (staff) and who acts, Django's CSRF guards.

Staff users may look; a superuser, or a staff user with the ``tasq.change_task`` permission,
may also retry and cancel. Anonymous browsers are sent to ``settings.LOGIN_URL``; everyone
else without a role gets 403. Actions pass Django's own CSRF check (``csrf_protect``: the
token of the ``csrftoken`` cookie, or of the session with ``CSRF_USE_SESSIONS``) and the
dashboard's same-origin check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.urls import URLPattern, re_path
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_protect

from ...dashboard import Dashboard, DashboardSource, Request, Role, source_for
from ...dashboard.security import HEADERS, origin
from . import get_engine
from .conf import dashboard_option

__all__ = ["dashboard_urls", "role_of_user"]


def role_of_user(user: Any) -> Role | None:
    """What a Django user may do with the dashboard."""
    if user is None or not user.is_authenticated or not user.is_active or not user.is_staff:
        return None
    if user.is_superuser or user.has_perm("tasq.change_task"):
        return "admin"
    return "view"


def dashboard_urls(source: DashboardSource | None = None, *, show_args: bool | None = None) -> list[URLPattern]:
    """The URL patterns of a dashboard of ``source`` (default: this process's engine)."""

    def dashboard_view(request: HttpRequest, rest: str) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is None:
            raise ImproperlyConfigured("the TasQ dashboard needs django.contrib.auth's AuthenticationMiddleware")
        role = role_of_user(user)
        if role is None and not user.is_authenticated and rest == "" and request.method in ("GET", "HEAD"):
            redirect = redirect_to_login(request.get_full_path())
            for name, value in HEADERS:
                redirect[name] = value
            return redirect
        shown = dashboard_option("DASHBOARD_SHOW_ARGS") if show_args is None else show_args
        core = Dashboard(source if source is not None else source_for(get_engine()), show_args=shown)
        answer = core.handle(
            Request(
                method=request.method or "GET",
                path="/" + rest,
                mount=request.path[: len(request.path) - len(rest)].rstrip("/"),
                role=role,
                csrf=_DjangoCsrf(request),
                own_origin=origin(request.scheme or "http", request.get_host()),
                origin=request.headers.get("Origin"),
                referer=request.headers.get("Referer"),
                fetch_site=request.headers.get("Sec-Fetch-Site"),
                form={key: str(value) for key, value in request.POST.items()} if request.method == "POST" else {},
                wants_json="application/json" in request.headers.get("Accept", ""),
            )
        )
        response = HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)
        for name, value in answer.headers:
            response[name] = value
        patch_vary_headers(response, ["Cookie"])
        return response

    # Django's own CSRF check, whatever the project's MIDDLEWARE holds.
    view: Callable[..., HttpResponse] = csrf_protect(dashboard_view)
    return [re_path(r"^(?P<rest>.*)\Z", view, name="dashboard")]


class _DjangoCsrf:
    """Django's CSRF token; a POST that reaches the view has passed ``csrf_protect`` already."""

    field = "csrfmiddlewaretoken"

    def __init__(self, request: HttpRequest) -> None:
        self.request = request

    def token(self) -> str:
        return str(get_token(self.request))

    def valid(self, token: str | None) -> bool:
        return self.request.method == "POST" and bool(getattr(self.request, "csrf_processing_done", False))
