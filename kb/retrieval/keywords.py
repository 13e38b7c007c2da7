"""The keyword side of ranking: Spanish stems scored with BM25 (bm25s).

Why stems: agents type «se enfadó», the card says «cliente enfadado»; the Snowball Spanish
stemmer makes both `enfad`. Text is accent-folded before stemming, so «devolución» and
«devolucion» agree too. The production bonus (`Keywords`) and the BM25 baseline of
`kb eval` both go through `terms`, so the baseline is the same keyword engine minus the
dense side, and the comparison stays fair.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from kb.content.synonyms import Synonyms
from kb.text import tokenize

COMMON_WORD = 0.25
"""Stems in more than this share of the cards ("cliente", "llamada") get no keyword bonus."""
KEYWORDS_VERSION = "bm25s-snowball-es-1"
"""Recorded in the index manifest: a change in how keywords are scored changes calibration too."""


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("spanish")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Snowball Spanish stem of one folded word (cached: the same few thousand words recur)."""
    return str(_stemmer().stemWord(word))


def terms(text: str, synonyms: Synonyms | None = None) -> list[str]:
    """The keyword terms of a text: folded words without stopwords, variants read as their
    canonical word (docs/sinonimos.yml), stemmed."""
    words = tokenize(text)
    if synonyms is not None:
        words = synonyms.canonical(words)
    return [stem(w) for w in words]


def bm25_index(docs: list[list[str]]) -> Any:
    """A bm25s index over already-tokenised documents (None when there are none)."""
    if not docs:
        return None
    import bm25s

    index = bm25s.BM25()
    index.index(docs, show_progress=False)
    return index


def bm25_scores(index: Any, query: list[str], size: int) -> np.ndarray:
    """BM25 of `query` against every document (zeros when nothing can match)."""
    if index is None or not query:
        return np.zeros(size)
    return np.asarray(index.get_scores(query), dtype=float)


class Keywords:
    """BM25 over each card's text and situations, ignoring stems common to many cards."""

    def __init__(self, texts: list[str], synonyms: Synonyms | None = None):
        self.synonyms = synonyms
        docs = [terms(text, synonyms) for text in texts]
        self.size = len(docs)
        self.bm25 = bm25_index(docs)
        df: dict[str, int] = {}
        for doc in docs:
            for word in set(doc):
                df[word] = df.get(word, 0) + 1
        # Max-normalisation would hand one card the whole bonus for a word every card has.
        self.common = {w for w, n in df.items() if n > COMMON_WORD * len(docs)}
        self.vocabulary = set(df)

    def query_terms(self, words: str) -> list[str]:
        """The query's terms that can earn a bonus: known to some card and not common."""
        return [t for t in terms(words, self.synonyms) if t in self.vocabulary and t not in self.common]

    def bonus(self, words: str, cards: list[int], weight: float) -> np.ndarray:
        """`weight` × BM25 of `words` for each card in `cards`, relative to the best of them."""
        query = self.query_terms(words)
        if not query or not cards:
            return np.zeros(len(cards))
        scores = bm25_scores(self.bm25, query, self.size)[cards]
        top = float(np.max(scores))
        return weight * scores / top if top > 0 else np.zeros(len(cards))
