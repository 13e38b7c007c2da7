"""The feedback database's schema, engines and migrations: one SQLAlchemy Core layer for SQLite and PostgreSQL.

Kept apart from the store (kb.feedback.store) so the report, the migrations and the store share
one description of the tables and one way to open and upgrade a database.

* The schema belongs to Alembic (`kb/feedback/migrations`), run on first use under a lock
  (`pg_advisory_xact_lock` on PostgreSQL, a `FileLock` next to a SQLite file) so many
  processes starting at once migrate exactly once. Files made before Alembic are
  adopted by migration 1 (missing columns added, then stamped).
* `created_at` is ISO-8601 UTC text (`2024-05-01T09:30:00Z`) on both databases: older
  SQLite files already hold that, and fixed-width text sorts like time, so `since` and
  `purge` compare strings.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from filelock import FileLock
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from kb.errors import StoreError
from kb.text import iso_utc

BUSY_TIMEOUT_MS = 10_000
MAX_COMMENT = 1000
MAX_QUERY_BYTES = 2000
"""Most UTF-8 bytes of a stored query: PostgreSQL indexes the column (searches, learned), and an index
entry holds at most 2,704 bytes, so a longer paste that does not compress would be refused for good."""
PERMANENT_SQLSTATES = ("22", "23", "42", "54")
"""PostgreSQL error classes that another try cannot fix: bad data, a broken constraint, a wrong
statement, a program limit (an index entry too large)."""
WRITE_TRIES = 4
"""Attempts per write; with `BACKOFF_S` that is ~2 s before the user is told."""
BACKOFF_S = (0.25, 0.5, 1.0)
POOL_WAIT_S = 30
"""Longest wait for a free pooled connection when more threads write than the pool holds."""
RETRY_BUDGET_S = 3.0
"""No new attempt starts after this long, so a slow connect timeout cannot stack up 4 times."""
PG_MIN_CONNECT_TIMEOUT_S = 2
"""libpq rounds anything lower up to 2 s."""
PG_KEEPALIVE = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}
"""TCP keepalives: a server that vanished without a reset (a partition) is noticed in ~25 s, not hours."""
MIGRATION_LOCK_TIMEOUT_S = 60
MIGRATION_LOCK_KEY = 0x6B625F6D6967  # "kb_mig": one advisory lock id for this schema

metadata = sa.MetaData()


def _agents_table(name: str, *columns: sa.Column) -> sa.Table:
    """A table of what agents did: when (UTC, ISO 8601, kb.text.iso_utc), in which session (panel or
    `api`), on which query (redacted before it gets here), then its own columns."""
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("session", sa.Text),
        sa.Column("query", sa.Text, nullable=False),
        *columns,
    )


searches = _agents_table(
    "searches",
    sa.Column("fase_filter", sa.Text),
    sa.Column("top_card_id", sa.Text),
    sa.Column("top_fase", sa.Text),
    sa.Column("top_score", sa.Float),
    sa.Column("low_confidence", sa.Integer, nullable=False, server_default="0"),
    sa.Column("results", sa.Integer, nullable=False, server_default="0"),
)

feedback = _agents_table(
    "feedback",
    sa.Column("card_id", sa.Text, nullable=False),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("vote", sa.Integer, nullable=False),
    sa.Column("comment", sa.Text),
    sa.Column("fase", sa.Text),
)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    *(sa.Column(name, sa.Text, nullable=False) for name in ("created_at", "who", "action")),
    sa.Column("detail", sa.Text),
)

learned = sa.Table(
    "learned",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("decided_at", sa.Text, nullable=False),
    sa.Column("who", sa.Text, nullable=False),  # the trainer who decided
    sa.Column("card_id", sa.Text, nullable=False),
    sa.Column("query", sa.Text, nullable=False),  # an agent's search, as stored (redacted)
    sa.Column("status", sa.Text),  # 'accepted' (the next build learns it) or 'rejected' (never proposed again)
    sa.Column("evidence", sa.Text),  # what the agents did with it, when it was decided
    sa.UniqueConstraint("card_id", "query", name="learned_card_query"),
)

TABLES = {"searches": searches, "feedback": feedback, "audit": audit, "learned": learned}
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _utcnow() -> datetime:
    """The clock of every stored row, in one place so tests can move it."""
    return datetime.now(UTC)


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


def pg_connect_args(timeout_s: int) -> dict[str, Any]:
    """libpq options bounding how long one connection waits: to connect, per statement, per lock,
    idle inside a transaction and for unacknowledged TCP data (KB_DB_TIMEOUT seconds each, mostly).

    None of them can end a call to a server that is frozen but whose kernel still answers (a
    paused process): that case is kept off every path a person waits on (kb.feedback.outbox)."""
    ms = timeout_s * 1000
    options = f"-c statement_timeout={ms} -c lock_timeout={ms} -c idle_in_transaction_session_timeout={ms * 6}"
    return {
        "connect_timeout": max(PG_MIN_CONNECT_TIMEOUT_S, timeout_s),
        "options": options,
        "tcp_user_timeout": ms,
        **PG_KEEPALIVE,
    }


def make_engine(url: URL, timeout_s: int) -> Engine:
    """An engine whose waits are bounded by `timeout_s` (KB_DB_TIMEOUT): connecting, each statement, the pool."""
    if url.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    args: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql":
        args["connect_args"] = pg_connect_args(timeout_s)
    # Small pool: a panel has a handful of sessions; pre-ping drops connections a server
    # restart killed instead of failing the next write with them. Waiting for a free connection is
    # contention inside this process, not a hung server (the statement and connect timeouts bound
    # that), and nobody on a call waits for it (kb.feedback.outbox), so it may take longer.
    return sa.create_engine(
        url,
        pool_size=5,
        max_overflow=5,
        pool_timeout=max(timeout_s, POOL_WAIT_S),
        pool_pre_ping=True,
        pool_recycle=1800,
        **args,
    )


def create_private(path: Path) -> None:
    """Create the SQLite file readable by its owner only (0600) before SQLite does (0644): it holds
    what agents typed. SQLite gives its -wal and -shm files the mode of the database file."""
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def transient(exc: BaseException, dialect: str) -> bool:
    """Worth another try: the connection broke or could not be made, or SQLite was busy.

    Anything else (a constraint, a missing table, a folder where the file should be)
    would fail the same way again, so it is reported at once."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if dialect == "sqlite":
        text = str(exc.orig).lower()
        return "locked" in text or "busy" in text
    sqlstate = str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or "")
    if sqlstate[:2] in PERMANENT_SQLSTATES:
        return False
    return isinstance(exc, (OperationalError, InterfaceError))


def store_error(action: str, exc: BaseException, where: str, *, is_file: bool) -> StoreError:
    """The Spanish message for a failed read or write, naming the setting to check. The database's
    address and the driver's words stay out of the message (agents read it) and go in `where` and
    `cause`, for the operator's log and the CLI."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    cause = text.splitlines()[0][:300] if text else type(exc).__name__
    hint = (
        "Revisa la ruta en KB_FEEDBACK_DB y sus permisos."
        if is_file
        else "Revisa KB_DATABASE_URL y que el servidor esté en marcha."
    )
    what = {
        "guardar": "No se ha podido guardar en la base de datos de búsquedas y valoraciones.",
        "leer": "No se puede leer la base de datos de búsquedas y valoraciones.",
    }.get(action, "No se puede abrir la base de datos de búsquedas y valoraciones.")
    return StoreError(f"{what} {hint}", where=where, cause=cause)


# ---------------------------------------------------------------- migrations


def alembic_config(connection: Connection) -> Any:
    """An Alembic Config built in code (no alembic.ini at run time) that reuses `connection`."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["connection"] = connection
    return cfg


_ALEMBIC = threading.Lock()
"""Alembic's `context` and `op` are module-wide proxies: two stores of one process (the panel's and the
API's logging thread) migrating at once would tear them down under each other."""


def migrate(engine: Engine, path: Path | None = None) -> None:
    """Bring the schema to the newest revision, safely when several processes start at once.

    PostgreSQL: a transaction-scoped advisory lock, released by commit, rollback or a
    dropped connection alike. SQLite: a FileLock beside the file (SQLite DDL cannot
    be serialised through the database itself without holding it for writes)."""
    from alembic import command

    def upgrade() -> None:
        with _ALEMBIC, engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
            command.upgrade(alembic_config(conn), "head")

    if path is not None:
        with FileLock(str(path) + ".lock", timeout=MIGRATION_LOCK_TIMEOUT_S, mode=0o600):
            upgrade()
    else:
        upgrade()


def select_since(stmt: sa.Select[Any], table: sa.Table, since: datetime | None) -> sa.Select[Any]:
    """`stmt` restricted to rows of `table` created at or after `since` (all rows if None)."""
    return stmt if since is None else stmt.where(table.c.created_at >= iso_utc(since))
