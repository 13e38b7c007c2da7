"""Which card does a query belong to, judged by its letters: naive Bayes over character n-grams.

Why: the card classifier (kb.retrieval.classifier) reads the models' vectors; this one reads the
text itself. Pieces of words («reembols», «grit», «supervis») survive typos, missing accents,
regional endings and pasted customer quotes that move a sentence vector elsewhere. On the Cuándo
lines' 5-fold cross-validation, a third of the classifier's weight given to this view raises
hit@1 from 0.583 to 0.648 (BENCHMARKS.md).

The features are exactly scikit-learn's `TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5),
sublinear_tf=True)` on accent-folded text, and the model is `MultinomialNB(alpha=0.01)`; both are
written out here (a test checks them against scikit-learn) because they are a few lines of closed
form, and because the index must be stored as FAISS plus JSON, never unpickled. Closed form also
means no iterations: an incremental build gives the very same model as a full one, in milliseconds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import faiss
import numpy as np

from kb.text import fold

SHORTEST, LONGEST = 3, 5
"""n-gram lengths, inside word boundaries (words padded with a space). 2–4 and 3–5 tried; 3–5 best."""
ALPHA = 0.01
"""Additive smoothing of naive Bayes: 0.001–0.03 tried on the lines' cross-validation; 0.01 best."""
SHARE = 1 / 3
"""Share of this view in the classifier's probability; the vectors' classifier keeps the rest.
1/5, 1/3 and 1/2 tried on the lines' cross-validation; 1/3 best."""
VERSION = f"char-nb-{SHORTEST}{LONGEST}-a{ALPHA:g}-s{SHARE:.3f}-pieces2-unstressed"
"""Recorded in the manifest (kb.retrieval.scoring.scoring_signature): another recipe makes the index stale."""


def ngrams(text: str) -> list[str]:
    """The character n-grams of `text`, lowercased and accent-folded, word by word; a word shorter
    than n gives itself once (scikit-learn's `char_wb`)."""
    return [gram for word in text.split() for gram in _word_ngrams(word)]


@lru_cache(maxsize=1 << 16)
def _word_ngrams(word: str) -> tuple[str, ...]:
    """The n-grams of one word as written. Cached because the same few thousand words make up every
    line, sentence and query: a build spends most of the letters' training here otherwise."""
    grams: list[str] = []
    for folded in fold(word).split():  # folding can split a word (a spacing accent such as «¨»)
        padded = f" {folded} "
        size = len(padded)  # at least 3: a letter and its two spaces
        for n in range(SHORTEST, min(LONGEST, size) + 1):
            grams += [padded[i : i + n] for i in range(size - n + 1)]
    return tuple(grams)


def _tfidf(
    docs: list[Counter[str]], columns: dict[str, int], idf: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The unit tf-idf vectors of `docs` (n-gram counts, known n-grams only) as sparse triples
    (row, column, value): sublinear tf (1 + ln count) times idf, each row scaled to length 1.
    One recipe for training (every text at once) and for a query."""
    rows = np.repeat(np.arange(len(docs)), [len(doc) for doc in docs])
    cols = np.array([columns[g] for doc in docs for g in doc], dtype=np.int64)
    values = (1 + np.log(np.array([c for doc in docs for c in doc.values()], dtype=np.float64))) * idf[cols]
    values /= np.sqrt(np.bincount(rows, weights=values**2, minlength=len(docs)))[rows]
    return rows, cols, values


@dataclass(frozen=True)
class CharacterClassifier:
    """Naive Bayes over the n-grams seen at build time (`columns`, n-gram → column): `idf` one value a
    column, `log_prob` (cards × columns) and `log_prior` one value a card."""

    columns: dict[str, int]
    idf: np.ndarray
    log_prob: np.ndarray
    log_prior: np.ndarray

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(columns, values) of the unit tf-idf vector of `text`, over the known n-grams only."""
        counts = Counter(gram for gram in ngrams(text) if gram in self.columns)
        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        _, cols, values = _tfidf([counts], self.columns, self.idf)
        return cols, values.astype(np.float32)

    def probabilities(self, text: str) -> np.ndarray:
        """p(card | text): one value a card, sum 1. A text with no known n-gram gets the prior."""
        cols, values = self.features(text)
        joint = self.log_prob[:, cols] @ values + self.log_prior
        odds = np.exp(joint - joint.max())
        return np.asarray(odds / odds.sum(), dtype=np.float32)

    @classmethod
    def fit(cls, texts: list[str], owner: np.ndarray) -> CharacterClassifier | None:
        """Train on `texts` labelled with their card (`owner`, cards numbered from 0). None with fewer
        than two cards: there is nothing to tell apart."""
        cards = int(owner.max()) + 1 if len(owner) else 0
        if cards < 2:
            return None
        docs = [Counter(ngrams(text)) for text in texts]
        frequency = Counter(gram for doc in docs for gram in doc)  # in how many texts each n-gram is
        if not frequency:
            return None
        columns = {gram: i for i, gram in enumerate(sorted(frequency))}
        idf = np.log((1 + len(docs)) / (1 + np.array([frequency[g] for g in columns], dtype=np.float64))) + 1
        rows, cols, values = _tfidf(docs, columns, idf)
        totals = np.full((cards, len(columns)), ALPHA, dtype=np.float64)
        np.add.at(totals, (owner[rows], cols), values)
        log_prob = np.log(totals) - np.log(totals.sum(axis=1, keepdims=True))
        log_prior = np.log(np.bincount(owner, minlength=cards) / len(owner))
        idf = idf.astype(np.float32)
        return cls(columns, idf, log_prob.astype(np.float32), log_prior.astype(np.float32))

    def manifest(self) -> dict[str, Any]:
        """What the manifest keeps beside `characters.faiss`: the n-grams in column order and the prior."""
        return {
            "ngrams": sorted(self.columns, key=self.columns.__getitem__),
            "log_prior": [float(v) for v in self.log_prior],
        }

    def weights_index(self) -> Any:
        """The flat FAISS index stored in `characters.faiss`: `log_prob`, one row a card, then one
        row of `idf` (the other half of `from_stored`)."""
        index = faiss.IndexFlatIP(len(self.columns))
        index.add(np.ascontiguousarray(np.vstack([self.log_prob, self.idf[None, :]]), dtype=np.float32))
        return index

    @classmethod
    def from_stored(cls, weights: Any, stored: Any, cards: int) -> CharacterClassifier:
        """The classifier of `cards` cards from `characters.faiss` (`weights`) and its manifest entry
        (`stored`). Raises ValueError when they do not agree (the caller reports a damaged index)."""
        grams, prior = stored["ngrams"], stored["log_prior"]
        if len(grams) != weights.d or len(prior) != cards or weights.ntotal != cards + 1:
            raise ValueError("character classifier shape")
        rows = weights.reconstruct_n(0, weights.ntotal)
        return cls({gram: i for i, gram in enumerate(grams)}, rows[-1], rows[:-1], np.asarray(prior, np.float32))
