"""What agents searched for and how useful the answers were, in SQLite or PostgreSQL (kb.feedback.database).

    >>> store = FeedbackStore("feedback.db")                      # a SQLite file (default)
    >>> store = FeedbackStore("postgresql+psycopg://kb@db/kb")    # or a server shared by many panels
    >>> vote_id = store.record_vote("me grita", "guias/a#x", 1, 0.8, 1)

Nothing touches the database in `__init__` (a panel must start when the server is down;
`available()` answers without raising). Writes are retried with back-off on connection-level
failures, then raise `StoreError`. Everything stored is redacted first (kb.feedback.redact), and rows
older than KB_RETENTION_DAYS are deleted (first write, then daily; `kb purge` on demand).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from filelock import Timeout as LockTimeout
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from kb.errors import StoreError, os_reason
from kb.feedback import database as db
from kb.feedback.redact import redact

T = TypeVar("T")
FeedbackError = StoreError
"""The old name: every failure here is a `StoreError`."""
PURGE_EVERY_S = 24 * 3600
"""Retention runs when a store is first used and then at most once a day per process."""


def _utcnow() -> datetime:
    """The clock, in one place so tests can move it."""
    return datetime.now(UTC)


def clip_comment(comment: str | None) -> str:
    """A comment as stored: trimmed, cut at db.MAX_COMMENT characters, personal data redacted."""
    return redact((comment or "").strip())[: db.MAX_COMMENT]  # redacted whole: a cut must not split a number


class FeedbackStore:
    """The feedback database at `url_or_path`: a SQLite file path, or a SQLAlchemy URL.

    Cheap to construct and never raises for an unreachable database; the schema is
    created or upgraded on first use."""

    def __init__(self, url_or_path: str | Path, *, retention_days: int | None = None) -> None:
        self.target = url_or_path
        self.retention_days = retention_days
        self._last_purge = 0.0
        self.path: Path | None = None if db.is_url(url_or_path) else Path(url_or_path)
        self._ready = False
        self._setup_lock = threading.Lock()  # the panel's sessions are threads of one process
        self._engine: Engine | None = None
        self._bad_url: str | None = None
        try:
            self.url: URL = (
                make_url(str(url_or_path)) if self.path is None else URL.create("sqlite", database=str(self.path))
            )
            self._engine = db.make_engine(self.url)
        except (ArgumentError, ImportError, ValueError) as exc:  # a typo in the URL, a missing driver
            self.url = URL.create("invalid")
            self._bad_url = str(exc)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise StoreError(
                f"La dirección de la base de datos de valoraciones no es válida ({self._bad_url}). "
                "Revisa KB_DATABASE_URL (p. ej. postgresql+psycopg://usuario@servidor/kb)."
            )
        return self._engine

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    def where(self) -> str:
        """The database for messages, without a password."""
        return str(self.path) if self.path is not None else self.url.render_as_string(hide_password=True)

    def _ensure_ready(self) -> None:
        """Create or upgrade the schema once per store (and once across processes)."""
        if self._ready:
            return
        with self._setup_lock:
            if self._ready:
                return
            engine = self.engine
            if self.path is not None:
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StoreError(
                        f"No se puede crear la carpeta de {self.path} ({os_reason(exc)}). "
                        "Revisa la ruta en KB_FEEDBACK_DB y sus permisos."
                    ) from None
            db.migrate(engine, self.path)
            self._ready = True
        self._retain()  # retention "at start": the first use of a store in this process

    def connect(self) -> Connection:
        """A connection to an up-to-date schema (callers close it); raises StoreError."""
        return self._run(lambda: self.engine.connect(), "abrir")

    def available(self) -> bool:
        """Whether the database answers now (for the panel to say "valoraciones no disponibles")."""
        try:
            self._run(self._ping, "abrir", retry=False)
            return True
        except StoreError:
            return False

    def _ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.select(1))

    def close(self) -> None:
        """Close every pooled connection (tests, and before a process forks)."""
        if self._engine is not None:
            self._engine.dispose()

    def _run(self, work: Callable[[], T], action: str, *, retry: bool = True) -> T:
        """`work()` on a ready schema, retried with back-off on db.transient failures; else StoreError."""
        started = time.monotonic()
        for attempt in range(db.WRITE_TRIES if retry else 1):
            try:
                self._ensure_ready()
                return work()
            except StoreError:
                raise
            except (SQLAlchemyError, OSError, LockTimeout) as exc:
                last = exc
                if not retry or not db.transient(exc, self.dialect) or attempt == db.WRITE_TRIES - 1:
                    break
                delay = db.BACKOFF_S[min(attempt, len(db.BACKOFF_S) - 1)]
                if time.monotonic() - started + delay > db.RETRY_BUDGET_S:
                    break
                time.sleep(delay)
        raise db.store_error(action, last, self.where(), is_file=self.path is not None)

    def _insert(self, table: sa.Table, values: dict[str, Any]) -> int:
        self._retain()

        def work() -> int:
            with self.engine.begin() as conn:
                key = conn.execute(sa.insert(table).values(**values)).inserted_primary_key
                assert key is not None  # a single-row INSERT always has one
                return int(key[0])

        return self._run(work, "guardar")

    def _log(self, table: sa.Table, query: str, session: str | None, **columns: Any) -> int:
        """One logged row: when (UTC), which panel session, what was asked (redacted), and the rest."""
        row = {"created_at": db.iso_utc(_utcnow()), "session": session, "query": redact(query), **columns}
        return self._insert(table, row)

    def record_search(
        self,
        query: str,
        *,
        session: str | None = None,
        fase_filter: str | None = None,
        top_card_id: str | None = None,
        top_fase: str | None = None,
        top_score: float | None = None,
        low_confidence: bool = False,
        results: int = 0,
    ) -> int:
        """Log one search (for the report: frequent queries and content gaps). The query is redacted."""
        return self._log(
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

    def record_vote(
        self,
        query: str,
        card_id: str,
        rank: int,
        score: float,
        vote: int,
        *,
        comment: str | None = None,
        session: str | None = None,
        fase: str | None = None,
    ) -> int:
        """Store one 👍 (vote=1) or 👎 (vote=-1) on a result; returns its id for `add_comment`.
        Query and comment are redacted; the comment is cut at db.MAX_COMMENT characters."""
        if vote not in (1, -1):
            raise ValueError("vote debe ser 1 (👍) o -1 (👎)")
        comment = clip_comment(comment) or None
        return self._log(
            db.feedback,
            query,
            session,
            card_id=card_id,
            rank=int(rank),
            score=float(score),
            vote=int(vote),
            comment=comment,
            fase=fase,
        )

    def add_comment(self, vote_id: int, comment: str) -> None:
        """Attach the optional comment an agent writes after voting (redacted, cut at db.MAX_COMMENT)."""
        comment = clip_comment(comment)
        if not comment:
            return

        def work() -> None:
            with self.engine.begin() as conn:
                conn.execute(sa.update(db.feedback).where(db.feedback.c.id == int(vote_id)).values(comment=comment))

        self._run(work, "guardar")

    def record_audit(self, who: str, action: str, detail: str | None = None) -> int:
        """Note who did what (a purge, an export…): trainers and auditors read it, nothing deletes it."""
        return self._insert(
            db.audit,
            {
                "created_at": db.iso_utc(_utcnow()),
                "who": who,
                "action": action,
                "detail": redact(detail) if detail else detail,
            },
        )

    def record_decision(self, card_id: str, query: str, status: str, who: str, evidence: str = "") -> None:
        """A trainer's verdict on an agent's search as a situation of `card_id` (kb.trainers.learning): 'accepted'
        or 'rejected'. A later verdict on the same pair replaces the earlier one. The query is stored as
        given: kb.trainers.learning only proposes searches already stored redacted, and refuses any other."""
        if status not in ("accepted", "rejected"):
            raise ValueError(status)
        row = {"decided_at": db.iso_utc(_utcnow()), "who": who, "status": status, "evidence": evidence}

        def work() -> None:
            with self.engine.begin() as conn:
                match = (db.learned.c.card_id == card_id) & (db.learned.c.query == query)
                if not conn.execute(sa.update(db.learned).where(match).values(**row)).rowcount:
                    conn.execute(sa.insert(db.learned).values(card_id=card_id, query=query, **row))

        self._run(work, "guardar")

    def audit_rows(self, limit: int = 100) -> list[Mapping[str, Any]]:
        """The latest `limit` db.audit entries, newest first."""
        stmt = sa.select(db.audit).order_by(db.audit.c.id.desc()).limit(int(limit))
        return self._read(stmt)

    def rows(self, table: str) -> list[Mapping[str, Any]]:
        """Every row of `searches`, `feedback`, `audit` or `learned`, oldest first, as mappings keyed by column."""
        if table not in db.TABLES:
            raise ValueError(table)
        return self._read(sa.select(db.TABLES[table]).order_by(db.TABLES[table].c.id))

    def purge(self, before: datetime) -> int:
        """Delete db.searches and votes older than `before` (data retention); returns how many.

        The db.audit trail is kept: it is what shows that the purge happened."""
        cutoff = db.iso_utc(before)

        def work() -> int:
            with self.engine.begin() as conn:
                return sum(
                    int(conn.execute(sa.delete(t).where(t.c.created_at < cutoff)).rowcount)
                    for t in (db.searches, db.feedback)
                )

        return self._run(work, "guardar")

    def _retain(self) -> None:
        """Apply KB_RETENTION_DAYS: at the first use of this store, then at most once a day.

        A failure here never blocks the write that triggered it: retention tries again later."""
        if not self.retention_days or time.monotonic() - self._last_purge < PURGE_EVERY_S and self._last_purge:
            return
        self._last_purge = time.monotonic()
        try:
            deleted = self.purge(_utcnow() - timedelta(days=self.retention_days))
            if deleted:
                self.record_audit("kb", "purga automática", f"{deleted} filas de más de {self.retention_days} días")
        except StoreError:
            self._last_purge = 0.0

    def read(self, work: Callable[[Connection], T]) -> T:
        """`work(conn)` in one read transaction (the report); retried like a write, StoreError otherwise."""

        def run() -> T:
            with self.engine.connect() as conn:
                return work(conn)

        return self._run(run, "leer")

    def _read(self, stmt: sa.Select[Any]) -> list[Mapping[str, Any]]:
        return self.read(lambda conn: [dict(r) for r in conn.execute(stmt).mappings()])


__all__ = ["FeedbackError", "FeedbackStore", "clip_comment"]
