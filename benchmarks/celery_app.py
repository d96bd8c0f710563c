"""What the Celery benchmark's worker processes import: one no-op task, for TasQ's
``tasq worker --backend celery`` and for a bare Celery worker (the peer), on the same Redis."""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery
from celery.signals import after_setup_logger

from tasq import TasQ, background

REDIS_URL = os.environ.get("TASQ_BENCH_REDIS", "redis://127.0.0.1:6379/14")
# One name per benchmark run (set by bench_celery, inherited by its worker processes).
ENGINE = os.environ.get("TASQ_BENCH_ENGINE", "bench")
PEER_QUEUE = f"{ENGINE}_celery_peer"
# The peer's delivery settings: TasQ's (acks after the task, one message per thread), or
# with TASQ_BENCH_CELERY_DEFAULTS=1 Celery's own (acks on receipt, four per thread).
DEFAULTS = os.environ.get("TASQ_BENCH_CELERY_DEFAULTS") == "1"


@background
def noop() -> None:
    pass


# The engine a web app would make; in `tasq worker` it is the one that reports each task.
engine = TasQ(backend="celery", broker_url=REDIS_URL, name=ENGINE)

# The peer: the same no-op as a plain Celery task, its result ignored as TasQ's is.
peer = Celery("peer", broker=REDIS_URL, set_as_current=False, fixups=[])
peer.conf.update(
    task_default_queue=PEER_QUEUE,
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_redirect_stdouts=False,
)
if not DEFAULTS:
    peer.conf.update(task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1)


@peer.task(name="peer.noop")
def peer_noop() -> None:
    pass


@after_setup_logger.connect
def _quiet(**named: Any) -> None:
    # As in `tasq worker`: no log line per task received and per task finished.
    for name in ("celery.worker.strategy", "celery.app.trace"):
        logging.getLogger(name).setLevel(logging.WARNING)
