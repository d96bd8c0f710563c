"""What crosses the wire: one attempt of a task as a message, and TasQ's header in it.

The name and argument rules a message obeys are core's (``tasq.payload``), re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The rules a task obeys to leave the process are core's (a store shares them).
from ..payload import check_json, resolve_call, resolve_submit, task_name

__all__ = ["HEADER", "TaskMessage", "check_json", "resolve_call", "resolve_submit", "task_name"]

HEADER = "tasq"  # the key of TasQ's header among a broker message's options


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskMessage:
    """One attempt of a task, as every backend sends it and every worker reads it."""

    id: int
    name: str
    args: list[Any]
    kwargs: dict[str, Any]
    engine: str  # the name of the engine that accepted it: a worker reports through its namesake
    attempt: int = 1
    max_retry: int
    retry_delay: float | None  # None: a callable, which the worker looks up again
    results: int  # how many finished results the status store keeps (the engine's ``results``)
    producer: str  # which engine instance accepted it, for its ``join()``
    headers: dict[str, str] = field(default_factory=dict)  # what before_enqueue hooks added

    def header(self) -> dict[str, Any]:
        header: dict[str, Any] = {
            "id": self.id,
            "engine": self.engine,
            "attempt": self.attempt,
            "max_retry": self.max_retry,
            "retry_delay": self.retry_delay,
            "results": self.results,
            "producer": self.producer,
        }
        if self.headers:
            header["headers"] = self.headers
        return header

    @classmethod
    def read(cls, name: str, args: Any, kwargs: Any, header: Any) -> TaskMessage | None:
        """The message a worker received, or None when it is not one of TasQ's."""
        if not isinstance(header, dict) or type(header.get("id")) is not int:
            return None
        try:
            return cls._from_header(name, args, kwargs, header)
        except (TypeError, ValueError):
            return None  # a header TasQ did not write: not one of its tasks

    @classmethod
    def _from_header(cls, name: str, args: Any, kwargs: Any, header: dict[str, Any]) -> TaskMessage:
        retry_delay = header.get("retry_delay")
        headers = header.get("headers") or {}
        if not isinstance(headers, dict) or not all(type(k) is str and type(v) is str for k, v in headers.items()):
            raise TypeError("headers must map str to str")
        return cls(
            id=header["id"],
            name=name,
            args=list(args),
            kwargs=dict(kwargs),
            engine=str(header.get("engine", "default")),
            attempt=int(header.get("attempt", 1)),
            max_retry=int(header.get("max_retry", 1)),
            retry_delay=None if retry_delay is None else float(retry_delay),
            results=int(header.get("results", 0)),
            producer=str(header.get("producer", "")),
            headers=dict(headers),
        )
