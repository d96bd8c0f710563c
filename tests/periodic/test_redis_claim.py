"""On a scale-out engine, slots are claimed in the broker's Redis: SET key NX EX, on the real server."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tasq.periodic import RedisSlotClaim, SlotClaim
from tests.services import REDIS_URL, require

pytestmark = [pytest.mark.services, pytest.mark.timeout(20)]


@pytest.fixture
def client() -> Iterator[Any]:
    require("Redis")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def prefix(client: Any) -> Iterator[str]:
    prefix = f"tasq-test:{uuid.uuid4().hex}"
    yield prefix
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def test_the_first_claim_wins_and_every_other_loses(client: Any, prefix: str) -> None:
    import redis

    one = RedisSlotClaim(client, prefix=prefix)
    other = RedisSlotClaim(redis.Redis.from_url(REDIS_URL), prefix=prefix)  # as another process
    slot = datetime.now(UTC).replace(microsecond=0)
    until = slot + timedelta(minutes=5)
    try:
        assert isinstance(one, SlotClaim)
        assert one.claim("app", "tasks.purge", slot, until)
        assert not other.claim("app", "tasks.purge", slot, until)
        assert not one.claim("app", "tasks.purge", slot, until)
        assert other.claim("app", "tasks.purge", slot + timedelta(minutes=5), until + timedelta(minutes=5))
        assert other.claim("app", "tasks.other", slot, until)  # per task
        assert other.claim("another-app", "tasks.purge", slot, until)  # per engine
    finally:
        other.close()


def test_the_key_expires_a_minute_after_no_process_considers_the_slot(client: Any, prefix: str) -> None:
    claim = RedisSlotClaim(client, prefix=prefix)
    slot = datetime.now(UTC).replace(microsecond=0)
    assert claim.claim("app", "tasks.purge", slot, slot + timedelta(minutes=5))
    (key,) = list(client.scan_iter(f"{prefix}:*"))
    assert key.decode() == f"{prefix}:app:tasks.purge:{slot.isoformat()}"
    assert 5 * 60 + 60 - 3 <= client.ttl(key) <= 5 * 60 + 60 + 1
    assert client.get(key).decode().endswith(f":{os.getpid()}")  # who claimed it


def test_racing_claims_of_one_slot_give_exactly_one_winner(client: Any, prefix: str) -> None:
    import redis

    slot = datetime.now(UTC).replace(microsecond=0)
    claims = [RedisSlotClaim(redis.Redis.from_url(REDIS_URL), prefix=prefix) for _ in range(8)]
    barrier = threading.Barrier(len(claims))
    wins: list[bool] = []
    lock = threading.Lock()

    def race(claim: RedisSlotClaim) -> None:
        barrier.wait(5)
        for n in range(50):
            won = claim.claim("app", "tasks.race", slot + timedelta(seconds=n), slot + timedelta(seconds=n + 1))
            with lock:
                wins.append(won)

    threads = [threading.Thread(target=race, args=(claim,)) for claim in claims]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    for claim in claims:
        claim.close()
    assert len(wins) == 8 * 50 and sum(wins) == 50  # one winner per slot


class _SlotRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.slots: list[tuple[str, str]] = []  # (ticker thread, slot)

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("periodic %s: slot %s runs as task") and isinstance(record.args, tuple):
            self.slots.append((record.threadName or "?", str(record.args[1])))


def test_two_dramatiq_engines_over_redis_run_each_slot_once(client: Any) -> None:
    """Two processes' engines of one app on a Redis broker: the broker's Redis holds the claim."""
    from tasq import TasQ
    from tasq.periodic.runtime import claim_for

    name = f"periodic-{uuid.uuid4().hex[:8]}"
    engines = [TasQ(backend="dramatiq", broker_url=REDIS_URL, name=name) for _ in range(2)]
    records = _SlotRecords()
    logger = logging.getLogger("tasq.periodic.ticker")
    logger.addHandler(records)
    previous_level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        assert all(isinstance(claim_for(engine), RedisSlotClaim) for engine in engines)
        for engine in engines:
            engine.periodic(every=0.2, name="tests.periodic.beat")(_beat)
        for engine in engines:
            engine.start()
        deadline = time.monotonic() + 10
        while len(records.slots) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        for engine in engines:
            engine.close()
        logger.removeHandler(records)
        logger.setLevel(previous_level)
        for key in client.scan_iter(f"*{name}*"):
            client.delete(key)
    slots = Counter(slot for _, slot in records.slots)
    assert len(slots) >= 10 and max(slots.values()) == 1, slots


def test_over_rabbitmq_or_in_memory_the_file_lock_decides() -> None:
    from tasq import TasQ
    from tasq.periodic import FileLock
    from tasq.periodic.runtime import claim_for

    for url in ("amqp://guest:guest@127.0.0.1:5672/", "stub://"):
        engine = TasQ(backend="dramatiq", broker_url=url, name="file-lock-decides")
        try:
            assert isinstance(claim_for(engine), FileLock)
        finally:
            engine.close()
    engine = TasQ(name="file-lock-decides")
    try:
        assert isinstance(claim_for(engine), FileLock)
    finally:
        engine.close()


def _beat() -> None: ...
