"""Small things an operator can get wrong, made safe or plain (issue 30, low items): the SQLite file
is private, a session length of 0 is refused, retention 0 means one thing, and the PostgreSQL limits
of KB_DB_TIMEOUT reach the server."""

from __future__ import annotations

import stat
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from kb.cli import main
from kb.config import load_settings
from kb.errors import ConfigError
from kb.feedback import database as db
from kb.feedback.store import FeedbackStore
from tests.conftest import ROOT
from tests.pg import postgres_server  # noqa: F401 - fixture


def test_the_sqlite_file_and_its_journal_are_readable_by_their_owner_only(tmp_path):
    path = tmp_path / "datos" / "feedback.db"
    store = FeedbackStore(path)
    store.record_search("me grita")  # WAL mode: the -wal and -shm files exist while the pool holds a connection
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.parent.iterdir()}
    assert {"feedback.db", "feedback.db-wal", "feedback.db-shm"} <= set(modes)
    assert {name: mode for name, mode in modes.items() if mode != 0o600} == {}
    store.close()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("KB_SESSION_HOURS", "0", "KB_SESSION_HOURS debe ser al menos 1, no 0."),
        ("KB_DB_TIMEOUT", "1", "KB_DB_TIMEOUT debe ser al menos 2, no 1."),
        ("KB_RETENTION_DAYS", "-1", "KB_RETENTION_DAYS no puede ser negativo (-1)."),
    ],
)
def test_values_that_would_misbehave_are_refused_in_spanish(monkeypatch, variable, value, message):
    """KB_SESSION_HOURS=0 used to sign everyone out at once; now it is an error that says why."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as refused:
        load_settings(ROOT)
    assert str(refused.value) == message


def test_retention_zero_keeps_everything_and_purge_asks_for_a_date(tmp_path, monkeypatch):
    monkeypatch.setattr(db, "_utcnow", lambda: db.datetime.now(db.UTC) - timedelta(days=4000))
    old = FeedbackStore(tmp_path / "f.db")
    old.record_search("consulta de hace once años")
    old.close()
    monkeypatch.undo()
    store = FeedbackStore(tmp_path / "f.db", retention_days=0)  # a panel with KB_RETENTION_DAYS=0
    store.record_search("consulta de hoy")
    assert [r["query"] for r in store.rows("searches")] == ["consulta de hace once años", "consulta de hoy"]
    store.close()
    env = {"KB_RETENTION_DAYS": "0", "KB_FEEDBACK_DB": str(tmp_path / "f.db"), "KB_DATABASE_URL": ""}
    refused = CliRunner().invoke(main, ["purge"], env=env)
    assert refused.exit_code != 0 and "sin límite" in refused.output and "--before" in refused.output
    assert len(FeedbackStore(tmp_path / "f.db").rows("searches")) == 2  # nothing deleted
    done = CliRunner().invoke(main, ["purge", "--before", "2000-01-01"], env=env)
    assert done.exit_code == 0, done.output


def test_postgresql_gets_the_timeouts_of_kb_db_timeout(postgres_server):  # noqa: F811
    store = FeedbackStore(postgres_server.fresh_database(), timeout_s=2)
    shown = store.read(
        lambda conn: {
            name: conn.execute(sa.text(f"SHOW {name}")).scalar_one()
            for name in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
        }
    )
    assert shown == {"statement_timeout": "2s", "lock_timeout": "2s", "idle_in_transaction_session_timeout": "12s"}
    started = time.perf_counter()
    with pytest.raises(sa.exc.OperationalError, match="QueryCanceled"), store.engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_sleep(30)"))
    assert time.perf_counter() - started < 10  # cut by the server at 2 s, not after 30
    store.close()
