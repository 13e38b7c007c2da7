"""The contact centre's own words teach search: agents' 👍 become situations of a card.

An agent's 👍 on a result says «for what I typed, this card was right». Those searches, already
stored redacted (kb.feedback.store), are candidate situations of the card; a trainer accepts or rejects
each one (the trainers' page or `kb learn`), and the next build adds the accepted ones to the card's
situations without touching the markdown. A rejected one is never proposed again.

A long search teaches through one clause, the one nearest to the card's own Cuándo lines: a whole
story would also teach its incidental words (BENCHMARKS.md, «Aprender de las búsquedas»).

    >>> for c in candidates(store, cards): print(c.card_id, c.query, c.evidence)  # doctest: +SKIP
    >>> decide(store, c.card_id, c.query, accept=True, who="lucia")               # doctest: +SKIP
    >>> build_index(docs, index, encoder, learned=accepted(store))               # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from kb.config import Settings
from kb.content import Card
from kb.embedding.encoders import Encoder
from kb.errors import StoreError, UsageError
from kb.feedback.redact import KINDS, holds_personal
from kb.search.passages import is_long, split_sentences
from kb.text import comparable

if TYPE_CHECKING:  # the store is only passed in: building an index never opens the database itself
    from kb.feedback.store import FeedbackStore

MAX_CHARS = 500
"""A search longer than this is a pasted e-mail or chat: too much of it is not the situation."""


@dataclass(frozen=True)
class Suggestion:
    """An agent's search proposed as a situation of a card, with what the agents did with it."""

    card_id: str
    query: str
    up: int
    down: int
    sessions: int
    last: str

    @property
    def key(self) -> str:
        """A short stable name for this suggestion (`kb learn --accept KEY`), the same in every listing."""
        return hashlib.sha256(f"{self.card_id}\n{self.query}".encode()).hexdigest()[:8]

    @property
    def evidence(self) -> str:
        """In Spanish, for the trainer: how many 👍 and 👎, from how many panel sessions, and when."""
        down = f", 👎 ×{self.down}" if self.down else ""
        return f"👍 ×{self.up}{down} en {self.sessions} sesión(es); la última, {self.last[:10]}"


def personal(query: str) -> bool:
    """The query holds personal data, or held some (kb.feedback.redact left its token): never a situation."""
    return any(token in query for token in KINDS) or holds_personal(query)


def candidates(store: FeedbackStore, cards: Iterable[Card]) -> list[Suggestion]:
    """Searches that agents rated 👍 on a card more often than 👎, not yet decided, not already one
    of the guides' situations and free of personal data; most 👍 first."""
    known = {c.id: c for c in cards}
    lines = {comparable(line) for c in known.values() for line in c.when}
    decided = {(r["card_id"], r["query"]) for r in store.rows("learned")}
    votes: dict[tuple[str, str], list[Mapping]] = {}
    for row in store.rows("feedback"):
        votes.setdefault((row["card_id"], row["query"].strip()), []).append(row)
    out = []
    for (card_id, query), rows in votes.items():
        up = sum(1 for r in rows if r["vote"] == 1)
        down = len(rows) - up
        usable = card_id in known and comparable(query) not in lines and 0 < len(query) <= MAX_CHARS
        if up > down and usable and (card_id, query) not in decided and not personal(query):
            sessions = len({r["session"] or f"#{r['id']}" for r in rows})
            out.append(Suggestion(card_id, query, up, down, sessions, max(r["created_at"] for r in rows)))
    return sorted(out, key=lambda s: (-s.up, s.down, s.card_id, s.query))


def decide(store: FeedbackStore, card_id: str, query: str, *, accept: bool, who: str, evidence: str = "") -> None:
    """Store a trainer's verdict and note it in the audit trail, for the panel and `kb learn` alike.
    Raises UsageError for a search that holds personal data, so such a text can never reach the
    index, whatever a caller passes in."""
    if personal(query):
        raise UsageError("Esa búsqueda contiene datos personales: no se puede usar como situación.")
    store.record_decision(card_id, query, "accepted" if accept else "rejected", who, evidence)
    store.record_audit(who, f"situación {'aceptada' if accept else 'rechazada'}", f"{card_id}: {query}")


def accepted(store: FeedbackStore) -> dict[str, list[str]]:
    """Card id → the searches a trainer accepted for it, oldest decision first."""
    out: dict[str, list[str]] = {}
    for row in store.rows("learned"):
        if row["status"] == "accepted" and not personal(row["query"]):
            out.setdefault(row["card_id"], []).append(row["query"])
    return out


def clause(query: str, card_lines: np.ndarray, encoder: Encoder) -> str:
    """What a search teaches: itself when short, else its sentence nearest to the card's own lines
    (`card_lines`: their query vectors)."""
    sentences = split_sentences(query) if is_long(query) else []
    if len(sentences) < 2 or not len(card_lines):
        return query
    similarity = encoder.encode_queries(sentences) @ card_lines.T
    return sentences[int(similarity.max(axis=1).argmax())]


def with_learned(cards: Sequence[Card], learned: Mapping[str, list[str]], encoder: Encoder) -> list[Card]:
    """The cards with their accepted searches added to their situations (`Card.learned` says which)."""
    out = []
    for card in cards:
        own_lines = {comparable(w) for w in card.when}
        taught = [q for key in (card.id, *card.former) for q in learned.get(key, [])]  # a merged card keeps its own
        queries = [q for q in dict.fromkeys(taught) if comparable(q) not in own_lines]
        if not queries:
            out.append(card)
            continue
        own = encoder.encode_queries(card.when) if any(is_long(q) for q in queries) else np.zeros((0, 1))
        lines = list(dict.fromkeys(clause(q, own, encoder) for q in queries))
        out.append(replace(card, when=[*card.when, *lines], learned=lines))
    return out


def learned_for(settings: Settings, warn: Callable[[str], object]) -> dict[str, list[str]]:
    """The accepted searches of the configured feedback database, for a build. A database that
    cannot be read costs the build its learned situations (said through `warn`), never the build;
    a SQLite file that does not exist yet has none (and is not created for this)."""
    from kb.feedback.store import FeedbackStore

    if not settings.database_url and not settings.feedback_db.exists():
        return {}
    store = FeedbackStore(settings.database)
    try:
        return accepted(store)
    except StoreError as exc:
        warn(f"No se han podido leer las situaciones aprendidas ({exc.message}): se construye sin ellas.")
        return {}
    finally:
        store.close()
