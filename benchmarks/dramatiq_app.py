"""What the scale-out benchmark's worker processes import: one no-op task, for TasQ's
``tasq worker`` and for a bare Dramatiq worker (the peer), on the same Redis."""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from tasq import TasQ, background

REDIS_URL = os.environ.get("TASQ_BENCH_REDIS", "redis://127.0.0.1:6379/14")
# One name per benchmark run (set by bench_dramatiq, inherited by its worker processes),
# so that two runs on one machine share no queue.
ENGINE = os.environ.get("TASQ_BENCH_ENGINE", "bench")
PEER_QUEUE = f"{ENGINE}_peer"


@background
def noop() -> None:
    pass


# The engine a web app would make; in `tasq worker` it is the one that reports each task.
engine = TasQ(backend="dramatiq", broker_url=REDIS_URL, name=ENGINE)

# The peer: the same no-op as a plain Dramatiq actor, with Dramatiq's default middleware.
peer_broker = RedisBroker(url=REDIS_URL)  # type: ignore[no-untyped-call]
dramatiq.set_broker(peer_broker)


@dramatiq.actor(queue_name=PEER_QUEUE, broker=peer_broker, max_retries=0)
def peer_noop() -> None:
    pass
