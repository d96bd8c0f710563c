"""A periodic task on a store, for the tests that run it in several processes at once."""

from __future__ import annotations

import os

from tasq import TasQ

engine = TasQ(store=os.environ.get("TASQ_TEST_STORE", "sqlite:///unused.db"), name="ticks", workers=2, results=1000)


@engine.periodic(every=1)
def tick() -> None:
    with open(os.environ["RUN_LOG"], "a") as log:  # O_APPEND: one line per run, whole
        log.write(f"{os.getpid()}\n")
