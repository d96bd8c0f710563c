"""The URLconf of the Django tracing and metrics test: a view that enqueues, and /metrics."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from tasq.contrib.django import get_engine
from tasq.contrib.django.metrics import metrics


def send_receipt() -> None:
    pass


def checkout(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(get_engine().submit(send_receipt)))


urlpatterns = [path("checkout", checkout), path("metrics", metrics)]
