"""How close two cards are, and a situation to each card: what the practice page needs to keep a wrong
option from being a second right answer.

Two sources, one shape (`Closeness`):

- `from_index`: the engine's own vectors, read from the built index (no model is loaded). A card pair
  is compared by the cosine of their text vectors; a Cuándo line by the engine's meaning score
  (kb.retrieval.scoring: best situation and text, weighted by WHEN_WEIGHT) with the line itself left
  out of its own card, so a card does not win only because it holds the very words.
- `from_words`: when no index matches the guides (`kb build --site-only` on a fresh clone, `kb preview`
  right after a save), the same comparisons over the keyword engine's stems (TF-IDF, cosine). Cruder,
  deterministic, and said on the page and in the build output.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kb.content import Card
from kb.errors import IndexMissing, IndexStale, KbError
from kb.retrieval.keywords import terms
from kb.retrieval.scoring import WHEN_WEIGHT

ENGINE = "motor"
WORDS = "palabras"


@dataclass
class Closeness:
    """Card-to-card similarity and, per Cuándo line, the score of every card (its own without the line)."""

    mode: str  # ENGINE or WORDS
    reason: str  # why this mode, in Spanish (shown on the page and by `kb build`)
    ids: list[str]
    pairs: np.ndarray  # (n, n) similarity of card texts
    lines: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # (card id, line) -> score per card
    position: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.position = {card_id: i for i, card_id in enumerate(self.ids)}

    def similarity(self, a: str, b: str) -> float:
        return float(self.pairs[self.position[a], self.position[b]])

    def quantile(self, share: float) -> float:
        """The similarity above which lie `share` of all card pairs (the model's scale, not a fixed number)."""
        n = len(self.ids)
        if n < 2:
            return 1.0
        values = self.pairs[np.triu_indices(n, 1)]
        return float(np.quantile(values, 1.0 - share))

    def line_scores(self, card_id: str, line: str) -> np.ndarray | None:
        return self.lines.get((card_id, line))

    def confusion(self, card_id: str) -> np.ndarray:
        """Share of this card's lines on which each other card scores at least as high as it does."""
        own = self.position[card_id]
        rows = [s for (cid, _), s in self.lines.items() if cid == card_id]
        if not rows:
            return np.zeros(len(self.ids))
        scores = np.stack(rows)
        beaten = scores >= scores[:, own : own + 1]
        beaten[:, own] = False
        return np.asarray(beaten.mean(axis=0))


def _leave_one_out(situations: np.ndarray, text: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(rows, cards) meaning score of every situation row against every card, the row itself left out."""
    sims = situations @ situations.T
    np.fill_diagonal(sims, -np.inf)
    by_text = situations @ text.T
    best = np.empty_like(by_text)
    for card in range(text.shape[0]):
        start, end = int(offsets[card]), int(offsets[card + 1])
        best[:, card] = sims[:, start:end].max(axis=1) if end > start else -np.inf
    alone = ~np.isfinite(best)  # a card with no other situation is judged on its text alone, as in search
    best[alone] = by_text[alone]
    return np.asarray(WHEN_WEIGHT * best + (1 - WHEN_WEIGHT) * by_text)


def from_index(cards: list[Card], index_dir: Path, docs_dir: Path) -> Closeness:
    """The engine's view, from the index built for exactly these guides. Raises KbError (kb.errors:
    IndexMissing, IndexDamaged, IndexStale) when there is none, or it is of other guides."""
    from kb.retrieval.store import load_index

    index = load_index(index_dir, docs_dir=docs_dir)
    where = {c.id: i for i, c in enumerate(index.cards)}
    missing = [c.id for c in cards if c.id not in where]
    if missing:
        raise KbError(f"el índice no tiene la tarjeta {missing[0]}")
    text = index.text_index.reconstruct_n(0, index.text_index.ntotal)
    rows = index.when_index.ntotal
    situations = index.when_index.reconstruct_n(0, rows) if rows else np.zeros((0, text.shape[1]), np.float32)
    offsets = index.scorer.offsets
    order = [where[c.id] for c in cards]
    pairs = text[order] @ text[order].T
    scores = _leave_one_out(situations, text, offsets)[:, order]
    lines = {}
    for card in cards:
        k = where[card.id]
        start = int(offsets[k])
        for n, line in enumerate(index.cards[k].when):
            lines[(card.id, line)] = scores[start + n]
    return Closeness(ENGINE, "opciones revisadas con el índice de búsqueda", [c.id for c in cards], pairs, lines)


def _tfidf(bags: list[Counter[str]], idf: dict[str, float], vocabulary: dict[str, int]) -> np.ndarray:
    out = np.zeros((len(bags), len(vocabulary)), dtype=np.float64)
    for row, bag in enumerate(bags):
        for term, count in bag.items():
            if term in vocabulary:
                out[row, vocabulary[term]] = (1 + math.log(count)) * idf[term]
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1, norms)


def from_words(cards: list[Card], reason: str) -> Closeness:
    """The words' view: TF-IDF over each card's stems (text, phrases and Cuándo lines), the same
    leave-the-line-out rule for each Cuándo line."""
    line_bags = [[Counter(terms(line)) for line in c.when] for c in cards]
    card_bags = [Counter(terms(c.embedding_text())) + sum(bags, Counter()) for c, bags in zip(cards, line_bags)]
    df = Counter(term for bag in card_bags for term in bag)
    vocabulary = {term: i for i, term in enumerate(sorted(df))}
    idf = {term: math.log((1 + len(cards)) / (1 + n)) + 1 for term, n in df.items()}
    matrix = _tfidf(card_bags, idf, vocabulary)
    lines: dict[tuple[str, str], np.ndarray] = {}
    for i, card in enumerate(cards):
        for line, bag in zip(card.when, line_bags[i]):
            own = _tfidf([card_bags[i] - bag], idf, vocabulary)[0]
            query = _tfidf([bag], idf, vocabulary)[0]
            scores = matrix @ query
            scores[i] = float(own @ query)
            lines[(card.id, line)] = scores
    return Closeness(WORDS, reason, [c.id for c in cards], matrix @ matrix.T, lines)


def closeness(cards: list[Card], index_dir: Path, docs_dir: Path) -> Closeness:
    """The engine's view when the index is built for these guides, else the words' (with the reason)."""
    try:
        return from_index(cards, index_dir, docs_dir)
    except IndexMissing:
        reason = "no hay índice de búsqueda"
    except IndexStale:
        reason = "el índice no es de estas guías"
    except KbError:
        reason = "el índice no se puede leer"
    return from_words(cards, f"{reason}: opciones elegidas por las palabras en común; 'kb build' usa el índice")
