"""Whose turn it is to use the model: the waiting request with the least text goes first.

A model runs one batch at a time (kb.embedding.encoders): its C engine spreads each batch over every
core, and two at once would only fight for them. With one plain lock, an agent's three-word search
waited behind every long paste queued before it. Here each request asks for a turn per batch,
saying how much text the batch holds, and the shortest waiting batch goes next (then the earliest):
a search waits for at most the batch already running, however many long ones are queued, and a long
request still advances between the short ones.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Turns:
    """A lock that hands the model to the smallest waiting batch (ties: first come, first served)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._busy = False
        self._waiting: list[tuple[int, int]] = []
        self._order = itertools.count()

    @contextmanager
    def turn(self, size: int) -> Iterator[None]:
        """Hold the model for one batch of `size` (characters): blocks until no smaller batch waits."""
        ticket = (size, next(self._order))
        with self._changed:
            heapq.heappush(self._waiting, ticket)
            while self._busy or self._waiting[0] != ticket:
                self._changed.wait()
            heapq.heappop(self._waiting)
            self._busy = True
        try:
            yield
        finally:
            with self._changed:
                self._busy = False
                self._changed.notify_all()

    @property
    def busy(self) -> bool:
        """A batch holds the model now."""
        with self._changed:
            return self._busy

    @property
    def waiting(self) -> int:
        """Batches waiting for their turn now (tests and benchmarks watch it)."""
        with self._changed:
            return len(self._waiting)
