"""The feedback store and the report on both databases: SQLite (a file) and a real PostgreSQL.

Every `store` test runs twice. PostgreSQL comes from tests/pg.py (its own server,
started once per session); each test gets a fresh database on it.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

import kb.feedback.store
from kb.errors import StoreError
from kb.feedback.report import compute_report
from kb.feedback.store import FeedbackStore
from tests.conftest import ROOT, fill_store, run_threads
from tests.pg import PostgresServer, free_port, postgres_server, postgres_url  # noqa: F401
from tests.support.waits import CEILING, wait_until

T0 = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def target(request, tmp_path) -> str:
    """Where a store lives: a SQLite file path or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "feedback.db")
    return request.getfixturevalue("postgres_server").fresh_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = FeedbackStore(tmp_path / "feedback.db")
    else:
        s = FeedbackStore(request.getfixturevalue("postgres_server").fresh_database())
    yield s
    s.close()


BACKENDS = pytest.mark.parametrize("target", ["sqlite", "postgresql"], indirect=True)


def at(monkeypatch, moment: datetime) -> None:
    monkeypatch.setattr(kb.feedback.database, "_utcnow", lambda: moment)


fill = fill_store


# ---------------------------------------------------------------- writing and reading


def test_searches_votes_comments_and_rows(store):
    sid = store.record_search(
        "me grita",
        session="s1",
        fase_filter="calma",
        top_card_id="guias/a#x",
        top_fase="calma",
        top_score=0.81,
        low_confidence=False,
        results=3,
    )
    vid = store.record_vote("me grita", "guias/a#x", 1, 0.81, -1, session="s1", fase="calma")
    store.add_comment(vid, "  no era esto  ")
    store.add_comment(vid, "   ")  # an empty comment changes nothing
    (search,) = store.rows("searches")
    (vote,) = store.rows("feedback")
    assert search["id"] == sid and vote["id"] == vid
    assert set(search) == {
        "id",
        "created_at",
        "session",
        "query",
        "fase_filter",
        "top_card_id",
        "top_fase",
        "top_score",
        "low_confidence",
        "results",
    }
    assert (search["query"], search["top_fase"], search["low_confidence"], search["results"]) == (
        "me grita",
        "calma",
        0,
        3,
    )
    assert search["top_score"] == pytest.approx(0.81)
    assert set(vote) == {"id", "created_at", "session", "query", "card_id", "rank", "score", "vote", "comment", "fase"}
    assert (vote["card_id"], vote["rank"], vote["vote"], vote["comment"]) == ("guias/a#x", 1, -1, "no era esto")
    assert datetime.strptime(vote["created_at"], "%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(ValueError):
        store.record_vote("x", "y", 1, 0.5, 0)
    with pytest.raises(ValueError):
        store.rows("alembic_version")
    assert store.available()


def test_report_totals_gaps_worst_cards_and_fases(store):
    fill(store)
    report = compute_report(store)
    assert report.top_queries[0] == ("me grita", 3)
    assert report.gaps == [("receta de paella", 2)]
    assert report.worst_cards == [("guias/b#y", 2, 0), ("guias/a#x", 1, 1)]
    assert report.by_fase == [("desahogo", 3, 1, 1), ("solucion", 1, 0, 2)]
    assert report.totals == {"searches": 6, "low_confidence": 2, "up": 1, "down": 3}
    assert compute_report(store, limit=1).worst_cards == [("guias/b#y", 2, 0)]


def test_votes_for_a_merged_cards_old_id_count_for_the_card_that_took_it_in(store):
    fill(store)
    store.record_vote("me grita", "guias/viejo#z", 2, 0.7, -1, fase="desahogo")
    store.record_vote("me grita", "guias/viejo#z", 1, 0.7, -1, fase="desahogo")
    assert compute_report(store).worst_cards == [("guias/b#y", 2, 0), ("guias/viejo#z", 2, 0), ("guias/a#x", 1, 1)]
    merged = compute_report(store, renamed={"guias/viejo#z": "guias/a#x"})
    assert merged.worst_cards == [("guias/a#x", 3, 1), ("guias/b#y", 2, 0)]
    assert compute_report(store, limit=1, renamed={"guias/viejo#z": "guias/a#x"}).worst_cards == [("guias/a#x", 3, 1)]


def test_report_since(store, monkeypatch):
    at(monkeypatch, T0 - timedelta(days=40))
    fill(store)
    at(monkeypatch, T0)
    store.record_search("me grita", top_card_id="guias/a#x", top_fase="desahogo", results=3)
    store.record_vote("me grita", "guias/a#x", 1, 0.8, 1, fase="desahogo")
    report = compute_report(store, since=T0 - timedelta(days=1))
    assert report.totals == {"searches": 1, "low_confidence": 0, "up": 1, "down": 0}
    assert report.top_queries == [("me grita", 1)] and report.gaps == [] and report.worst_cards == []
    assert report.by_fase == [("desahogo", 1, 1, 0)]
    assert compute_report(store).totals["searches"] == 7


def test_report_from_a_url_or_path_and_a_missing_sqlite_file(store, tmp_path):
    fill(store)
    assert compute_report(str(store.target)).totals["down"] == 3
    with pytest.raises(StoreError, match="No existe la base de datos"):
        compute_report(tmp_path / "nada.db")


def test_purge_deletes_exactly_the_old_rows_and_keeps_the_audit(store, monkeypatch):
    at(monkeypatch, T0 - timedelta(days=100))
    fill(store)  # 6 searches + 4 votes, old
    store.record_audit("ana", "export", "viejo")
    at(monkeypatch, T0 - timedelta(seconds=1))
    store.record_search("justo antes")
    at(monkeypatch, T0)
    store.record_search("justo en el corte")
    store.record_vote("justo en el corte", "guias/a#x", 1, 0.9, 1)
    assert store.purge(T0) == 11
    assert [r["query"] for r in store.rows("searches")] == ["justo en el corte"]
    assert [r["query"] for r in store.rows("feedback")] == ["justo en el corte"]
    assert [r["detail"] for r in store.audit_rows(10)] == ["viejo"]
    assert store.purge(T0) == 0
    # A naive datetime is UTC, an aware one is converted.
    assert store.purge(datetime(2024, 5, 1, 11, 30, 1, tzinfo=timezone(timedelta(hours=2)))) == 2


def test_audit_newest_first(store, monkeypatch):
    for i in range(5):
        at(monkeypatch, T0 + timedelta(minutes=i))
        store.record_audit("formadora", "purge", f"antes de {i}")
    store.record_audit("ana", "export", None)
    rows = store.audit_rows(3)
    assert [(r["who"], r["action"], r["detail"]) for r in rows] == [
        ("ana", "export", None),
        ("formadora", "purge", "antes de 4"),
        ("formadora", "purge", "antes de 3"),
    ]
    assert set(rows[0]) == {"id", "created_at", "who", "action", "detail"}
    assert len(store.audit_rows(100)) == 6


# ---------------------------------------------------------------- load


@pytest.mark.parametrize("per_thread", [500])
def test_16_threads_writing_lose_nothing(store, per_thread):
    threads = 16

    def worker(n: int) -> None:
        for i in range(per_thread):
            store.record_vote(f"consulta {n}-{i}", "guias/x#y", 1, 0.5, 1 if i % 2 else -1, comment="ok")

    started = time.perf_counter()
    assert run_threads(worker, threads) == []
    elapsed = time.perf_counter() - started
    rows = store.rows("feedback")
    print(f"\n{store.dialect}: {threads}×{per_thread} writes in {elapsed:.1f} s")
    assert len(rows) == threads * per_thread == 8000
    assert len({r["query"] for r in rows}) == 8000


RACER = """
import sys, time
from pathlib import Path
from kb.feedback.store import FeedbackStore
target, go, n = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
store = FeedbackStore(target)
Path(str(go) + "." + n).touch()
while not go.exists():  # every process is up before any of them touches the database
    time.sleep(0.002)
store.record_search(f"proceso {n}", top_fase="calma", results=1)
store.record_vote(f"proceso {n}", "guias/a#x", 1, 0.5, 1)
"""


@BACKENDS
def test_eight_processes_starting_on_a_fresh_database_migrate_once(target, tmp_path):
    """Eight panel processes make their first call on an empty database at the same moment."""
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, target, str(go), str(n)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n in range(8)
    ]
    wait_until(  # all eight have imported and built their store
        lambda: len(list(tmp_path.glob("go.*"))) == 8, "los ocho procesos listos", seen=lambda: list(tmp_path.iterdir())
    )
    go.touch()
    outputs = [p.communicate(timeout=CEILING)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, "\n".join(outputs)
    store = FeedbackStore(target)
    assert len(store.rows("searches")) == 8 and len(store.rows("feedback")) == 8
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == ["0002"]
    store.close()


# ---------------------------------------------------------------- older SQLite files


def older_sqlite(path: Path, *, top_fase: bool) -> Path:
    """A feedback file exactly as the pre-Alembic versions made it, with some rows."""
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(f"""
            CREATE TABLE searches (id INTEGER PRIMARY KEY, created_at TEXT NOT NULL, session TEXT,
                query TEXT NOT NULL, fase_filter TEXT, top_card_id TEXT, {"top_fase TEXT," if top_fase else ""}
                top_score REAL, low_confidence INTEGER NOT NULL DEFAULT 0, results INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE feedback (id INTEGER PRIMARY KEY, created_at TEXT NOT NULL, session TEXT,
                query TEXT NOT NULL, card_id TEXT NOT NULL, rank INTEGER NOT NULL, score REAL NOT NULL,
                vote INTEGER NOT NULL CHECK (vote IN (-1, 1)), comment TEXT, fase TEXT);
            CREATE INDEX feedback_card ON feedback(card_id);
            CREATE INDEX searches_query ON searches(query);
            INSERT INTO searches (created_at, query, low_confidence, results)
                VALUES ('2024-01-02T03:04:05Z', 'me grita', 0, 3), ('2024-01-02T03:04:06Z', 'paella', 1, 0);
            INSERT INTO feedback (created_at, query, card_id, rank, score, vote)
                VALUES ('2024-01-02T03:04:07Z', 'me grita', 'guias/a#x', 1, 0.8, -1);
        """)
        conn.commit()
    return path


@pytest.mark.parametrize("top_fase", [False, True], ids=["without-top_fase", "with-top_fase"])
def test_an_older_sqlite_file_is_adopted_without_losing_rows(tmp_path, top_fase):
    store = FeedbackStore(older_sqlite(tmp_path / "old.db", top_fase=top_fase))
    store.record_search("nueva", top_fase="calma")
    assert [(r["query"], r["top_fase"]) for r in store.rows("searches")] == [
        ("me grita", None),
        ("paella", None),
        ("nueva", "calma"),
    ]
    assert [r["vote"] for r in store.rows("feedback")] == [-1]
    store.record_audit("kb", "upgrade")
    assert compute_report(store).totals == {"searches": 3, "low_confidence": 1, "up": 0, "down": 1}
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == "0002"
    store.close()
    assert len(FeedbackStore(tmp_path / "old.db").rows("searches")) == 3  # a second start changes nothing


# ---------------------------------------------------------------- faults


def test_postgresql_stopped_mid_load_loses_no_acknowledged_write(request):
    """Stop the server under 8 writing threads, start it again: every write that returned is stored.

    A write either returns (acknowledged: committed) or raises StoreError after its retries."""
    server: PostgresServer = request.getfixturevalue("postgres_server")
    store = FeedbackStore(server.fresh_database())
    store.record_search("calentando")  # migrated and pooled before the fault
    acknowledged: list[str] = []
    failed: list[str] = []
    stop_writing = threading.Event()

    def worker(n: int) -> None:
        i = 0
        while not stop_writing.is_set():
            query = f"carga {n}-{i}"
            i += 1
            try:
                store.record_search(query, results=1)
            except StoreError:
                failed.append(query)
            else:
                acknowledged.append(query)

    errors: list[BaseException] = []
    writers = threading.Thread(target=lambda: errors.extend(run_threads(worker, 8)))
    writers.start()
    wait_until(lambda: len(acknowledged) >= 8, "escrituras confirmadas antes de parar el servidor")
    before_stop = len(acknowledged)
    server.stop("fast")
    wait_until(lambda: failed, "una escritura que agota sus reintentos con el servidor parado")
    server.start()
    restarted = len(acknowledged)
    wait_until(lambda: len(acknowledged) >= restarted + 8, "escrituras confirmadas tras arrancar de nuevo")
    stop_writing.set()
    writers.join(CEILING)
    assert errors == []  # nothing but StoreError escaped a write
    stored = {r["query"] for r in store.rows("searches")}
    missing = [q for q in acknowledged if q not in stored]
    print(
        f"\nfault: {len(acknowledged)} acknowledged ({before_stop} before the stop, "
        f"{len(acknowledged) - restarted} after the restart), {len(failed)} StoreError, "
        f"{len(stored) - 1} rows stored, {len(missing)} acknowledged but missing"
    )
    assert missing == []
    assert failed, "the server was down longer than the retry budget: some writes must have failed"
    assert len(acknowledged) > restarted > before_stop > 0  # writes resumed after the restart
    assert len(stored) - 1 >= len(acknowledged)
    store.close()


def test_an_unreachable_postgresql_at_start(tmp_path):
    store = FeedbackStore(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/kb")  # nobody listens
    assert store.available() is False
    started = time.perf_counter()
    with pytest.raises(StoreError, match="No se ha podido guardar en la base de datos"):
        store.record_vote("me grita", "guias/a#x", 1, 0.8, 1)
    assert time.perf_counter() - started < 5
    with pytest.raises(StoreError):
        compute_report(store)


def test_an_unusable_sqlite_path_fails_at_once(tmp_path):
    (tmp_path / "carpeta").mkdir()
    store = FeedbackStore(tmp_path / "carpeta")  # a folder where the file should be
    assert store.available() is False
    started = time.perf_counter()
    with pytest.raises(StoreError, match="KB_FEEDBACK_DB"):
        store.record_search("me grita")
    assert time.perf_counter() - started < 1  # not worth retrying: it would fail the same way


def test_a_malformed_url_is_a_store_error_not_a_crash():
    store = FeedbackStore("postgresql+nodriver://x@y/z")
    assert store.available() is False
    with pytest.raises(StoreError, match="KB_DATABASE_URL"):
        store.record_search("me grita")


def test_no_personal_data_survives_in_the_database_the_report_or_the_csv(store):
    """Every probe of tests/test_redact.py, typed as a query, a vote and a comment: none of the raw
    values is in any stored cell, in the report or in its CSV (digits compared without separators)."""
    import re

    from tests.test_redact import PROBES

    for text, _, _ in PROBES:
        store.record_search(text, low_confidence=True)
        vote = store.record_vote(text, "guias/a#x", 1, 0.5, -1, comment=f"comentario: {text}")
        store.add_comment(vote, f"otro comentario: {text}")
    report = compute_report(store, limit=1000)
    cells = [str(v) for table in ("searches", "feedback") for row in store.rows(table) for v in row.values()]
    cells += report.to_markdown().splitlines() + report.to_csv().splitlines()
    for _, raw, _ in PROBES:
        for cell in cells:
            if "@" in raw:
                assert raw not in cell
            else:
                assert re.sub(r"\D", "", raw) not in re.sub(r"\D", "", cell), (raw, cell)


def test_retention_runs_by_itself_when_a_store_is_first_used(store, monkeypatch):
    """KB_RETENTION_DAYS: a panel (or the API) starting on a database with old rows deletes them
    before anything else, and says so in the audit trail."""
    at(monkeypatch, T0 - timedelta(days=91))
    fill(store)
    at(monkeypatch, T0)
    store.record_search("reciente")
    fresh = FeedbackStore(store.target, retention_days=90)
    assert [r["query"] for r in fresh.rows("searches")] == ["reciente"]
    assert fresh.rows("feedback") == []
    assert fresh.audit_rows(1)[0]["action"] == "purga automática"
    fresh.close()
