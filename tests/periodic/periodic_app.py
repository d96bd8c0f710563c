"""A small Flask app with an ``every=1`` periodic task, for the gunicorn test.

Served by gunicorn in a subprocess; SLOT_LOG names the file every worker appends to (see
slot_log.py). gunicorn (without --preload) imports the module in each worker, and the
extension starts the engine there as the app loads: no request, no engine.start().
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


os.write(_log, f"ready {os.getpid()} {time.time():.3f}\n".encode())


@app.get("/ready")
def ready() -> object:
    return jsonify(pid=os.getpid())
