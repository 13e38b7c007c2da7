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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kb.content import Card
from kb.errors import IndexMissing, IndexStale, KbError

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

    def confusion(self) -> np.ndarray:
        """(n, n): the share of card a's Cuándo lines on which card b scores at least as high as a does."""
        n = len(self.ids)
        rows: dict[int, list[np.ndarray]] = {}
        for (card_id, _), scores in self.lines.items():
            rows.setdefault(self.position[card_id], []).append(scores)
        out = np.zeros((n, n))
        for own, found in rows.items():
            scores = np.stack(found)
            beaten = scores >= scores[:, own : own + 1]
            beaten[:, own] = False
            out[own] = beaten.mean(axis=0)
        return out


def _leave_one_out(situations: np.ndarray, text: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(rows, cards) meaning score of every situation row against every card, the row itself left out."""
    from kb.retrieval.scoring import WHEN_WEIGHT

    sims = situations @ situations.T
    np.fill_diagonal(sims, -np.inf)
    by_text = situations @ text.T
    best = np.full_like(by_text, -np.inf)
    starts, ends = offsets[:-1], offsets[1:]
    present = np.flatnonzero(ends > starts)
    if len(present):  # each card's best row, all cards at once (rows are stored card by card)
        best[:, present] = np.maximum.reduceat(sims, starts[present], axis=1)
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


def _weighted(counts: Any, idf: np.ndarray) -> Any:
    """Sublinear TF-IDF of a sparse count matrix, each row scaled to unit length (empty rows stay empty)."""
    from scipy import sparse

    out = counts.astype(np.float64).tocsr()
    out.eliminate_zeros()
    out.data = (1 + np.log(out.data)) * idf[out.indices]
    norms = np.sqrt(np.asarray(out.multiply(out).sum(axis=1)).ravel())
    return sparse.csr_matrix(sparse.diags(1 / np.where(norms == 0, 1, norms)) @ out)


def _counts(texts: list[list[str]], vocabulary: dict[str, int]) -> Any:
    from scipy import sparse

    rows = [r for r, words in enumerate(texts) for _ in words]
    cols = [vocabulary[w] for words in texts for w in words]
    return sparse.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(texts), len(vocabulary)))


def from_words(cards: list[Card], reason: str) -> Closeness:
    """The words' view: TF-IDF over each card's stems (text, phrases and Cuándo lines), the same
    leave-the-line-out rule for each Cuándo line."""
    from scipy import sparse  # imported here: a build uses the words' view or the engine's, never both

    from kb.retrieval.keywords import terms

    line_terms = [terms(line) for c in cards for line in c.when]
    text_terms = [terms(c.embedding_text()) for c in cards]
    vocabulary = {w: i for i, w in enumerate(sorted({w for ws in line_terms + text_terms for w in ws}))}
    owner = np.repeat(np.arange(len(cards)), [len(c.when) for c in cards])
    lines = _counts(line_terms, vocabulary)
    belongs = sparse.csr_matrix((np.ones(len(owner)), (owner, np.arange(len(owner)))), shape=(len(cards), len(owner)))
    counts = sparse.csr_matrix(_counts(text_terms, vocabulary) + belongs @ lines)
    df = np.asarray((counts > 0).sum(axis=0)).ravel()
    idf = np.log((1 + len(cards)) / (1 + df)) + 1
    matrix = _weighted(counts, idf)
    queries = _weighted(lines, idf)
    scores = np.asarray((queries @ matrix.T).todense())
    without = _weighted(sparse.csr_matrix(counts[owner] - lines), idf)  # each line's card without that line
    scores[np.arange(len(owner)), owner] = np.asarray(without.multiply(queries).sum(axis=1)).ravel()
    keys = [(c.id, line) for c in cards for line in c.when]
    pairs = np.asarray((matrix @ matrix.T).todense())
    return Closeness(WORDS, reason, [c.id for c in cards], pairs, dict(zip(keys, scores)))


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
