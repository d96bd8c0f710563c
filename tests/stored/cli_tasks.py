"""Tasks for the `tasq worker --store` tests: each run appends its id and pid to RUN_LOG."""

from __future__ import annotations

import os
import time

from tasq import TasQ

engine = TasQ(store=os.environ.get("TASQ_TEST_STORE", "sqlite:///unused.db"), name="cli", workers=2, results=1000)


@engine.background
def record(number: int) -> int:
    with open(os.environ["RUN_LOG"], "a") as log:
        log.write(f"{number} {os.getpid()}\n")
    return number * 2


@engine.background
def slow(seconds: float) -> None:
    with open(os.environ["RUN_LOG"], "a") as log:
        log.write(f"slow {os.getpid()}\n")
    print("slow task started", flush=True)  # the test reads the worker's output
    time.sleep(seconds)
