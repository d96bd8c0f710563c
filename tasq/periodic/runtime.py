"""One ticker per started engine: started with it, stopped at its close, made anew after fork().

Engines call ``engine_started`` and ``engine_closing`` through ``tasq.lifecycle``'s listeners;
``start_ticker`` and ``stop_ticker`` are the same for an integration that manages an engine itself.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from .. import lifecycle
from . import registry
from .claims import SlotClaim
from .filelock import FileLock
from .ticker import Ticker

if TYPE_CHECKING:
    from datetime import datetime

    from ..engine import TasQ
    from .decorator import PeriodicFunction

__all__ = ["next_runs", "start_ticker", "stop_ticker", "ticker_of"]

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_tickers: dict[int, Ticker] = {}  # id(engine) -> its ticker
_takes_unbound: dict[int, bool] = {}


def claim_for(engine: TasQ) -> SlotClaim:
    """How ``engine``'s processes agree on a slot: the engine's own claim (a store's table, a
    broker's Redis), else the file lock of its name on this machine."""
    provider = getattr(engine, "slot_claim", None)
    claim = provider() if callable(provider) else None
    if claim is not None:
        if not isinstance(claim, SlotClaim):
            raise TypeError(f"{type(engine).__name__}.slot_claim() must return a SlotClaim, not {claim!r}")
        return claim
    return FileLock(engine.name)


def start_ticker(engine: TasQ) -> Ticker | None:
    """Start ``engine``'s ticker if it has periodic functions and none runs; the ticker."""
    with _lock:
        ticker = _tickers.get(id(engine))
        if ticker is not None and ticker.engine is engine:
            return ticker
        unbound = registry.takes_unbound(engine)
        functions = registry.for_engine(engine, unbound)
        _takes_unbound[id(engine)] = unbound
        if not functions:
            return None
        ticker = Ticker(engine, functions, claim_for(engine))
        _tickers[id(engine)] = ticker
    ticker.start()
    logger.debug("engine %r runs %d periodic task(s)", engine.name, len(functions), extra={"task_id": None})
    return ticker


def stop_ticker(engine: TasQ) -> None:
    """Stop ``engine``'s ticker (at its close): another process may take the schedule over."""
    with _lock:
        ticker = _tickers.pop(id(engine), None)
        _takes_unbound.pop(id(engine), None)
    if ticker is not None and ticker.engine is engine:
        ticker.stop()


def ticker_of(engine: TasQ) -> Ticker | None:
    with _lock:
        return _tickers.get(id(engine))


def next_runs(engine: TasQ) -> dict[str, datetime | None]:
    """The next slot of each periodic task ``engine`` runs, by task name (empty: none)."""
    ticker = ticker_of(engine)
    return {} if ticker is None else ticker.next_runs()


def _registered(function: PeriodicFunction[..., Any]) -> None:
    # A function decorated after its engine started joins that engine's running ticker,
    # or starts one.
    with _lock:
        started = [(ticker.engine, ticker) for key, ticker in _tickers.items() if _wants(function, ticker.engine, key)]
        waiting = [engine for engine in lifecycle.open_engines() if engine.started and id(engine) not in _tickers]
    for _, ticker in started:
        ticker.add(function)
    for engine in waiting:
        if function.engine is engine or (function.engine is None and _takes_unbound.get(id(engine), False)):
            start_ticker(engine)


def _wants(function: PeriodicFunction[..., Any], engine: TasQ, key: int) -> bool:
    return function.engine is engine or (function.engine is None and _takes_unbound.get(key, False))


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it at fork()
    tickers = list(_tickers.values())
    _tickers.clear()
    for ticker in tickers:
        ticker.forget_after_fork()
    # The ticker starts anew in the child, for the child's engine (which starts again with
    # its first task: the ticker's first run, at the latest).
    for ticker in tickers:
        if not ticker.engine.closed:
            start_ticker(ticker.engine)


registry.add_listener(_registered)
lifecycle.add_listener(started=start_ticker, closing=stop_ticker)
os.register_at_fork(after_in_child=_after_fork_in_child)
