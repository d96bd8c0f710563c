from __future__ import annotations

import json
import os
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from .models import Signup
from .stats import STATS
from .tasks import TaskResult, TaskResultDoesNotExist, build_report, send_welcome


def _body(request: HttpRequest) -> dict[str, object]:
    return json.loads(request.body or b"{}")  # type: ignore[no-any-return]


@require_POST
def signup(request: HttpRequest) -> JsonResponse:
    data = _body(request)
    new = Signup.objects.create(email=str(data.get("email", "someone@example.com")))
    # Autocommit: the row is committed, so the task can read it. Inside transaction.atomic(),
    # use send_welcome.enqueue_on_commit((new.pk,)) instead: it waits for the commit.
    task_id = send_welcome.enqueue(new.pk, work_ms=float(data.get("work_ms", 2.0)))  # type: ignore[arg-type]
    return JsonResponse({"signup": new.pk, "task_id": task_id, "pid": os.getpid()}, status=202)


@require_POST
async def signup_async(request: HttpRequest) -> JsonResponse:
    data = _body(request)
    new = await Signup.objects.acreate(email=str(data.get("email", "someone@example.com")))
    task_id = await send_welcome.aenqueue(new.pk, work_ms=float(data.get("work_ms", 2.0)))  # type: ignore[arg-type]
    return JsonResponse({"signup": new.pk, "task_id": task_id, "pid": os.getpid()}, status=202)


@require_POST
def report(request: HttpRequest) -> JsonResponse:
    result = build_report.enqueue(since_id=int(_body(request).get("since_id", 0)))  # type: ignore[call-overload]
    if not build_report.get_backend().supports_get_result:
        # Django's immediate backend (scale-out, see settings.TASKS) ran it here and keeps no result.
        return JsonResponse(_report_body(result))
    return JsonResponse({"id": result.id, "status": result.status}, status=202)


@require_GET
def report_result(request: HttpRequest, result_id: str) -> JsonResponse:
    try:
        result = build_report.get_result(result_id)
    except TaskResultDoesNotExist:
        # Results live in the process that ran the task: with several gunicorn workers,
        # ask the one that answered the POST (a keep-alive connection does).
        return JsonResponse({"id": result_id, "error": f"no such result in process {os.getpid()}"}, status=404)
    except NotImplementedError:  # the immediate backend keeps none: POST /reports/ answered with it
        return JsonResponse({"id": result_id, "error": "this Tasks backend keeps no results"}, status=404)
    return JsonResponse(_report_body(result))


def _report_body(result: TaskResult[Any]) -> dict[str, object]:
    body: dict[str, object] = {"id": result.id, "status": result.status, "attempts": result.attempts}
    if result.status == "SUCCESSFUL":
        body["report"] = result.return_value
    elif result.status == "FAILED":
        body["errors"] = [error.exception_class_path for error in result.errors]
    return body


@require_GET
def stats(request: HttpRequest) -> JsonResponse:
    return JsonResponse(STATS.snapshot())
