"""``engine.background`` and ``engine.periodic``: the decorators, bound to one engine.

``TasQ`` inherits them from ``BoundDecorators``; each is ``@tasq.background`` or
``@tasq.periodic`` with ``tasq=`` that engine. The decorator modules are imported at the
first call, not here: they import the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast, overload

from .task import RetryDelay

if TYPE_CHECKING:
    from datetime import tzinfo

    from .decorators import Background, BackgroundFunction
    from .engine import TasQ
    from .periodic.decorator import Periodic

__all__ = ["BoundDecorators"]

P = ParamSpec("P")
R = TypeVar("R")


class BoundDecorators:
    """``background()`` and ``periodic()`` of an engine, for ``TasQ`` to inherit.

    ``self`` is always a ``TasQ`` (the only class that inherits this); it is left
    unannotated so that ``inspect.signature`` shows the methods as ``TasQ`` declares them.
    """

    __slots__ = ()

    @overload
    def background(self, fn: Callable[P, R], /) -> BackgroundFunction[P, R]: ...

    @overload
    def background(
        self,
        fn: None = None,
        /,
        *,
        max_retry: int | None = None,
        retry_delay: RetryDelay | None = None,
        priority: int = 0,
        name: str | None = None,
        time_limit: float | None = None,
        rerun_lost: bool = True,
    ) -> Background: ...

    def background(
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        max_retry: int | None = None,
        retry_delay: RetryDelay | None = None,
        priority: int = 0,
        name: str | None = None,
        time_limit: float | None = None,
        rerun_lost: bool = True,
    ) -> BackgroundFunction[..., Any] | Background:
        """``@tasq.background`` bound to this engine."""
        from .decorators import background

        decorate = background(
            max_retry=max_retry,
            retry_delay=retry_delay,
            priority=priority,
            name=name,
            time_limit=time_limit,
            rerun_lost=rerun_lost,
            tasq=cast("TasQ", self),
        )
        return decorate if fn is None else decorate(fn)

    def periodic(
        self,
        *,
        cron: str | None = None,
        every: float | timedelta | None = None,
        tz: str | tzinfo | None = None,
        max_retry: int | None = None,
        retry_delay: RetryDelay | None = None,
        priority: int = 0,
        name: str | None = None,
    ) -> Periodic:
        """``@tasq.periodic`` bound to this engine: it runs the schedule while it is started."""
        from .periodic import periodic

        return periodic(
            cron=cron, every=every, tz=tz, max_retry=max_retry, retry_delay=retry_delay, priority=priority,
            name=name, tasq=cast("TasQ", self),
        )  # fmt: skip
