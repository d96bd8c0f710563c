"""The lifecycle of every task of the Django engine, as Django signals.

Each is sent with ``sender`` = the engine (a ``tasq.TasQ``) and ``task_id=`` the int id that
``enqueue`` returned; ``task_retried`` and ``task_failed`` also carry ``error=``. A task that
is cancelled (the engine closed before it ran) is reported by ``task_failed`` with a
``tasq.TaskCancelled`` error. A receiver that raises is logged and never fails the task.

- ``task_enqueued``: in the thread that enqueued, once the engine accepted the task.
- ``task_started``: in the worker thread, before each attempt.
- ``task_retried``: the attempt raised ``RetryTask`` and another one is scheduled.
- ``task_done``: once, when the task succeeded.
- ``task_failed``: once, when it failed, ran out of retries or was cancelled.
"""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["task_done", "task_enqueued", "task_failed", "task_retried", "task_started"]

task_enqueued = Signal()
task_started = Signal()
task_retried = Signal()
task_done = Signal()
task_failed = Signal()
