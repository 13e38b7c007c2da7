"""The one search path: free-text situation → the most relevant cards.

Both the CLI and the Streamlit panel call `Searcher.search`; nothing else ranks
cards. A response always says whether it is trustworthy (`low_confidence`), so a
caller can show an honest "no encuentro nada fiable" instead of confident-looking
wrong cards.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from kb.config import Settings, load_settings
from kb.content import FASES, Card
from kb.embedding import Embedder, load_embedder
from kb.index import LoadedIndex, check_model, index_signature, load_index

MAX_QUERY_CHARS = 500
MAX_K = 50


class QueryError(ValueError):
    """The query cannot be searched (empty, only symbols…); the message says why, in Spanish."""


@dataclass
class Result:
    card: Card
    score: float  # what results are ordered by: meaning + keyword bonus
    rank: int
    dense: float = 0.0  # meaning only: what confidence is judged on

    def to_dict(self, site_url: str) -> dict:
        c = self.card
        return {
            "id": c.id,
            "title": c.title,
            "heading": c.heading,
            "text": c.text,
            "url": site_url + c.path,
            "score": round(float(self.score), 4),
            "fase": c.fase,
            "tags": list(c.tags),
            "say": list(c.say),
            "avoid": list(c.avoid),
        }


@dataclass
class SearchResponse:
    query: str
    low_confidence: bool
    results: list[Result]
    notices: list[str] = field(default_factory=list)

    def to_dict(self, site_url: str) -> dict:
        return {
            "query": self.query,
            "low_confidence": self.low_confidence,
            "results": [r.to_dict(site_url) for r in self.results],
        }


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f]")


def clean_query(text: str) -> tuple[str, list[str]]:
    """Normalise what the user typed; returns (query, notices). Raises QueryError if nothing is left."""
    if not isinstance(text, str):
        raise QueryError("La consulta debe ser texto.")
    notices: list[str] = []
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub(" ", text)
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise QueryError("Escribe qué está pasando en la llamada, por ejemplo: «el cliente me grita y no me deja hablar».")
    if len(text) > MAX_QUERY_CHARS:
        cut = text[:MAX_QUERY_CHARS]
        text = cut.rsplit(" ", 1)[0] if " " in cut[-40:] else cut
        notices.append(f"La consulta era muy larga: se han usado solo los primeros {len(text)} caracteres.")
    if not any(ch.isalnum() for ch in text):
        raise QueryError("La consulta no tiene palabras. Describe la situación con palabras, por ejemplo: «quiere hablar con mi supervisor».")
    return text, notices


class Searcher:
    """A loaded model + index. Thread-safe; cheap to call many times."""

    def __init__(self, index: LoadedIndex, embedder: Embedder, settings: Settings):
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self.signature = index_signature(settings.index_dir)

    @classmethod
    def load(cls, settings: Settings | None = None, *, check_docs: bool = True) -> "Searcher":
        """Load the configured model and the current index.

        Raises kb.index.IndexMissing / IndexDamaged / IndexStale (each with a Spanish
        message and the command to fix it) and kb.embedding.ModelError.
        """
        settings = settings or load_settings()
        # The index is checked first: a missing, damaged or stale index is reported in
        # milliseconds instead of after the seconds it takes to load torch and the model.
        index = load_index(settings.index_dir, docs_dir=settings.docs_dir if check_docs else None)
        embedder = load_embedder(settings.model)
        check_model(index.manifest, embedder.model_id)
        return cls(index, embedder, settings)

    @property
    def cards(self) -> list[Card]:
        return self.index.cards

    @property
    def threshold(self) -> float:
        return self.index.threshold

    def is_current(self) -> bool:
        """False once a newer build has switched the index on disk."""
        return index_signature(self.settings.index_dir) == self.signature

    def search(
        self,
        query: str,
        k: int = 3,
        *,
        fase: str | None = None,
        tags: list[str] | None = None,
    ) -> SearchResponse:
        """Top-k cards for a situation typed in free text.

        `fase` and `tags` filter the results (a card must have the fase and every tag).
        Raises QueryError for an empty query and ValueError for an unknown fase.
        """
        text, notices = clean_query(query)
        if fase is not None and fase not in FASES:
            raise ValueError(f"Fase desconocida '{fase}'. Usa una de: {', '.join(FASES)}.")
        k = max(1, min(int(k), MAX_K))
        vector = self.embedder.encode_queries([text])
        results = self._rank(vector, text, k, fase, set(tags or []))
        best = max((r.dense for r in results[:3]), default=0.0)
        low = (not results) or best < self.threshold
        return SearchResponse(query=text, low_confidence=bool(low), results=results, notices=notices)

    def _rank(self, vector: np.ndarray, text: str, k: int, fase: str | None, tags: set[str]) -> list[Result]:
        total = len(self.index.cards)
        filtered = bool(fase or tags)
        fetch = min(total, k * 2 if not filtered else max(k * 10, 50))
        while True:
            results: list[Result] = []
            seen_text: set[str] = set()
            for idx, score, dense in self.index.top(vector, fetch, text):
                card = self.index.cards[idx]
                if fase and card.fase != fase:
                    continue
                if tags and not tags.issubset(card.tags):
                    continue
                key = card.text.strip().lower()
                if key in seen_text:
                    continue  # identical text under two headings: show it once
                seen_text.add(key)
                results.append(Result(card, float(score), len(results) + 1, float(dense)))
                if len(results) == k:
                    return results
            if fetch >= total:
                return results
            fetch = min(total, fetch * 4)


def search_once(query: str, k: int = 3, **filters) -> SearchResponse:
    """Convenience for scripts: load with default settings and search once."""
    return Searcher.load().search(query, k, **filters)


def site_url_for(settings: Settings, card: Card) -> str:
    return settings.site_url + card.path


__all__ = ["QueryError", "Result", "SearchResponse", "Searcher", "clean_query", "search_once", "site_url_for"]
