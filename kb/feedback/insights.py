"""What trainers learn from the feedback store beyond the report's counts: no Streamlit here.

The trainers' page (kb/panel/trainers.py) only lays these out, so every rule is unit
tested without a browser:

* `gap_groups`: searches with no trustworthy answer, grouped by meaning (cosine similarity
  of the query vectors) so "me grita" and "está gritando" are one content gap, not two;
* (the 👍 searches a trainer may accept as situations of a card live in kb.trainers.learning);
* `down_comments`: the 👎 comments, each with its card;
* `since_days`: the start of a 7 / 30 / 90-day window.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa

from kb.feedback.database import feedback, searches, select_since
from kb.feedback.store import FeedbackStore
from kb.text import comparable

RANGES: dict[str, int] = {"7 días": 7, "30 días": 30, "90 días": 90}
"""The date ranges offered on the trainers' page (label → days)."""
GROUP_SIMILARITY = 0.80
"""Cosine similarity at which two gap queries count as the same need. Measured on the panel's model:
rewordings of one request score 0.84–0.95 («receta de paella» / «cómo se hace una paella valenciana»),
different requests 0.5–0.75 («qué tiempo hará mañana» / «a qué hora abre la tienda»: 0.73)."""
EXAMPLES = 3
MAX_ROWS = 2000
"""Rows read per question: a 90-day window on a busy team stays fast to embed and group."""


@dataclass
class GapGroup:
    """Low-confidence searches that mean the same thing: how many and a few ways agents put it."""

    size: int
    examples: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Comment:
    created_at: str
    card_id: str
    query: str
    comment: str


def since_days(days: int, now: datetime | None = None) -> datetime:
    """Start of the window of the last `days` days (UTC)."""
    return (now or datetime.now(UTC)) - timedelta(days=days)


def _counted(queries: Iterable[str]) -> list[tuple[str, int]]:
    """Distinct queries (by `kb.text.comparable`), most frequent first, keeping the first spelling seen."""
    counts: Counter[str] = Counter()
    spelling: dict[str, str] = {}
    for query in queries:
        key = comparable(query)
        if key:
            counts[key] += 1
            spelling.setdefault(key, " ".join(query.split()))
    return [(spelling[k], n) for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def gap_groups(
    queries: Iterable[str], encode: Callable[[list[str]], np.ndarray], threshold: float = GROUP_SIMILARITY
) -> list[GapGroup]:
    """Group low-confidence queries by meaning, biggest group first.

    Greedy on frequency: the most frequent query opens a group, and each next query joins
    the group whose opener is most similar if that similarity reaches `threshold`. Openers
    are real queries (not centroids), so a group never drifts away from what it names.
    `encode` returns unit rows (the model's `encode_queries`), so a dot product is the cosine."""
    counted = _counted(queries)
    if not counted:
        return []
    vectors = np.asarray(encode([q for q, _ in counted]), dtype=np.float32)
    openers: list[int] = []
    groups: list[GapGroup] = []
    for i, (query, times) in enumerate(counted):
        if openers:
            sims = vectors[openers] @ vectors[i]
            best = int(np.argmax(sims))
            if sims[best] >= threshold:
                group = groups[best]
                group.size += times
                if len(group.examples) < EXAMPLES:
                    group.examples.append(query)
                continue
        openers.append(i)
        groups.append(GapGroup(times, [query]))
    return sorted(groups, key=lambda g: -g.size)


# ------------------------------------------------------------------ reading the store


def _rows(store: FeedbackStore, stmt: sa.Select[Any]) -> list[tuple[Any, ...]]:
    return store.read(lambda conn: [tuple(r) for r in conn.execute(stmt)])


def gap_queries(store: FeedbackStore, since: datetime | None, limit: int = MAX_ROWS) -> list[str]:
    """Low-confidence queries in the window, newest first."""
    s = searches
    stmt = sa.select(s.c.query).where(s.c.low_confidence == 1).order_by(s.c.id.desc()).limit(limit)
    return [q for (q,) in _rows(store, select_since(stmt, s, since))]


def down_comments(store: FeedbackStore, since: datetime | None, limit: int = 50) -> list[Comment]:
    """The 👎 votes that came with a comment, newest first."""
    f = feedback
    stmt = (
        sa.select(f.c.created_at, f.c.card_id, f.c.query, f.c.comment)
        .where(f.c.vote == -1, f.c.comment.is_not(None), f.c.comment != "")
        .order_by(f.c.id.desc())
        .limit(limit)
    )
    return [Comment(*row) for row in _rows(store, select_since(stmt, f, since))]


__all__ = [
    "EXAMPLES",
    "GROUP_SIMILARITY",
    "RANGES",
    "Comment",
    "GapGroup",
    "down_comments",
    "gap_groups",
    "gap_queries",
    "since_days",
]
