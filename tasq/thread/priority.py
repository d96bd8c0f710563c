"""Priorities: entries with one wait in a heap, and a token in the ready queue stands for each.

The ready queue (a ``SimpleQueue``) is first in, first out; an entry with a priority goes to
the heap and puts one ``TOKEN`` in the queue instead. A worker that draws a token takes the
heap's first entry; one that draws an entry while the heap holds a higher one swaps them.
So the heap never holds more entries than the queue holds tokens, and a worker that draws
a token always finds an entry, unless another worker took it by a swap (then it draws again).
"""

from __future__ import annotations

import heapq
from queue import Empty
from typing import TYPE_CHECKING

from .entry import TOKEN, Entry

if TYPE_CHECKING:
    from .engine import ThreadEngine

__all__ = ["make_ready", "pop_token", "prioritized"]


def make_ready(engine: ThreadEngine, entry: Entry) -> None:
    """Hand an entry that is due to the workers."""
    task_id, _, state = entry
    if state is not None and state.priority:
        with engine._lock:
            heapq.heappush(engine._heap, (-state.priority, task_id, entry))
        engine._ready.put(TOKEN)
    else:
        engine._ready.put(entry)


def prioritized(engine: ThreadEngine, drawn: Entry | None) -> Entry | None:
    """What a worker that drew ``drawn`` runs while the heap is not empty (``TOKEN``: draw again).

    A token stands in the queue where its entry was made ready; an entry with a negative
    priority must still let the plain entries (priority 0) behind its token go first. So a
    token whose heap entry ranks below 0 looks at what follows it: a plain entry runs
    first, and the token goes to the back of the queue. A stop signal never ends a worker
    while the heap holds an entry (a token sent to the back may stand behind it): the
    worker puts it back and draws again.
    """
    with engine._lock:
        heap = engine._heap
        if drawn is TOKEN:
            if not heap:
                return TOKEN
            if heap[0][0] > 0:  # the best in the heap has a negative priority
                ready = engine._ready
                try:
                    following = ready.get_nowait()
                except Empty:
                    return heapq.heappop(heap)[2]
                if following is None or following is TOKEN:
                    ready.put(following)
                    return heapq.heappop(heap)[2]
                ready.put(TOKEN)
                return following  # a plain entry ranks above every negative priority
            return heapq.heappop(heap)[2]
        if not heap:
            return drawn
        if drawn is None:
            # The stop signal waits until the heap is empty: back it goes, behind the token
            # that stands for the heap's entry (each entry keeps exactly one token).
            engine._ready.put(None)
            draw_again: Entry = TOKEN
            return draw_again
        task_id, _, state = drawn
        mine = (-(state.priority if state is not None else 0), task_id, drawn)
        if heap[0] < mine:
            return heapq.heapreplace(heap, mine)[2]
        return drawn


def pop_token(engine: ThreadEngine) -> Entry | None:
    """The entry a token drawn outside a worker (cancelling what is queued) stands for."""
    with engine._lock:
        return heapq.heappop(engine._heap)[2] if engine._heap else None
