"""What agents searched for and how useful the answers were, in SQLite or PostgreSQL (kb.feedback.database).

    >>> store = FeedbackStore("feedback.db")                      # a SQLite file (default)
    >>> store = FeedbackStore("postgresql+psycopg://kb@db/kb")    # or a server shared by many panels
    >>> vote_id = store.record_vote("me grita", "guias/a#x", 1, 0.8, 1)

Nothing touches the database in `__init__` (a panel must start when the server is down;
`available()` answers without raising). `record_*` writes wait: they are retried with back-off on
connection-level failures, then raise `StoreError` (the CLI, the trainers' tools). `later` queues a
row for the store's writer thread and returns at once (kb.feedback.outbox): the panel and the API
use it, so a hung database is never in an agent's way. Waits are bounded by KB_DB_TIMEOUT.
Everything stored is redacted first (kb.feedback.redact, in kb.feedback.rows), and rows older than
KB_RETENTION_DAYS are deleted (first write, then daily; `kb purge` on demand).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from filelock import Timeout as LockTimeout
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from kb.config import Settings
from kb.errors import StoreError, os_reason
from kb.feedback import database as db
from kb.feedback.outbox import Outbox, Pending
from kb.feedback.rows import SIGN_IN_FAILURES, Row, audit_row, clip_comment, search_row, vote_row

T = TypeVar("T")
FeedbackError = StoreError
"""The old name: every failure here is a `StoreError`."""
PURGE_EVERY_S = 24 * 3600
"""Retention runs when a store is first used and then at most once a day per process."""
MAX_FAILED_SIGN_INS = 10_000
"""Failed and refused sign-ins kept in the audit trail, newest first (with KB_RETENTION_DAYS)."""


def within(seconds: float, call: Callable[[], T]) -> T:
    """`call()`'s result or exception, or TimeoutError after `seconds`, leaving `call` to finish in a
    daemon thread: a PostgreSQL call blocked on a frozen server cannot be interrupted, only left."""
    outcome: list[tuple[bool, Any]] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller below
            outcome.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=run, name="kb-feedback-call", daemon=True).start()
    if not done.wait(seconds):
        raise TimeoutError
    ok, value = outcome[0]
    if ok:
        return value
    raise value


class FeedbackStore:
    """The feedback database at `url_or_path`: a SQLite file path, or a SQLAlchemy URL.

    Cheap to construct and never raises for an unreachable database; the schema is
    created or upgraded on first use."""

    def __init__(
        self, url_or_path: str | Path, *, retention_days: int | None = None, timeout_s: int = Settings.db_timeout
    ) -> None:
        self.target = url_or_path
        self.retention_days = retention_days
        self.timeout_s = timeout_s
        self._last_purge = 0.0
        self.path: Path | None = None if db.is_url(url_or_path) else Path(url_or_path)
        self._ready = False
        self._setup_lock = threading.Lock()  # the panel's sessions are threads of one process
        self._engine: Engine | None = None
        self._bad_url: str | None = None
        self.outbox = Outbox(self)
        """The writer thread for writes nobody waits for (`later`): its own lock, never `_setup_lock`,
        which a migration on a hung server can hold."""
        try:
            self.url: URL = (
                make_url(str(url_or_path)) if self.path is None else URL.create("sqlite", database=str(self.path))
            )
            self._engine = db.make_engine(self.url, timeout_s)
        except (ArgumentError, ImportError, ValueError) as exc:  # a typo in the URL, a missing driver
            self.url = URL.create("invalid")
            self._bad_url = str(exc)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise StoreError(  # never the URL itself: it may hold a password
                "La dirección de la base de datos de valoraciones no es válida. "
                "Revisa KB_DATABASE_URL (p. ej. postgresql+psycopg://usuario@servidor/kb).",
                cause=(self._bad_url or "").replace(str(self.target), "…"),
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
                    db.create_private(self.path)
                except OSError as exc:
                    raise StoreError(
                        "No se puede crear la carpeta de la base de datos de valoraciones. "
                        "Revisa la ruta en KB_FEEDBACK_DB y sus permisos.",
                        where=str(self.path),
                        cause=os_reason(exc),
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
        """`work()` on a ready schema, retried with back-off on db.transient failures; else StoreError.

        Whoever waits (a trainer's page, `kb serve` starting, the command line) gets an answer within
        `deadline_s` even from a server that hangs; the call itself ends when the server answers."""
        seconds = self.deadline_s
        try:
            return within(seconds, lambda: self._tries(work, action, retry=retry))
        except TimeoutError:
            raise StoreError(
                f"La base de datos de valoraciones ({self.where()}) no ha respondido en {seconds:g} s. "
                "Inténtalo de nuevo en unos minutos; si sigue así, avisa al administrador."
            ) from None

    @property
    def deadline_s(self) -> float:
        """The longest a caller of `_run` waits: the pool, a connection and a statement, and the retries."""
        return 4 * self.timeout_s + db.RETRY_BUDGET_S

    def _tries(self, work: Callable[[], T], action: str, *, retry: bool) -> T:
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

    def write(self, row: Row) -> int:
        """Insert `row` (kb.feedback.rows) now, retried briefly; its id, or StoreError."""
        return self._insert(row.table, row.values)

    # ------------------------------------------------------------ writes nobody waits for

    def later(self, row: Row, *, target: Pending | None = None) -> Pending:
        """Queue `row` for the writer thread and return at once; StoreError only if the queue is full."""
        return self.outbox.submit(row, target=target)

    def comment_later(self, vote: Pending, comment: str) -> Pending | None:
        """Queue the comment an agent writes after a queued vote (redacted, cut at db.MAX_COMMENT)."""
        text = clip_comment(comment)
        return self.later(Row(db.feedback, {"comment": text}), target=vote) if text else None

    def prepared(self) -> Engine:
        """For the writer thread: the engine of an up-to-date schema, with retention applied."""
        self._ensure_ready()
        self._retain()
        return self.engine

    def failure(self, exc: BaseException) -> StoreError:
        return db.store_error("guardar", exc, self.where(), is_file=self.path is not None)

    # ------------------------------------------------------------ writes that wait

    def record_search(self, query: str, **columns: Any) -> int:
        """Log one search (kb.feedback.rows.search_row: the columns) and wait for it; the query is redacted."""
        return self.write(search_row(query, **columns))

    def record_vote(self, query: str, card_id: str, rank: int, score: float, vote: int, **columns: Any) -> int:
        """Store one 👍 (vote=1) or 👎 (vote=-1) on a result; returns its id for `add_comment`.
        Query and comment are redacted; the comment is cut at db.MAX_COMMENT characters."""
        return self.write(vote_row(query, card_id, rank, score, vote, **columns))

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
        """Note who did what (a purge, an export…): trainers and auditors read it."""
        return self.write(audit_row(who, action, detail))

    def record_decision(self, card_id: str, query: str, status: str, who: str, evidence: str = "") -> None:
        """A trainer's verdict on an agent's search as a situation of `card_id` (kb.trainers.learning): 'accepted'
        or 'rejected'. A later verdict on the same pair replaces the earlier one. The query is stored as
        given: kb.trainers.learning only proposes searches already stored redacted, and refuses any other."""
        if status not in ("accepted", "rejected"):
            raise ValueError(status)
        row = {"decided_at": db.iso_utc(db._utcnow()), "who": who, "status": status, "evidence": evidence}

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

    def purge(self, before: datetime | None) -> int:
        """Delete searches, votes and failed sign-ins older than `before` (data retention; None: no
        date limit), and failed sign-ins beyond the newest `MAX_FAILED_SIGN_INS`; returns how many.

        The rest of the audit trail is kept: it is what shows that the purge happened. Failed
        sign-ins are what an attacker can multiply, so they are bounded like the searches."""
        failures = db.audit.c.action.in_(SIGN_IN_FAILURES)
        keep_from = (
            sa.select(db.audit.c.id)
            .where(failures)
            .order_by(db.audit.c.id.desc())
            .offset(MAX_FAILED_SIGN_INS)
            .limit(1)
            .scalar_subquery()
        )
        deletes = [sa.delete(db.audit).where(failures & (db.audit.c.id <= keep_from))]
        if before is not None:
            cutoff = db.iso_utc(before)
            deletes += [sa.delete(t).where(t.c.created_at < cutoff) for t in (db.searches, db.feedback)]
            deletes.append(sa.delete(db.audit).where(failures & (db.audit.c.created_at < cutoff)))

        def work() -> int:
            with self.engine.begin() as conn:
                return sum(int(conn.execute(stmt).rowcount) for stmt in deletes)

        return self._run(work, "guardar")

    def _retain(self) -> None:
        """Apply KB_RETENTION_DAYS (0: no date limit, only the cap on failed sign-ins) at the first
        use of this store, then at most once a day. Stores made without a retention (the CLI's) never purge.

        A failure here never blocks the write that triggered it: retention tries again later."""
        if self.retention_days is None or self._last_purge and time.monotonic() - self._last_purge < PURGE_EVERY_S:
            return
        self._last_purge = time.monotonic()
        days = self.retention_days
        try:
            deleted = self.purge(db._utcnow() - timedelta(days=days) if days else None)
            if deleted:
                limit = f"de más de {days} días" if days else f"de intentos fallidos más allá de {MAX_FAILED_SIGN_INS}"
                self.record_audit("kb", "purga automática", f"{deleted} filas {limit}")
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
