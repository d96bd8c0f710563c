"""The framework-free dashboard: a source of snapshots, the page, the JSON and the actions.

Integrations mount it (``tasq.contrib.flask_dashboard``, ``tasq.contrib.django.urls``,
``tasq.contrib.starlette_dashboard``); this package never imports a framework.
"""

from .handler import Csrf, Dashboard, Request, Response
from .ledger import LedgerSource
from .memory import MemorySource
from .recorder import Recorder
from .records import Failure, NameSummary, Periodic, Snapshot, TaskLine
from .security import Auth, Role, SessionCsrf
from .source import DashboardSource, source_for

__all__ = [
    "Auth",
    "Csrf",
    "Dashboard",
    "DashboardSource",
    "Failure",
    "LedgerSource",
    "MemorySource",
    "NameSummary",
    "Periodic",
    "Recorder",
    "Request",
    "Response",
    "Role",
    "SessionCsrf",
    "Snapshot",
    "TaskLine",
    "source_for",
]
