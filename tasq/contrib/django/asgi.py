"""Django under an ASGI server (uvicorn, hypercorn, daphne): start the engine at startup, drain it at shutdown.

Django's ASGI handler refuses the lifespan protocol, and uvicorn ends a ``SIGTERM`` shutdown
by raising the signal again, which ends the process before exit handlers run: the engine's
drain at interpreter exit never happens, and pending tasks would be lost unreported. This
gives the server a lifespan whose shutdown drains the engine first::

    # asgi.py
    from tasq.contrib.django.asgi import get_asgi_application

    application = get_asgi_application()
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from . import get_engine, shut_down

__all__ = ["get_asgi_application", "with_lifespan"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def get_asgi_application() -> ASGIApp:
    """Django's ``get_asgi_application()``, with a lifespan that drains TasQ at shutdown."""
    from django.core.asgi import get_asgi_application as django_application

    return with_lifespan(django_application())


def with_lifespan(app: ASGIApp) -> ASGIApp:
    """Answer the lifespan protocol around ``app`` (any ASGI app); pass everything else to it."""

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    get_engine().start()  # periodic tasks run from startup on, requests or not
                except Exception as error:
                    await send({"type": "lifespan.startup.failed", "message": repr(error)})
                    raise
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    # In a thread: the drain waits for tasks; the event loop must not block.
                    await asyncio.to_thread(shut_down, "the server shut down")
                except Exception as error:
                    await send({"type": "lifespan.shutdown.failed", "message": repr(error)})
                    raise
                await send({"type": "lifespan.shutdown.complete"})
                return

    return application
