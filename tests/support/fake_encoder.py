"""A deterministic stand-in for the language model, for tests of logic that does not need meaning.

Building, reusing, damaging and loading an index, the fallback rule, the API's plumbing: none of
that depends on what the vectors mean, only on their shape and on equal texts giving equal vectors.
The real model costs seconds to load and tens of milliseconds a text; this costs microseconds.
Texts that share words still come out near each other (each word is a fixed random direction), so
a search over fake vectors still finds the card whose words the query repeats.
"""

from __future__ import annotations

import hashlib

import numpy as np

from kb.embedding.encoders import VectorPart
from kb.text import query_form

DIM = 64


def word_vector(word: str) -> np.ndarray:
    """A fixed random unit direction for `word` (seeded by its digest: the same on every machine)."""
    seed = int.from_bytes(hashlib.sha256(word.encode("utf-8")).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


class FakeEncoder:
    """Unit float32 rows: the sum of the word directions of a text, normalised (an empty text gets
    a direction of its own). Implements kb.embedding.encoders.Encoder."""

    model_id = "fake==1"
    engine = ""
    dim = DIM
    parts = (VectorPart("fake", DIM),)

    def __init__(self) -> None:
        self.calls = 0

    def _encode(self, texts: list[str], prefix: str) -> np.ndarray:
        self.calls += len(texts)
        rows = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            words = query_form(text).split() or [prefix]
            total = np.sum([word_vector(w) for w in words], axis=0)
            rows[row] = total / (np.linalg.norm(total) or 1.0)
        return rows

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(list(texts), "query:")

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(list(texts), "passage:")
