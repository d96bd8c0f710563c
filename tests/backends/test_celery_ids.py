"""Celery over Redis: ids reserved in blocks, each task's record pushed with its message.

Ids stay unique per engine name across processes and threads and increase within each
process; every accepted task has its record and its message, and nothing else is left."""

from __future__ import annotations

import multiprocessing
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tasq import TasQ
from tasq.backends.block_ledger import MAX_BLOCK, BlockLedger, IdBlocks
from tasq.backends.payload import TaskMessage
from tests.backends import tasks
from tests.backends.conftest import clean_redis
from tests.services import REDIS_URL, require

pytestmark = [pytest.mark.services, pytest.mark.timeout(60)]

PER_PROCESS = 150  # past MAX_BLOCK: each process reserves several blocks


@pytest.fixture
def name() -> Iterator[str]:
    require("Redis")
    engine_name = f"celery-ids-{uuid.uuid4().hex[:8]}"
    yield engine_name
    clean_redis(engine_name)


def queued(client: Any, name: str) -> list[bytes]:
    return [m for key in client.scan_iter(f"celery.tasq.{name}*") for m in client.lrange(key, 0, -1)]


def send(name: str, count: int, results: Any) -> None:
    engine = TasQ(backend="celery", broker_url=REDIS_URL, name=name)
    try:
        ids = [engine.enqueue(tasks.add.task(n, 1)) for n in range(count)]
        results.put(ids)
    finally:
        engine.close()


def test_ids_are_unique_across_processes_and_increase_in_each(name: str) -> None:
    parent = TasQ(backend="celery", broker_url=REDIS_URL, name=name)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        first = parent.enqueue(tasks.add.task(0, 0))  # the parent holds a block as it forks
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        children = [context.Process(target=send, args=(name, PER_PROCESS, results)) for _ in range(3)]
        for child in children:
            child.start()
        mine = [first] + [parent.enqueue(tasks.add.task(n, 2)) for n in range(PER_PROCESS)]
        theirs = [results.get(timeout=30) for _ in children]
        for child in children:
            child.join(10)
            assert child.exitcode == 0
        for ids in [mine, *theirs]:
            assert ids == sorted(ids) and len(set(ids)) == len(ids)  # increasing in each process
        every = [task_id for ids in [mine, *theirs] for task_id in ids]
        assert len(set(every)) == len(every) == 4 * PER_PROCESS + 1  # unique across them
        # Nothing lost and nothing extra: one record and one message per id.
        records = {int(key.rsplit(b":", 1)[1]) for key in client.scan_iter(f"tasq:{name}:task:*")}
        assert records == set(every)
        assert len(queued(client, name)) == len(every)
        assert parent.stats().pending == len(mine)  # what this engine sent is counted outstanding
    finally:
        parent.close()
        client.close()


def test_threads_share_one_engine_and_get_distinct_ids(name: str) -> None:
    engine = TasQ(backend="celery", broker_url=REDIS_URL, name=name)
    got: list[list[int]] = [[] for _ in range(4)]
    start = threading.Barrier(4)

    def sender(ids: list[int]) -> None:
        start.wait()
        ids.extend(engine.enqueue(tasks.add.task(n, 3)) for n in range(100))

    threads = [threading.Thread(target=sender, args=(ids,)) for ids in got]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        every = [task_id for ids in got for task_id in ids]
        assert len(set(every)) == 400
        assert all(ids == sorted(ids) for ids in got)
        assert engine.stats().pending == 400
    finally:
        engine.close()


def test_blocks_grow_while_used_quickly_and_start_again_at_one() -> None:
    reserved: list[int] = []
    counter = [0]

    def reserve(size: int) -> int:
        reserved.append(size)
        counter[0] += size
        return counter[0]

    blocks = IdBlocks(reserve)
    ids = [blocks.take() for _ in range(300)]
    assert ids == list(range(1, 301))
    assert reserved[:8] == [1, 2, 4, 8, 16, 32, 64, 64] and max(reserved) == MAX_BLOCK
    blocks._reserved_at -= 2.0  # the last block was taken two seconds ago: a rare sender
    blocks._next = blocks._end + 1
    blocks.take()
    assert reserved[-1] == 1


def test_a_publish_repeated_after_a_lost_reply_records_and_pushes_once(name: str) -> None:
    """kombu publishes again when a connection fails; the script may have run already."""
    client = redis.Redis.from_url(REDIS_URL)
    ledger = BlockLedger(client)
    message = TaskMessage(
        id=ledger.accept(name, "p"), name="tests.backends.tasks.add", args=[1, 2], kwargs={}, engine=name,
        max_retry=3, retry_delay=0.0, results=10, producer="p",
    )  # fmt: skip
    try:
        for _ in range(2):
            ledger.record_and_push(message, client, f"celery.tasq.{name}", "{}")
        assert len(queued(client, name)) == 1
        assert ledger.outstanding(name, "p") == 1
        result = ledger.result(name, message.id)
        assert result is not None and result.status.value == "PENDING"
    finally:
        client.close()


def test_enqueue_writes_the_record_in_the_push_not_before_it(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On redis:// the record rides with the message: the separate write is never needed."""

    def separate(self: BlockLedger, message: object) -> None:
        raise AssertionError("the record was written in a round trip of its own")

    monkeypatch.setattr(BlockLedger, "record", separate)
    engine = TasQ(backend="celery", broker_url=REDIS_URL, name=name, results=10)
    try:
        task_id = engine.enqueue(tasks.add.task(1, 1))
        result = engine.result(task_id)
        assert result is not None and result.status.value == "PENDING"
    finally:
        engine.close()


def test_fields_a_hook_wrote_before_the_push_neither_stop_it_nor_count(name: str) -> None:
    """A before_enqueue hook may write beside the record before it exists (the dashboard
    writes the task's name): the push still happens, and a refused send counts nothing."""
    client = redis.Redis.from_url(REDIS_URL)
    ledger = BlockLedger(client)

    def message(task_id: int) -> TaskMessage:
        return TaskMessage(
            id=task_id, name="tests.backends.tasks.add", args=[1, 2], kwargs={}, engine=name,
            max_retry=3, retry_delay=0.0, results=10, producer="p",
        )  # fmt: skip

    try:
        sent, refused = message(ledger.accept(name, "p")), message(ledger.accept(name, "p"))
        for task in (sent, refused):
            client.hset(f"tasq:{name}:task:{task.id}", "name", task.name)
        ledger.record_and_push(sent, client, f"celery.tasq.{name}", "{}")
        ledger.discard(refused)  # the broker refused it before its record was written
        assert len(queued(client, name)) == 1
        assert client.hget(f"tasq:{name}:task:{sent.id}", "name") == sent.name.encode()
        assert not client.exists(f"tasq:{name}:task:{refused.id}")
        assert ledger.outstanding(name, "p") == 1  # the refused one was never counted
    finally:
        client.close()
