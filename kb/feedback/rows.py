"""The rows the feedback store writes, built in one place for the waiting writes (`FeedbackStore.record_*`)
and the queued ones (`FeedbackStore.later`, kb.feedback.outbox): both redact the same way.

Everything a person typed is redacted here (kb.feedback.redact), before it reaches a queue, a
log line or the database.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import sqlalchemy as sa

from kb.feedback import database as db
from kb.feedback.redact import redact

FAILED_SIGN_IN = "inicio de sesión fallido"
LOCKED_SIGN_IN = "inicio de sesión bloqueado"
SIGN_IN_FAILURES = (FAILED_SIGN_IN, LOCKED_SIGN_IN)
"""Audit actions an attacker can multiply: purged with the searches and capped (FeedbackStore.purge)."""


class Row(NamedTuple):
    """One row to insert: its table and its values (already redacted)."""

    table: sa.Table
    values: dict[str, Any]


def clip_comment(comment: str | None) -> str:
    """A comment as stored: trimmed, cut at db.MAX_COMMENT characters, personal data redacted."""
    return redact((comment or "").strip())[: db.MAX_COMMENT]  # redacted whole: a cut must not split a number


def clip_query(query: str) -> str:
    """A query as stored: redacted whole, then cut to db.MAX_QUERY_BYTES of UTF-8 at a character boundary
    (what the report needs is what the agent meant, and the model itself reads far less of a paste)."""
    text = redact(query)
    data = text.encode("utf-8")
    return text if len(data) <= db.MAX_QUERY_BYTES else data[: db.MAX_QUERY_BYTES].decode("utf-8", "ignore")


def _logged(table: sa.Table, query: str, session: str | None, **columns: Any) -> Row:
    """When (UTC), which session, what was asked (redacted, clipped), and the rest."""
    stamp = db.iso_utc(db._utcnow())
    return Row(table, {"created_at": stamp, "session": session, "query": clip_query(query), **columns})


def search_row(
    query: str,
    *,
    session: str | None = None,
    fase_filter: str | None = None,
    top_card_id: str | None = None,
    top_fase: str | None = None,
    top_score: float | None = None,
    low_confidence: bool = False,
    results: int = 0,
) -> Row:
    """One search, for the report (frequent queries and content gaps)."""
    return _logged(
        db.searches,
        query,
        session,
        fase_filter=fase_filter,
        top_card_id=top_card_id,
        top_fase=top_fase,
        top_score=None if top_score is None else float(top_score),
        low_confidence=int(bool(low_confidence)),
        results=int(results),
    )


def vote_row(
    query: str,
    card_id: str,
    rank: int,
    score: float,
    vote: int,
    *,
    comment: str | None = None,
    session: str | None = None,
    fase: str | None = None,
) -> Row:
    """One 👍 (vote=1) or 👎 (vote=-1) on a result; the comment is cut at db.MAX_COMMENT characters."""
    if vote not in (1, -1):
        raise ValueError("vote debe ser 1 (👍) o -1 (👎)")
    return _logged(
        db.feedback,
        query,
        session,
        card_id=card_id,
        rank=int(rank),
        score=float(score),
        vote=int(vote),
        comment=clip_comment(comment) or None,
        fase=fase,
    )


def audit_row(who: str, action: str, detail: str | None = None) -> Row:
    """Who did what (a sign-in, a purge, an export…)."""
    return Row(
        db.audit,
        {
            "created_at": db.iso_utc(db._utcnow()),
            "who": who,
            "action": action,
            "detail": redact(detail) if detail else detail,
        },
    )


__all__ = [
    "FAILED_SIGN_IN",
    "LOCKED_SIGN_IN",
    "SIGN_IN_FAILURES",
    "Row",
    "audit_row",
    "clip_comment",
    "search_row",
    "vote_row",
]
