"""gunicorn: engines drain at a worker's exit within gunicorn's deadlines (``tasq.worker_exit``).

Flask's and Django's integrations register their engines there themselves; an app with an
engine of its own under gunicorn calls ``drain_at_worker_exit(engine)``.
"""

from __future__ import annotations

from tasq.worker_exit import drain_at_worker_exit, shutdown_budget

__all__ = ["drain_at_worker_exit", "shutdown_budget"]
