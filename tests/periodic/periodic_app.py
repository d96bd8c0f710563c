"""A small Flask app with an ``every=1`` periodic task, for the gunicorn test.

Served by gunicorn in a subprocess; SLOT_LOG names the file every worker appends to (see
slot_log.py). Flask has no startup hook for the engine yet, so the app starts its engine when
the module is imported, which gunicorn (without --preload) does in each worker after fork.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from flask import Flask, jsonify

sys.path.insert(0, str(Path(__file__).parent))

import slot_log

from tasq.contrib.flask import TasQ

app = Flask("periodic_app")
tasq = TasQ(app)
engine = app.extensions["tasq"]
_log = slot_log.open_log(os.environ["SLOT_LOG"])


@engine.periodic(every=1)
def beat() -> None:
    slot_log.write_run(_log)


engine.start()
os.write(_log, f"ready {os.getpid()} {time.time():.3f}\n".encode())


@app.get("/ready")
def ready() -> object:
    return jsonify(pid=os.getpid())
