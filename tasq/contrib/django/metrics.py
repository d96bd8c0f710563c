"""The Prometheus view: ``path("metrics", tasq.contrib.django.metrics.metrics)`` with ``TASQ["METRICS"] = True``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed

from tasq.contrib import prometheus

from . import get_engine

__all__ = ["metrics"]


def metrics(request: HttpRequest) -> HttpResponse:
    """What Prometheus scrapes: the engine's metrics (every process's, in multiprocess mode)."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    get_engine()  # the engine, and so its metrics, exist from the first scrape on
    return HttpResponse(prometheus.scrape(), content_type=prometheus.CONTENT_TYPE)
