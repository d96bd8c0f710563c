"""What ``tasq worker welcome.worker`` imports: the app, made as gunicorn makes it.

Its engine (``TASQ_BACKEND``, ``TASQ_BROKER_URL``, the name ``welcome``) then reports every
mail task the worker runs, with the app's signals (``/stats``' counting) and each attempt in
an app context of its own, so ``current_app``, ``g`` and ``db.session`` work there as in a
request.
"""

from __future__ import annotations

from . import create_app

app = create_app()
