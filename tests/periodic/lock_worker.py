"""One process of an app with a periodic task: ``python lock_worker.py LOG ENGINE_NAME EVERY``.

Runs until killed; with ``fork`` as a fourth argument, forks once it runs the schedule, and
the parent closes its engine two seconds later (the child must take over).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import slot_log

from tasq import TasQ

log = slot_log.open_log(sys.argv[1])
engine = TasQ(workers=2, name=sys.argv[2])


@engine.periodic(every=float(sys.argv[3]))
def beat() -> None:
    slot_log.write_run(log)


engine.start()
os.write(log, f"ready {os.getpid()} {time.time():.3f}\n".encode())
if len(sys.argv) > 4 and sys.argv[4] == "fork":
    time.sleep(1.0)
    pid = os.fork()
    if pid == 0:
        os.write(log, f"child {os.getpid()} {time.time():.3f}\n".encode())
        time.sleep(6)
        engine.close()
        os._exit(0)
    time.sleep(2.0)
    os.write(log, f"parent-closes {os.getpid()} {time.time():.3f}\n".encode())
    engine.close()
    os.waitpid(pid, 0)
    sys.exit(0)
while True:
    time.sleep(3600)
