"""``path("tasq/", include("tasq.contrib.django.urls"))``: the dashboard of this process's engine.

Importing this URLconf (Django does at its first request) adds the dashboard's hooks to the
engine, which sees every task from then on; see ``tasq.contrib.django.dashboard``.
"""

from __future__ import annotations

from ...dashboard import source_for
from . import get_engine
from .dashboard import dashboard_urls

app_name = "tasq"

if not get_engine().started:
    source_for(get_engine())

urlpatterns = dashboard_urls()
