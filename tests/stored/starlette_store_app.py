"""The Starlette example as uvicorn serves it, configured from the environment
(``TASQ_STORE`` and the like, as its README says), with a ``RunLog`` on its engine."""

from __future__ import annotations

import os

from example_projects.starlette_app import app as example
from tests.stored.runlog import RunLog

example.engine.add_hooks(RunLog(os.environ["RUN_LOG"]))
app = example.app
