"""What agents searched for and how useful the answers were, in SQLite or PostgreSQL.

Written by the panel (every search, every 👍/👎) and read by `kb report`. One
SQLAlchemy Core path serves both databases, so the panel, the report and the tests
run the same statements whatever `KB_FEEDBACK_DB` / `KB_DATABASE_URL` point at:

    >>> store = FeedbackStore("feedback.db")                      # a SQLite file (default)
    >>> store = FeedbackStore("postgresql+psycopg://kb@db/kb")    # or a server shared by many panels
    >>> vote_id = store.record_vote("me grita", "guias/a#x", 1, 0.8, 1)

Design decisions, and why:

* The schema belongs to Alembic (`kb/migrations`), run on first use under a lock
  (`pg_advisory_xact_lock` on PostgreSQL, a `FileLock` next to a SQLite file) so many
  processes starting at once migrate exactly once. Files made before Alembic are
  adopted by migration 1 (missing columns added, then stamped).
* Nothing touches the database in `__init__`: a panel must start even when the server
  is down. The first call raises `StoreError`, and `available()` answers without raising.
* Writes are retried a few times with back-off on connection-level failures (a server
  restart, a locked SQLite file); after that the user reads a `StoreError`. A write that
  returned is committed.
* `created_at` is ISO-8601 UTC text (`2024-05-01T09:30:00Z`) on both databases: older
  SQLite files already hold that, and fixed-width text sorts like time, so `since` and
  `purge` compare strings.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from filelock import FileLock
from filelock import Timeout as LockTimeout
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from kb.errors import StoreError

BUSY_TIMEOUT_MS = 10_000
MAX_COMMENT = 1000
WRITE_TRIES = 4
"""Attempts per write; with `BACKOFF_S` that is ~2 s before the user is told."""
BACKOFF_S = (0.25, 0.5, 1.0)
RETRY_BUDGET_S = 3.0
"""No new attempt starts after this long, so a slow connect timeout cannot stack up 4 times."""
PG_CONNECT_TIMEOUT_S = 2  # libpq's minimum; an unreachable host fails within the retry budget
MIGRATION_LOCK_TIMEOUT_S = 60
MIGRATION_LOCK_KEY = 0x6B625F6D6967  # "kb_mig": one advisory lock id for this schema

FeedbackError = StoreError
"""The old name, still imported by the panel: every failure here is a `StoreError`."""

metadata = sa.MetaData()

searches = sa.Table(
    "searches", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("created_at", sa.Text, nullable=False),  # UTC, ISO 8601
    sa.Column("session", sa.Text),  # panel session id
    sa.Column("query", sa.Text, nullable=False),
    sa.Column("fase_filter", sa.Text),
    sa.Column("top_card_id", sa.Text),
    sa.Column("top_fase", sa.Text),
    sa.Column("top_score", sa.Float),
    sa.Column("low_confidence", sa.Integer, nullable=False, server_default="0"),
    sa.Column("results", sa.Integer, nullable=False, server_default="0"),
)

feedback = sa.Table(
    "feedback", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("session", sa.Text),
    sa.Column("query", sa.Text, nullable=False),
    sa.Column("card_id", sa.Text, nullable=False),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("vote", sa.Integer, nullable=False),
    sa.Column("comment", sa.Text),
    sa.Column("fase", sa.Text),
)

audit = sa.Table(
    "audit", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("who", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("detail", sa.Text),
)

TABLES = {"searches": searches, "feedback": feedback, "audit": audit}
MIGRATIONS = Path(__file__).resolve().parent / "migrations"

T = TypeVar("T")


def _utcnow() -> datetime:
    """The clock, in one place so tests can move it."""
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """`moment` as stored in `created_at`; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def is_url(target: str | Path) -> bool:
    """A SQLAlchemy URL (`dialect+driver://…`) rather than a file path."""
    return isinstance(target, str) and "://" in target


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """Per connection: WAL lets readers work while one panel writes; the busy timeout makes
    concurrent writers wait instead of failing; NORMAL is durable enough under WAL."""
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
    finally:
        cur.close()


class FeedbackStore:
    """The feedback database at `url_or_path`: a SQLite file path, or a SQLAlchemy URL.

    Cheap to construct and never raises for an unreachable database; the schema is
    created or upgraded on first use."""

    def __init__(self, url_or_path: str | Path) -> None:
        self.target = url_or_path
        self.path: Path | None = None if is_url(url_or_path) else Path(url_or_path)
        self._ready = False
        self._setup_lock = threading.Lock()  # the panel's sessions are threads of one process
        self._engine: Engine | None = None
        self._bad_url: str | None = None
        try:
            self.url: URL = make_url(str(url_or_path)) if self.path is None else URL.create(
                "sqlite", database=str(self.path))
            self._engine = self._make_engine(self.url)
        except (ArgumentError, ImportError, ValueError) as exc:  # a typo in the URL, a missing driver
            self.url = URL.create("invalid")
            self._bad_url = str(exc)

    # ------------------------------------------------------------ engine and schema

    @staticmethod
    def _make_engine(url: URL) -> Engine:
        if url.get_backend_name() == "sqlite":
            engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        args: dict[str, Any] = {}
        if url.get_backend_name() == "postgresql":
            args["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT_S}
        # Small pool: a panel has a handful of sessions; pre-ping drops connections a server
        # restart killed instead of failing the next write with them.
        return sa.create_engine(url, pool_size=5, max_overflow=5, pool_timeout=10, pool_pre_ping=True,
                                pool_recycle=1800, **args)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise StoreError(f"La dirección de la base de datos de valoraciones no es válida ({self._bad_url}). "
                             "Revisa KB_DATABASE_URL (p. ej. postgresql+psycopg://usuario@servidor/kb).")
        return self._engine

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    def where(self) -> str:
        """The database for messages, without a password."""
        if self.path is not None:
            return str(self.path)
        return self.url.render_as_string(hide_password=True)

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
                    raise StoreError(f"No se puede crear la carpeta de {self.path} ({exc}). "
                                     "Revisa la ruta en KB_FEEDBACK_DB y sus permisos.") from None
            migrate(engine, self.path)
            self._ready = True

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

    # ------------------------------------------------------------ retries

    def _transient(self, exc: BaseException) -> bool:
        """Worth another try: the connection broke or could not be made, or SQLite was busy.

        Anything else (a constraint, a missing table, a folder where the file should be)
        would fail the same way again, so it is reported at once."""
        if isinstance(exc, PoolTimeout):
            return True
        if not isinstance(exc, DBAPIError):
            return False
        if exc.connection_invalidated:
            return True
        if self.dialect == "sqlite":
            text = str(exc.orig).lower()
            return "locked" in text or "busy" in text
        return isinstance(exc, (OperationalError, InterfaceError))

    def _run(self, work: Callable[[], T], action: str, *, retry: bool = True) -> T:
        """`work()` on a ready schema, retried with back-off on transient failures; else StoreError."""
        started = time.monotonic()
        for attempt in range(WRITE_TRIES if retry else 1):
            try:
                self._ensure_ready()
                return work()
            except StoreError:
                raise
            except (SQLAlchemyError, OSError, LockTimeout) as exc:
                last = exc
                if not retry or not self._transient(exc) or attempt == WRITE_TRIES - 1:
                    break
                delay = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
                if time.monotonic() - started + delay > RETRY_BUDGET_S:
                    break
                time.sleep(delay)
        raise self._error(action, last)

    def _error(self, action: str, exc: BaseException) -> StoreError:
        text = str(getattr(exc, "orig", None) or exc).strip()
        detail = text.splitlines()[0][:300] if text else type(exc).__name__
        hint = ("Revisa la ruta en KB_FEEDBACK_DB y sus permisos." if self.path is not None
                else "Revisa KB_DATABASE_URL y que el servidor esté en marcha.")
        if action == "guardar":
            return StoreError(f"No se ha podido guardar la valoración en {self.where()} ({detail}). {hint}")
        if action == "leer":
            return StoreError(f"No se puede leer la base de datos de valoraciones {self.where()} ({detail}). {hint}")
        return StoreError(f"No se puede abrir la base de datos de valoraciones {self.where()} ({detail}). {hint}")

    def _insert(self, table: sa.Table, values: dict[str, Any]) -> int:
        def work() -> int:
            with self.engine.begin() as conn:
                key = conn.execute(sa.insert(table).values(**values)).inserted_primary_key
                assert key is not None  # a single-row INSERT always has one
                return int(key[0])
        return self._run(work, "guardar")

    # ------------------------------------------------------------ public API

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
        """Log one search (for the report: frequent queries and content gaps)."""
        return self._insert(searches, {
            "created_at": iso_utc(_utcnow()), "session": session, "query": query, "fase_filter": fase_filter,
            "top_card_id": top_card_id, "top_fase": top_fase,
            "top_score": None if top_score is None else float(top_score),
            "low_confidence": int(bool(low_confidence)), "results": int(results),
        })

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
        """Store one 👍 (vote=1) or 👎 (vote=-1) on a result; returns its id for `add_comment`."""
        if vote not in (1, -1):
            raise ValueError("vote debe ser 1 (👍) o -1 (👎)")
        comment = (comment or "").strip()[:MAX_COMMENT] or None
        return self._insert(feedback, {
            "created_at": iso_utc(_utcnow()), "session": session, "query": query, "card_id": card_id,
            "rank": int(rank), "score": float(score), "vote": int(vote), "comment": comment, "fase": fase,
        })

    def add_comment(self, vote_id: int, comment: str) -> None:
        """Attach the optional comment an agent writes after voting."""
        comment = (comment or "").strip()[:MAX_COMMENT]
        if not comment:
            return

        def work() -> None:
            with self.engine.begin() as conn:
                conn.execute(sa.update(feedback).where(feedback.c.id == int(vote_id)).values(comment=comment))
        self._run(work, "guardar")

    def record_audit(self, who: str, action: str, detail: str | None = None) -> int:
        """Note who did what (a purge, an export…): trainers and auditors read it, nothing deletes it."""
        return self._insert(audit, {"created_at": iso_utc(_utcnow()), "who": who, "action": action,
                                    "detail": detail})

    def audit_rows(self, limit: int = 100) -> list[Mapping[str, Any]]:
        """The latest `limit` audit entries, newest first."""
        stmt = sa.select(audit).order_by(audit.c.id.desc()).limit(int(limit))
        return self._read(stmt)

    def rows(self, table: str) -> list[Mapping[str, Any]]:
        """Every row of `searches`, `feedback` or `audit`, oldest first, as mappings keyed by column."""
        if table not in TABLES:
            raise ValueError(table)
        return self._read(sa.select(TABLES[table]).order_by(TABLES[table].c.id))

    def purge(self, before: datetime) -> int:
        """Delete searches and votes older than `before` (data retention); returns how many.

        The audit trail is kept: it is what shows that the purge happened."""
        cutoff = iso_utc(before)

        def work() -> int:
            with self.engine.begin() as conn:
                return sum(int(conn.execute(sa.delete(t).where(t.c.created_at < cutoff)).rowcount)
                           for t in (searches, feedback))
        return self._run(work, "guardar")

    def read(self, work: Callable[[Connection], T]) -> T:
        """`work(conn)` in one read transaction (the report); retried like a write, StoreError otherwise."""
        def run() -> T:
            with self.engine.connect() as conn:
                return work(conn)
        return self._run(run, "leer")

    def _read(self, stmt: sa.Select[Any]) -> list[Mapping[str, Any]]:
        return self.read(lambda conn: [dict(r) for r in conn.execute(stmt).mappings()])


# ---------------------------------------------------------------- migrations


def alembic_config(connection: Connection) -> Any:
    """An Alembic Config built in code (no alembic.ini at run time) that reuses `connection`."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine, path: Path | None = None) -> None:
    """Bring the schema to the newest revision, safely when several processes start at once.

    PostgreSQL: a transaction-scoped advisory lock, released by commit, rollback or a
    dropped connection alike. SQLite: a FileLock beside the file (SQLite DDL cannot
    be serialised through the database itself without holding it for writes)."""
    from alembic import command

    def upgrade() -> None:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
            command.upgrade(alembic_config(conn), "head")

    if path is not None:
        with FileLock(str(path) + ".lock", timeout=MIGRATION_LOCK_TIMEOUT_S):
            upgrade()
    else:
        upgrade()


def select_since(stmt: sa.Select[Any], table: sa.Table, since: datetime | None) -> sa.Select[Any]:
    """`stmt` restricted to rows of `table` created at or after `since` (all rows if None)."""
    return stmt if since is None else stmt.where(table.c.created_at >= iso_utc(since))


__all__ = ["FeedbackError", "FeedbackStore", "audit", "feedback", "is_url", "iso_utc", "migrate", "searches",
           "select_since"]
