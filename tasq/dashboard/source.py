"""The one seam between a dashboard and an engine: ``DashboardSource``.

An engine that can answer for more than this process (a store) gives its own source from a
``dashboard_source()`` method. A broker engine whose workers run elsewhere gets a
``LedgerSource``, which reads the Redis ledger they report to; any other engine gets a
``MemorySource``, which learns what it can from the engine's hooks.
"""

from __future__ import annotations

import threading
import weakref
from typing import Protocol, runtime_checkable

from ..engine import TasQ
from .records import Snapshot

__all__ = ["DashboardSource", "EngineSource", "SharedSource", "source_for"]


@runtime_checkable
class DashboardSource(Protocol):
    """What a dashboard reads and the two things it may do.

    ``snapshot`` is called once per page or JSON response, from any thread: it must be quick
    (a few milliseconds with 10,000 finished tasks kept) and must not compute the arguments'
    text when ``args`` is False. ``cancel`` and ``retry`` keep the engine's meaning: ``cancel``
    returns False for a running, finished or unknown task; ``retry`` raises ``ValueError`` for
    an unknown, unfinished or succeeded one and returns the new id.
    """

    @property
    def can_cancel(self) -> bool:
        """False when the engine has no ``cancel``: the page shows no cancel button."""
        ...

    @property
    def can_retry(self) -> bool:
        """False when the engine cannot run a failed task again."""
        ...

    def snapshot(self, *, args: bool = True, limit: int = 50) -> Snapshot:
        """The state now; at most ``limit`` lines in each list; no argument text unless ``args``."""
        ...

    def cancel(self, task_id: int) -> bool: ...

    def retry(self, task_id: int) -> int: ...


class EngineSource:
    """What every source keeps of its engine: a weak reference (a dashboard never keeps an
    engine alive) and its name, for the error once the engine is gone."""

    def __init__(self, engine: TasQ) -> None:
        self._engine = weakref.ref(engine)
        self.name = engine.name

    def engine(self) -> TasQ:
        engine = self._engine()
        if engine is None:
            raise RuntimeError(f"the engine {self.name!r} of this dashboard no longer exists")
        return engine


class SharedSource(EngineSource):
    """A source that reads what every process shares (a store, a broker's ledger): the
    engine's own ``cancel`` and ``retry`` act from here, and the ids this process retried
    failed tasks as are remembered for their failure cards."""

    def __init__(self, engine: TasQ) -> None:
        super().__init__(engine)
        self._retried: dict[int, int] = {}  # failed id -> the id this process retried it as

    @property
    def can_cancel(self) -> bool:
        return True

    @property
    def can_retry(self) -> bool:
        return True

    def cancel(self, task_id: int) -> bool:
        return bool(self.engine().cancel(task_id))

    def retry(self, task_id: int) -> int:
        new_id = int(self.engine().retry(task_id))
        self._retried[task_id] = new_id
        return new_id


_sources: weakref.WeakKeyDictionary[TasQ, DashboardSource] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def source_for(engine: TasQ | DashboardSource) -> DashboardSource:
    """The source a dashboard of ``engine`` reads; the same one for every mount of one engine.

    A ``DashboardSource`` is returned as it is. An engine with a ``dashboard_source()`` method
    gives its own; a broker engine with workers elsewhere gets a ``LedgerSource``; otherwise a
    ``MemorySource`` is made. Either must be made before the engine starts to see every task
    (a source made later sees less, and says so).
    """
    if not isinstance(engine, TasQ):
        if isinstance(engine, DashboardSource):
            return engine
        raise TypeError(f"a dashboard needs a tasq.TasQ engine or a DashboardSource, not {type(engine).__name__}")
    with _lock:
        source = _sources.get(engine)
        if source is None:
            provider = getattr(engine, "dashboard_source", None)
            if callable(provider):
                source = provider()
                if not isinstance(source, DashboardSource):
                    raise TypeError(f"{type(engine).__name__}.dashboard_source() returned no DashboardSource")
            else:
                from .ledger import LedgerSource, reads_ledger

                if reads_ledger(engine):
                    source = LedgerSource(engine)
                else:
                    from .memory import MemorySource

                    source = MemorySource(engine)
            _sources[engine] = source
        return source
