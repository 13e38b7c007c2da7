"""The one search path: free-text situation → the most relevant cards, and how they are serialised.

The CLI, the panel, exports and the API call `Searcher.search` and `card_json`; nothing
else ranks or serialises cards. A response always says whether it is trustworthy
(`low_confidence`), so a caller can show an honest "no encuentro nada fiable" instead of
confident-looking wrong cards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kb.config import Settings, load_settings
from kb.content import FASES, Card
from kb.embedding.encoders import Encoder, load_embedder
from kb.errors import IndexStale, KbError, QueryError
from kb.feedback.redact import redact
from kb.retrieval.scoring import Candidate, is_low_confidence
from kb.retrieval.store import LoadedIndex, check_docs, check_model, index_signature, load_index
from kb.search.filters import shown
from kb.search.passages import LONG_TEXT_CHARS, rank_sentences, split_sentences
from kb.text import MAX_QUERY_CHARS, CleanError
from kb.text import clean_query as _clean

MAX_K = 50


def card_json(card: Card, settings: Settings, score: float | None = None) -> dict[str, Any]:
    """A card as the JSON contract of `kb search --json`, `kb export` and the API (fields in this order).

    The action comes first after the card's name; `limit` and `legal` (the configured country's lines,
    KB_COUNTRY) only when the card has them."""
    out: dict[str, Any] = {"id": card.id, "title": card.title, "heading": card.heading, "action": card.action}
    if card.limit:
        out["limit"] = card.limit
    legal = card.legal_for(settings.country)
    if legal:
        out["legal"] = {"country": settings.country, "text": legal}
    out.update({"text": card.text, "url": settings.url_for(card.path)})
    if score is not None:
        out["score"] = round(float(score), 4)
    out.update({"fase": card.fase, "tags": list(card.tags), "say": list(card.say), "avoid": list(card.avoid)})
    if card.learned:  # what the contact centre's searches taught this card (kb.trainers.learning)
        out["learned"] = list(card.learned)
    return out


def clean_query(text: object) -> tuple[str, list[str]]:
    """Normalise what the user typed; returns (query, notices). Raises QueryError if nothing is left."""
    try:
        return _clean(text, MAX_QUERY_CHARS)
    except CleanError as exc:
        raise QueryError(str(exc)) from None


@dataclass
class Result:
    card: Card
    score: float  # what results are ordered by: meaning + classifier + keyword bonus (≤ MAX_SCORE)
    rank: int
    dense: float = 0.0  # meaning only: what confidence is judged on

    def to_dict(self, settings: Settings) -> dict[str, Any]:
        return card_json(self.card, settings, self.score)

    @property
    def candidate(self) -> Candidate:
        """What the confidence rule reads (kb.retrieval.scoring.is_low_confidence)."""
        return Candidate(self.rank, self.score, self.dense)


@dataclass
class SearchResponse:
    query: str
    low_confidence: bool
    results: list[Result]
    notices: list[str] = field(default_factory=list)
    outside: str | None = None
    """The known out-of-scope question this query is nearest to, when that made it low confidence
    (kb.retrieval.calibration.OUTSIDE_FILE): tells the agent what kind of question it looks like."""

    @property
    def outside_note(self) -> str | None:
        """What the panel and the CLI add to «no encuentro nada fiable» when `outside` is set."""
        if self.outside is None:
            return None
        return (
            f"Se parece a «{self.outside}», una consulta de producto o de trámite que estas guías no tratan: "
            "búscala en la información de producto o pásala al equipo que la lleve."
        )

    def to_dict(self, settings: Settings) -> dict[str, Any]:
        out: dict[str, Any] = {
            "query": self.query,
            "low_confidence": self.low_confidence,
            "results": [r.to_dict(settings) for r in self.results],
        }
        if self.outside is not None:
            out["outside"] = self.outside
        return out


WHOLE_TEXT_WEIGHT = 1.05
"""A long text is read sentence by sentence and also whole; the whole weighs a little more, because a
complaint told after its story often needs the story (chosen on the real register's dev split;
BENCHMARKS.md, «Registro real»)."""


class Searcher:
    """A loaded model + index. Thread-safe; cheap to call many times."""

    redact = True
    """Search on the redacted text (measured with kb eval: identical figures with and without, see
    README «Privacidad y acceso»), so what is shown and stored is what was searched."""

    def __init__(self, index: LoadedIndex, embedder: Encoder, settings: Settings):
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self.signature = index_signature(settings.index_dir)

    @classmethod
    def load(cls, settings: Settings | None = None, *, check_docs: bool = True) -> Searcher:
        """Load the configured model and the current index.

        Raises IndexMissing / IndexDamaged / IndexStale and ModelError (kb.errors), each with a
        Spanish message and the command to fix it."""
        settings = settings or load_settings()
        # The index is checked first: a missing, damaged or stale index is reported in
        # milliseconds instead of after the seconds it takes to load torch and the model.
        index = load_index(settings.index_dir, docs_dir=settings.docs_dir if check_docs else None)
        embedder = load_embedder(settings.model)
        check_model(index.manifest, embedder.model_id)
        return cls(index, embedder, settings)

    @classmethod
    def load_serving(cls, settings: Settings | None = None) -> tuple[Searcher, IndexStale | None]:
        """Load for something that keeps answering (the panel, the API): the searcher, and the
        IndexStale when the guides changed since the build (None when they did not).

        An agent mid-call keeps searching while a trainer edits guides: until the next build
        the index on disk answers with what it has, and the staleness comes back for the caller
        to show (the panel's rebuild notice) or log (the API). Anything that stops the index
        from answering at all (missing, damaged, another model or format: IndexProblem) and
        ModelError are raised. The one loader behind kb.panel.resources and kb.api.server."""
        settings = settings or load_settings()
        searcher = cls.load(settings, check_docs=False)
        try:
            check_docs(searcher.index.manifest, settings.docs_dir)
        except IndexStale as stale:
            return searcher, stale
        return searcher, None

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
        self, query: str, k: int = 3, *, fase: str | None = None, tags: list[str] | None = None
    ) -> SearchResponse:
        """Top-k cards for a situation typed in free text.

        `fase` and `tags` filter the results (a card must have the fase and every tag).
        Raises QueryError for an empty query or an unknown fase."""
        text, notices = clean_query(query)
        if self.redact:
            text = redact(text)  # the echo, the log and the API never carry a customer's data back
        if fase is not None and fase not in FASES:
            raise QueryError(f"Fase desconocida '{fase}'. Usa una de: {', '.join(FASES)}.")
        k = max(1, min(int(k), MAX_K))
        sentences = split_sentences(text) if len(text) > LONG_TEXT_CHARS else []
        if len(sentences) > 2:  # an e-mail, a chat or a story: the problem may be anywhere (kb.search.passages)
            weights = [1.0] * len(sentences)  # each sentence, and the whole: a complaint can need its story
            whole = (text, WHOLE_TEXT_WEIGHT)
            ranked = rank_sentences(
                self.index, self.embedder, sentences, weights, k, whole=whole, fase=fase, tags=tags or ()
            )
            results = [Result(card, score, rank, dense) for rank, (card, score, dense) in enumerate(ranked, 1)]
            outside = None  # sentence by sentence, the threshold alone judges (a long text mixes topics)
        else:
            vector = self.embedder.encode_queries([text])
            results = self._rank(vector, text, k, fase, set(tags or []))
            row = self.index.scorer.nearer_outside(vector)
            outside = self.index.outside[row] if row is not None else None
        low = is_low_confidence([r.candidate for r in results], self.threshold, outside is not None)
        return SearchResponse(query=text, low_confidence=low, results=results, notices=notices, outside=outside)

    def _rank(self, vector: np.ndarray, text: str, k: int, fase: str | None, tags: set[str]) -> list[Result]:
        total = len(self.index.cards)
        filtered = bool(fase or tags)
        fetch = min(total, k * 2 if not filtered else max(k * 10, 50))
        while True:
            results: list[Result] = []
            ranked = self.index.scorer.top(vector, fetch, text)
            for cand in shown(ranked, lambda c: self.index.cards[c.card], fase, tags):
                card = self.index.cards[cand.card]
                results.append(Result(card, float(cand.score), len(results) + 1, float(cand.dense)))
                if len(results) == k:
                    return results
            if fetch >= total:
                return results
            fetch = min(total, fetch * 4)


@dataclass
class Fallback:
    """The searcher that answered last in this process, and a newer build that could not be used.

    Why: after an update that changed the model, or when a build is damaged,
    the index on disk cannot be searched until someone rebuilds it; agents mid-call must keep
    searching with what was loaded. The API (`kb.api.server.SearcherSlot`) and the panel
    (`kb.panel.resources`) load differently but follow this one rule: keep the last good
    searcher, say why (`refused`), try the refused build once, and switch when the build on disk
    changes again. Only a process that never loaded anything has nothing to fall back on."""

    searcher: Searcher | None = None
    refused: KbError | None = None
    """Why the build now on disk is not used (None: it is)."""
    refused_build: str | None = None

    def holds(self, build: str) -> bool:
        """`build` (an index signature) was already refused and a searcher answers instead: do not retry."""
        return self.searcher is not None and self.refused is not None and build == self.refused_build

    def loaded(self, searcher: Searcher) -> None:
        """`searcher` loaded from the build on disk: it answers from now on."""
        self.searcher, self.refused, self.refused_build = searcher, None, None

    def failed(self, build: str, error: KbError) -> Searcher | None:
        """`build` could not be used: the searcher to keep answering with (None: nothing loaded yet,
        the caller reports `error`). The build is remembered so that it is tried only once."""
        if self.searcher is not None:
            self.refused, self.refused_build = error, build
        return self.searcher


__all__ = ["QueryError", "Result", "SearchResponse", "Searcher", "card_json", "clean_query"]
