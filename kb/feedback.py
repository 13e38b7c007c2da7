"""What agents searched for and how useful the answers were, in SQLite.

Written by the panel (every search, every 👍/👎) and read by `kb report`. Many
panel sessions write at once, so: WAL journal, a busy timeout, and one short
connection per write (sqlite3 connections are not shared between threads).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

from kb.errors import StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS searches (
    id             INTEGER PRIMARY KEY,
    created_at     TEXT    NOT NULL,              -- UTC, ISO 8601
    session        TEXT,                          -- panel session id
    query          TEXT    NOT NULL,
    fase_filter    TEXT,
    top_card_id    TEXT,
    top_fase       TEXT,
    top_score      REAL,
    low_confidence INTEGER NOT NULL DEFAULT 0,
    results        INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS feedback (
    id             INTEGER PRIMARY KEY,
    created_at     TEXT    NOT NULL,
    session        TEXT,
    query          TEXT    NOT NULL,
    card_id        TEXT    NOT NULL,
    rank           INTEGER NOT NULL,
    score          REAL    NOT NULL,
    vote           INTEGER NOT NULL CHECK (vote IN (-1, 1)),
    comment        TEXT,
    fase           TEXT
);
CREATE INDEX IF NOT EXISTS feedback_card ON feedback(card_id);
CREATE INDEX IF NOT EXISTS searches_query ON searches(query);
"""

BUSY_TIMEOUT_MS = 10_000
MAX_COMMENT = 1000


class FeedbackError(StoreError):
    """The feedback database cannot be written; the message says what to check."""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class FeedbackStore:
    """A feedback database at `path`, created on first use."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._ready = False
        self._init_lock = threading.Lock()  # the panel's sessions are threads of one process

    def connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if not self._ready:
                with self._init_lock:  # first writes of many sessions at once: set up once
                    if not self._ready:
                        conn.execute("PRAGMA journal_mode = WAL")
                        conn.executescript(SCHEMA)
                        self._migrate(conn)
                        self._ready = True
            conn.execute("PRAGMA synchronous = NORMAL")
            return conn
        except (sqlite3.Error, OSError) as exc:
            raise FeedbackError(
                f"No se puede abrir la base de datos de valoraciones {self.path} ({exc}). "
                "Revisa la ruta en KB_FEEDBACK_DB y sus permisos."
            ) from None

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        """Add columns that newer versions write to a database made by an older one.

        Inside BEGIN IMMEDIATE so another process upgrading the same file at the same
        moment waits and then sees the column, instead of failing on "duplicate column"."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(searches)")}
            if "top_fase" not in columns:
                conn.execute("ALTER TABLE searches ADD COLUMN top_fase TEXT")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _insert(self, sql: str, values: tuple) -> int:
        try:
            with closing(self.connect()) as conn:
                cur = conn.execute(sql, values)
                return int(cur.lastrowid)
        except sqlite3.Error as exc:
            raise FeedbackError(f"No se ha podido guardar en {self.path}: {exc}") from None

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
        return self._insert(
            "INSERT INTO searches (created_at, session, query, fase_filter, top_card_id, top_fase, top_score, "
            "low_confidence, results) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (_now(), session, query, fase_filter, top_card_id, top_fase, top_score, int(bool(low_confidence)),
             int(results)),
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
        """Store one 👍 (vote=1) or 👎 (vote=-1) on a result."""
        if vote not in (1, -1):
            raise ValueError("vote debe ser 1 (👍) o -1 (👎)")
        comment = (comment or "").strip()[:MAX_COMMENT] or None
        return self._insert(
            "INSERT INTO feedback (created_at, session, query, card_id, rank, score, vote, comment, fase) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (_now(), session, query, card_id, int(rank), float(score), int(vote), comment, fase),
        )

    def add_comment(self, vote_id: int, comment: str) -> None:
        """Attach the optional comment an agent writes after voting."""
        comment = (comment or "").strip()[:MAX_COMMENT]
        if not comment:
            return
        try:
            with closing(self.connect()) as conn:
                conn.execute("UPDATE feedback SET comment = ? WHERE id = ?", (comment, int(vote_id)))
        except sqlite3.Error as exc:
            raise FeedbackError(f"No se ha podido guardar el comentario en {self.path}: {exc}") from None

    def rows(self, table: str) -> list[sqlite3.Row]:
        """Every row of `searches` or `feedback` (used by the report and the tests)."""
        if table not in ("searches", "feedback"):
            raise ValueError(table)
        with closing(self.connect()) as conn:
            conn.row_factory = sqlite3.Row
            return list(conn.execute(f"SELECT * FROM {table} ORDER BY id"))
