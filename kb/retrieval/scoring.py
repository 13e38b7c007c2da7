"""How cards are ranked for one query: meaning (situations + text) fused, then a keyword bonus.

Pure: it takes vectors and cards already loaded and returns scored candidates; it reads
no file and loads no model, so the same ranking serves search, calibration and eval.

A card's dense score is WHEN_WEIGHT × (best match among its situations, written in the
agent's words) + (1 − WHEN_WEIGHT) × (match with its text). Short situations match what
agents type far better than advice prose does (see BENCHMARKS.md). Two terms then reorder
the candidates: how much less likely than the best candidate the query belongs to the card,
as a log-probability from a classifier trained on all the card's situations
(`kb.retrieval.classifier`), and a keyword bonus relative to the best candidate. Neither
says whether the knowledge base answers the query at all: confidence is judged on the dense
score only (`is_low_confidence`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from kb.content import Card
from kb.content.synonyms import Synonyms
from kb.retrieval.classifier import VERSION as CLASSIFIER_VERSION
from kb.retrieval.classifier import CardClassifier
from kb.retrieval.keywords import KEYWORDS_VERSION, Keywords
from kb.text import QUERY_FORM

WHEN_WEIGHT = 0.7
"""Share of the situations in a card's dense score (BENCHMARKS.md, «De dónde sale cada constante»)."""
KEYWORD_WEIGHT = 0.1
"""Weight of BM25 (normalised to the best candidate) added to the dense score: it catches the exact
words (twitter, jefe, reembolso) that small embedding models blur (BENCHMARKS.md, «De dónde sale cada constante»)."""
CLASSIFIER_WEIGHT = 0.15
"""Weight of the classifier's evidence, log p(card | query) minus the best candidate's (the views pooled as
a product of experts, `CardClassifier.log_probabilities`), added to the dense score. Chosen on the Cuándo
lines' cross-validation by commits and real/dev, never on the eval set: the middle of a flat plateau
(BENCHMARKS.md, «De dónde sale cada constante»)."""
CLASSIFIER_POOLING = "product-of-experts"
"""How the classifier's views are pooled before they reach the score (recorded in the manifest)."""
MAX_SCORE = 1.0 + KEYWORD_WEIGHT
"""Upper bound of `Candidate.score` (meaning ≤ 1, keyword bonus ≤ KEYWORD_WEIGHT, classifier evidence ≤ 0:
it only takes from the cards the classifier believes less than the best one). The score orders results
and is comparable within one query, it is not a probability."""
CONFIDENCE_TOP = 3
"""Confidence is the best dense score among this many top results (what an agent looks at)."""


def scoring_signature() -> dict[str, object]:
    """How cards are scored, as the index manifest records it: an index built under other weights
    or another keyword or classifier version is stale (calibration depends on all of them)."""
    return {
        "when_weight": WHEN_WEIGHT,
        "keyword_weight": KEYWORD_WEIGHT,
        "keywords": KEYWORDS_VERSION,
        "classifier_weight": CLASSIFIER_WEIGHT,
        "classifier_version": CLASSIFIER_VERSION,
        "classifier_pooling": CLASSIFIER_POOLING,
        "query_form": QUERY_FORM,
    }


def situation_rows(cards: list[Card]) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, owner) of the cards' situations, stored card by card: card i's lines are rows
    offsets[i]:offsets[i + 1], and owner[row] is the card a row belongs to. One layout for the
    scorer and for the classifier's training labels."""
    counts = [len(c.when) for c in cards]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return offsets, np.repeat(np.arange(len(cards)), counts).astype(np.int64)


@dataclass(frozen=True)
class Candidate:
    """One scored card: `score` orders results (meaning + classifier evidence + keywords), `dense` is meaning only."""

    card: int
    score: float
    dense: float


def is_low_confidence(candidates: list[Candidate], threshold: float, nearer_outside: bool = False) -> bool:
    """The one rule for "no encuentro nada fiable": no candidate, the best meaning score among the
    first CONFIDENCE_TOP under the calibrated threshold, or the query nearer to a question the guides
    do not answer than to any of their situations (`HybridScorer.nearer_outside`).

    Why both: the threshold alone cannot tell «cuánto tarda un envío» (near the guides' words about
    orders and waiting) from an agent's real situation without flagging many real ones; the nearest
    known question can, because it compares the query with both sides instead of with a line."""
    best = max((c.dense for c in candidates[:CONFIDENCE_TOP]), default=None)
    return best is None or best < threshold or nearer_outside


def best_dense(candidates: list[Candidate]) -> float:
    """The score `is_low_confidence` compares with the threshold (0 when there is no candidate)."""
    return max((c.dense for c in candidates[:CONFIDENCE_TOP]), default=0.0)


class HybridScorer:
    """Ranks the cards of one index: FAISS over card texts and over situations, plus keywords."""

    def __init__(
        self,
        cards: list[Card],
        text_index: Any,
        when_index: Any,
        synonyms: Synonyms | None = None,
        outside_index: Any = None,
        classifier: CardClassifier | None = None,
    ):
        self.cards = cards
        self.classifier = classifier
        """p(card | query) from the cards' situations (None: one card, or a scorer built without it)."""
        self.synonyms = synonyms
        self.text_index = text_index
        self.when_index = when_index
        self.outside_index = outside_index
        """Vectors of known out-of-scope questions (None: the nearest-question rule is off)."""
        self.offsets, self.owner = situation_rows(cards)

    @cached_property
    def keywords(self) -> Keywords:
        return Keywords([c.embedding_text() + " " + " ".join(c.when) for c in self.cards], self.synonyms)

    def _dense(self, query: np.ndarray, fetch: int) -> dict[int, float]:
        """Exact dense score of every candidate from either index (missing halves are recomputed)."""
        scores, ids = self.text_index.search(query, fetch)
        text = {int(i): float(s) for s, i in zip(scores[0], ids[0]) if i >= 0}
        when: dict[int, float] = {}
        rows = self.when_index.ntotal if self.when_index is not None else 0
        if rows:
            w_scores, w_ids = self.when_index.search(query, min(rows, fetch * 4))
            for s, i in zip(w_scores[0], w_ids[0]):
                if i >= 0:
                    when.setdefault(int(self.owner[i]), float(s))  # sorted: first row is the card's best
        q = query[0]
        out: dict[int, float] = {}
        for card in set(text) | set(when):
            t = text.get(card)
            if t is None:
                t = float(self.text_index.reconstruct(card) @ q)
            start, end = int(self.offsets[card]), int(self.offsets[card + 1])
            best = when.get(card)
            if start == end:
                w = t  # a card without situations is judged on its text alone
            elif best is not None:
                w = best
            else:
                w = float((self.when_index.reconstruct_n(start, end - start) @ q).max())
            out[card] = WHEN_WEIGHT * w + (1 - WHEN_WEIGHT) * t
        return out

    def nearer_outside(self, query: np.ndarray) -> int | None:
        """The row of the out-of-scope question nearer to the query (shape (1, dim)) than every
        situation of every card, or None. A plain nearest-neighbour vote: no margin to tune."""
        if self.outside_index is None or not self.outside_index.ntotal or not self.when_index.ntotal:
            return None
        out_scores, out_ids = self.outside_index.search(query, 1)
        when_scores, _ = self.when_index.search(query, 1)
        return int(out_ids[0][0]) if out_scores[0][0] > when_scores[0][0] else None

    def top(self, query: np.ndarray, n: int, words: str | None = None) -> list[Candidate]:
        """The n best candidates for one query vector (shape (1, dim)), best first.

        The classifier's evidence and, with the query text (`words`), the keyword bonus re-score the
        candidates, both relative to the best candidate; `Candidate.dense` stays the meaning score alone."""
        total = self.text_index.ntotal
        if total == 0:
            return []
        dense = self._dense(query, min(total, max(n * 4, 50)))
        ids = list(dense)
        bonus = self.keywords.bonus(words, ids, KEYWORD_WEIGHT) if words and KEYWORD_WEIGHT else np.zeros(len(ids))
        if self.classifier is not None and CLASSIFIER_WEIGHT:
            evidence = self.classifier.log_probabilities(query, words)[ids]
            bonus = bonus + CLASSIFIER_WEIGHT * (evidence - evidence.max())
        ranked = sorted(
            (Candidate(c, dense[c] + float(b), dense[c]) for c, b in zip(ids, bonus)), key=lambda cand: -cand.score
        )
        return ranked[:n]
