"""A Flask app with an ``every=1`` periodic task and no engine.start(): served by gunicorn
with --preload in the serving tests, which send it no request.

The module loads once, in gunicorn's master (``loaded <pid>``); the engine starts in each
worker as it is forked, and the ticker of one of them runs the schedule.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from flask import Flask

sys.path.insert(0, str(Path(__file__).parent))

import slot_log

from tasq.contrib.flask import TasQ

app = Flask("preload_flask_app")
TasQ(app)
_log = slot_log.open_log(os.environ["SLOT_LOG"])


@app.extensions["tasq"].periodic(every=1)
def beat() -> None:
    slot_log.write_run(_log)


os.write(_log, f"loaded {os.getpid()} {time.time():.3f}\n".encode())
