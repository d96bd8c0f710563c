"""The Flask example as ``gunicorn --preload`` serves it, configured from the environment
(``WELCOME_TASQ_STORE`` and the like, as its README says), with a ``RunLog`` on its engine."""

from __future__ import annotations

import os

from example_projects.flask_app.welcome import create_app
from tests.stored.runlog import RunLog

app = create_app()
app.extensions["tasq"].add_hooks(RunLog(os.environ["RUN_LOG"]))
