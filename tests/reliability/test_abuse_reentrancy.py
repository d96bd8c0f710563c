"""Promise 19 (docs/reliability.md): the engine called again from where it is already running."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.timeout(30)


def run(body: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(body)], capture_output=True, text=True, timeout=15)


@pytest.mark.parametrize(
    ("held", "call"),
    [
        ("engine._lock", "engine.stats()"),
        ("engine._lock", "engine.enqueue(lambda: None, priority=1)"),
        ("engine._joined", "engine.join(0)"),
        ("engine._scheduler._cond", "engine.enqueue(lambda: None, delay=0.01)"),
    ],
)
def test_a_signal_handler_calls_the_engine_while_the_main_thread_is_inside_it(held: str, call: str) -> None:
    """19. A signal handler's stats()/enqueue/join while the main thread holds that lock: no deadlock."""
    process = run(f"""
        import os, signal
        import tasq
        engine = tasq.TasQ(workers=1)
        engine.start()
        answered = []
        def handler(signum, frame):
            answered.append({call})
        signal.signal(signal.SIGUSR1, handler)
        with {held}:  # the main thread is inside the engine when the signal lands
            os.kill(os.getpid(), signal.SIGUSR1)
            for _ in range(1000):
                if answered:
                    break
        assert answered
        engine.close(timeout=5)
        stats = engine.stats()
        print("ok", stats.enqueued == stats.done + stats.failed, flush=True)
    """)
    assert process.returncode == 0, process.stderr
    assert process.stdout.split() == ["ok", "True"]
