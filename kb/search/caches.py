"""Bounded in-memory caches for conversations: sentence vectors, and ids already shown.

Both are bounded (LRU) so a long-running `kb serve` / `kb api` cannot grow without limit, and
both are per process: nothing here is written to disk, so no conversation text is kept.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from kb.embedding.encoders import Encoder


class VectorCache:
    """Sentence → vector, bounded: a conversation re-sends its old turns on every call."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._data: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, encoder: Encoder, sentences: list[str]) -> np.ndarray:
        """Vectors of `sentences` (one row each), encoding only those not cached.

        The rows are taken from what this call saw or computed, never read back from the cache after
        encoding: another thread may have evicted them meanwhile (the cache is bounded)."""
        model = encoder.model_id
        with self._lock:
            found = {s: self._data[(model, s)] for s in dict.fromkeys(sentences) if (model, s) in self._data}
            for sentence in found:
                self._data.move_to_end((model, sentence))
        missing = [s for s in dict.fromkeys(sentences) if s not in found]
        if missing:
            vectors = np.asarray(encoder.encode_queries(missing), dtype=np.float32)
            found.update(zip(missing, vectors))
            with self._lock:
                for sentence, vector in zip(missing, vectors):
                    self._data[(model, sentence)] = vector
                while len(self._data) > self.size:
                    self._data.popitem(last=False)
        return np.vstack([found[s] for s in sentences])


class SuggestionMemory:
    """Which card ids each conversation has already been shown, for the API's `new`.

    Bounded (LRU, `size` conversations) and forgetful (`ttl` seconds without a call): the API
    keeps no conversation text, only ids, and a restart simply shows everything as new again."""

    def __init__(self, size: int = 2000, ttl: float = 2 * 3600, clock: Callable[[], float] | None = None) -> None:
        self.size, self.ttl = size, ttl
        self._clock = clock or time.monotonic
        self._data: OrderedDict[str, tuple[float, set[str]]] = OrderedDict()
        self._lock = threading.Lock()

    def new_ids(self, conversation_id: str, ids: Sequence[str]) -> list[str]:
        """The ids in `ids` this conversation has not been shown; remembers them as shown."""
        now = self._clock()
        with self._lock:
            while self._data:  # drop expired entries from the old end
                oldest, (seen_at, _) = next(iter(self._data.items()))
                if now - seen_at <= self.ttl:
                    break
                del self._data[oldest]
            _, shown = self._data.pop(conversation_id, (now, set()))
            new = [i for i in ids if i not in shown]
            shown.update(new)
            self._data[conversation_id] = (now, shown)
            while len(self._data) > self.size:
                self._data.popitem(last=False)
            return new
