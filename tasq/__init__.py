"""TasQ: a fast, trustworthy background task worker for Python web applications."""

from .context import current_engine, default, use_engine
from .decorators import BackgroundCall, BackgroundFunction, background
from .engine import TasQ
from .exceptions import (
    MaxRetryExceeded,
    QueueFull,
    RetryTask,
    StoreError,
    TaskCancelled,
    TaskNotFound,
    TasQClosed,
    TasQError,
    TimeLimitExceeded,
    WorkerLost,
)
from .hooks import Hooks, RunningTask, current_task
from .periodic import periodic  # the decorator; the package stays importable as `from tasq.periodic import ...`
from .retry import Backoff, backoff
from .sigterm import drain_on_sigterm
from .task import Stats, Task, TaskOptions, TaskResult, TaskStatus

__version__ = "0.1.0"

__all__ = [
    "BackgroundCall",
    "BackgroundFunction",
    "Backoff",
    "Hooks",
    "MaxRetryExceeded",
    "QueueFull",
    "RetryTask",
    "RunningTask",
    "Stats",
    "StoreError",
    "TasQ",
    "TasQClosed",
    "TasQError",
    "Task",
    "TaskCancelled",
    "TaskNotFound",
    "TaskOptions",
    "TaskResult",
    "TaskStatus",
    "TimeLimitExceeded",
    "WorkerLost",
    "__version__",
    "background",
    "backoff",
    "current_engine",
    "current_task",
    "default",
    "drain_on_sigterm",
    "periodic",
    "use_engine",
]
