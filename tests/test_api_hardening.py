"""Issue 30 (network, logs, API): searches by POST and logged for the report, strict bodies, the Host
check, 503s logged without the query and without the database's address, token expiry and revocation,
unknown KB_* variables refused, and the start-up line that says whether sign-in is on.

The API runs in-process (TestClient) on the real index and a real SQLite store; the deployment
(nginx, TLS, PostgreSQL, every log grepped for personal data) is tests/test_deploy.py.
"""

from __future__ import annotations

import logging
import time

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from kb.accounts.identity import AGENT
from kb.accounts.users_file import Accounts, TokenExpired
from kb.api import create_app
from kb.cli import main
from kb.config import check_environment, load_settings
from kb.errors import ConfigError, StoreError
from kb.feedback.store import FeedbackStore
from tests.conftest import ROOT

CARD = "guias/cliente-enfadado#escalar-al-supervisor"
LOCAL = "http://127.0.0.1"
PHONE_QUERY = "me grita y me da su móvil 612 34 56 78"


@pytest.fixture
def client(built_index, searcher, tmp_path):
    store = FeedbackStore(tmp_path / "fb.db")
    app = create_app(built_index, lambda: searcher, store=store)
    with TestClient(app, raise_server_exceptions=False, base_url=LOCAL) as c:
        c.store = store  # type: ignore[attr-defined]
        c.state = app.state.kb  # type: ignore[attr-defined]
        yield c


def api_searches(client) -> list[dict]:
    assert client.state.searches.wait_idle(30)
    return [dict(r) for r in client.store.rows("searches")]


# ---------------------------------------------------------------- search by POST, logged for the report


def test_post_search_answers_exactly_like_get(client):
    for k, fase in ((3, None), (5, "solucion")):
        body = {"q": "quiere hablar con mi supervisor", "k": k} | ({"fase": fase} if fase else {})
        posted = client.post("/api/search", json=body)
        got = client.get("/api/search", params=body)
        assert posted.status_code == got.status_code == 200
        assert posted.json() == got.json() and len(posted.json()["results"]) == k


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"q": "   \t  "}, 400),
        ({"q": "\u200b\u200b"}, 400),
        ({"q": "me grita", "k": True}, 422),
        ({"q": "me grita", "k": "3"}, 422),
        ({"q": "me grita", "otro": 1}, 422),
        ({"q": "me grita", "fase": "inventada"}, 400),
        ({}, 422),
    ],
)
def test_post_search_refuses_bad_bodies_in_spanish(client, body, status):
    r = client.post("/api/search", json=body)
    assert r.status_code == status, r.text
    assert r.json()["detail"] and "should" not in r.text  # Spanish, not pydantic's English


def test_api_searches_are_logged_redacted_with_session_api(client):
    assert client.post("/api/search", json={"q": PHONE_QUERY}).status_code == 200
    assert client.get("/api/search", params={"q": "quiere un reembolso", "fase": "solucion"}).status_code == 200
    assert client.post("/api/search", json={"q": "   "}).status_code == 400  # refused: not logged
    rows = api_searches(client)
    assert [r["session"] for r in rows] == ["api", "api"]
    assert "612" not in rows[0]["query"] and "[teléfono]" in rows[0]["query"]
    assert rows[0]["top_card_id"] and rows[0]["results"] == 3
    assert rows[1]["fase_filter"] == "solucion"


def test_a_store_that_fails_never_costs_the_search(built_index, searcher, tmp_path, caplog):
    (tmp_path / "dir.db").mkdir()  # a folder where the file should be: every write fails
    app = create_app(built_index, lambda: searcher, store=FeedbackStore(tmp_path / "dir.db"))
    c = TestClient(app, base_url=LOCAL)
    with caplog.at_level(logging.WARNING, logger="kb.api"):
        for _ in range(3):
            assert c.post("/api/search", json={"q": PHONE_QUERY}).status_code == 200
        assert app.state.kb.searches.wait_idle(60)
    said = [r.getMessage() for r in caplog.records if "registrar las búsquedas" in r.getMessage()]
    assert len(said) == 1, said  # once per outage, not once per search
    assert "612" not in caplog.text and "grita" not in caplog.text
    assert app.state.kb.searches.failed == 3


# ---------------------------------------------------------------- strict feedback bodies


@pytest.mark.parametrize("change", [{"vote": True}, {"vote": False}, {"rank": True}, {"vote": 1.0}, {"vote": "1"}])
def test_booleans_and_strings_are_not_votes(client, change):
    body = {"query": "me grita", "card_id": CARD, "rank": 1, "vote": 1} | change
    r = client.post("/api/feedback", json=body)
    assert r.status_code == 422, r.text
    assert client.store.rows("feedback") == []


@pytest.mark.parametrize("query", ["   ", "\t\n", "\u200b", "???"])
def test_a_query_without_words_is_400_and_nothing_is_stored(client, query):
    r = client.post("/api/feedback", json={"query": query, "card_id": CARD, "rank": 1, "vote": 1})
    assert r.status_code == 400 and not r.json()["detail"].isascii()
    assert client.store.rows("feedback") == []


def test_control_characters_are_dropped_not_stored_or_refused(client):
    body = {"query": "me grita\x00 mucho", "card_id": CARD, "rank": 1, "vote": -1, "comment": "no\x00 sirve\nnada"}
    r = client.post("/api/feedback", json=body)
    assert r.status_code == 201, r.text
    row = client.store.rows("feedback")[-1]
    assert "\x00" not in row["query"] + row["comment"] and "me grita" in row["query"] and "\n" in row["comment"]


# ---------------------------------------------------------------- 503: logged, and no address in the answer


def test_a_503_is_logged_without_the_query_and_answers_without_the_database_path(
    built_index, searcher, tmp_path, caplog
):
    where = tmp_path / "dir.db"
    where.mkdir()
    app = create_app(built_index, lambda: searcher, store=FeedbackStore(where))
    c = TestClient(app, base_url=LOCAL)
    body = {"query": PHONE_QUERY, "card_id": CARD, "rank": 1, "vote": 1}
    with caplog.at_level(logging.WARNING, logger="kb.api"):
        r = c.post("/api/feedback", json=body)
    assert r.status_code == 503
    assert str(tmp_path) not in r.text and "KB_FEEDBACK_DB" in r.json()["detail"]
    lines = [rec.getMessage() for rec in caplog.records if rec.getMessage().startswith("503 en POST /api/feedback")]
    assert len(lines) == 1 and str(where) in lines[0]  # the operator's log names the file
    assert "612" not in caplog.text and "grita" not in caplog.text


def test_a_postgresql_error_names_the_setting_not_the_url():
    store = FeedbackStore("postgresql+psycopg://kb:secreta@127.0.0.1:1/kb")  # nothing listens on port 1
    with pytest.raises(StoreError) as caught:
        store.record_search("me grita")
    error = caught.value
    assert "KB_DATABASE_URL" in error.message
    assert "127.0.0.1" not in error.message and "postgresql" not in error.message
    assert "secreta" not in error.operator_text() and "127.0.0.1" in error.operator_text()


@pytest.mark.parametrize(
    "url", ["postgresql+psycopg://kb:secreta@servidor:puerto/kb", "postgresql+nada://kb:secreta@h/kb"]
)
def test_a_malformed_database_url_is_not_repeated_back(url):
    with pytest.raises(StoreError) as caught:
        FeedbackStore(url).record_search("x")
    assert "KB_DATABASE_URL" in caught.value.message
    assert "secreta" not in caught.value.operator_text() and caught.value.cause  # the operator still learns why


# ---------------------------------------------------------------- health, Host check


def test_health_says_whether_a_token_is_required(built_index, searcher, tmp_path):
    def health(settings) -> dict:
        return TestClient(create_app(settings, lambda: searcher), base_url=LOCAL).get("/api/health").json()

    assert health(built_index)["token_required"] is False
    assert health(built_index.with_(behind_proxy=True))["token_required"] is True
    assert health(built_index.with_(host="0.0.0.0"))["token_required"] is True


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1:8502", True),
        ("localhost", True),
        ("[::1]:8502", True),
        ("kb.empresa.local", True),  # KB_SITE_URL's host
        ("crm-puente.empresa.local:8600", True),  # KB_ALLOWED_HOSTS
        ("rebind.attacker.example", False),
        ("127.0.0.1.attacker.example", False),
        ("", False),
    ],
)
def test_the_api_answers_only_to_its_own_host_names(built_index, searcher, tmp_path, host, allowed):
    settings = built_index.with_(
        site_url="https://kb.empresa.local/manual/", allowed_hosts=" crm-puente.empresa.local "
    )
    store = FeedbackStore(tmp_path / "fb.db")
    c = TestClient(create_app(settings, lambda: searcher, store=store), base_url=LOCAL)
    r = c.post("/api/search", json={"q": "me grita"}, headers={"Host": host})
    if allowed:
        assert r.status_code == 200, r.text
        return
    assert r.status_code == 400 and r.headers["content-type"] == "application/json"
    assert "KB_ALLOWED_HOSTS" in r.json()["detail"]
    vote = {"query": "me grita", "card_id": CARD, "rank": 1, "vote": 1}
    assert c.post("/api/feedback", json=vote, headers={"Host": host}).status_code == 400
    assert store.rows("feedback") == [] and store.rows("searches") == []  # a rebinding page plants nothing


# ---------------------------------------------------------------- tokens: expiry and revocation


def exposed_app(built_index, searcher, tmp_path, clock=time.time):
    users = tmp_path / "usuarios.json"
    accounts = Accounts(users, clock=clock)
    settings = built_index.with_(behind_proxy=True, users_file=users, token_days=90)
    app = create_app(settings, lambda: searcher, store=FeedbackStore(tmp_path / "fb.db"), accounts=accounts)
    return TestClient(app, base_url=LOCAL), accounts


def test_a_token_expires_after_kb_token_days(built_index, searcher, tmp_path):
    now = [time.time()]
    c, accounts = exposed_app(built_index, searcher, tmp_path, clock=lambda: now[0])
    accounts.add("ana", "una contraseña larga", AGENT)
    token = accounts.create_token("ana")
    auth = {"Authorization": f"Bearer {token}"}
    now[0] += 89 * 86400
    assert c.post("/api/search", json={"q": "me grita"}, headers=auth).status_code == 200
    now[0] += 2 * 86400
    r = c.post("/api/search", json={"q": "me grita"}, headers=auth)
    assert r.status_code == 401 and "caducado" in r.json()["detail"]
    with pytest.raises(TokenExpired):
        accounts.user_for_token(token, max_days=90)
    assert accounts.user_for_token(token) is not None  # 0 = no limit


def test_kb_users_revoke_ends_every_token_of_an_account(built_index, searcher, tmp_path):
    c, accounts = exposed_app(built_index, searcher, tmp_path)
    accounts.add("ana", "una contraseña larga", AGENT)
    env = {"KB_USERS_FILE": str(tmp_path / "usuarios.json"), "KB_TOKEN_DAYS": "30"}
    made = CliRunner().invoke(main, ["users", "token", "ana"], env=env)
    assert made.exit_code == 0 and "Caduca el" in made.stderr and "30 días" in made.stderr
    tokens = [made.stdout.strip(), accounts.create_token("ana")]
    for token in tokens:
        assert c.post("/api/search", json={"q": "me grita"}, headers={"Authorization": f"Bearer {token}"}).is_success
    revoked = CliRunner().invoke(main, ["users", "revoke", "ana"], env=env)
    assert revoked.exit_code == 0 and "2 tokens revocados" in revoked.stdout
    for token in tokens:
        r = c.post("/api/search", json={"q": "me grita"}, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401
    again = CliRunner().invoke(main, ["users", "revoke", "ana"], env=env)
    assert "no tenía tokens" in again.stdout
    assert accounts.verify("ana", "una contraseña larga").name == "ana"  # the account itself stays


# ---------------------------------------------------------------- KB_* typos, the start-up line


@pytest.mark.parametrize(
    ("typo", "meant"),
    [("KB_BEHIND_PROXI", "KB_BEHIND_PROXY"), ("KB_DOCS_DIR", "KB_DOCS"), ("KB_DATABSE_URL", "KB_DATABASE_URL")],
)
def test_a_typo_in_a_kb_variable_is_refused_with_the_closest_name(monkeypatch, typo, meant):
    monkeypatch.setenv(typo, "1")
    with pytest.raises(ConfigError, match=f"{typo} \\(¿querías decir {meant}\\?\\)"):
        load_settings(ROOT)
    result = CliRunner().invoke(main, ["search", "me grita"], env={typo: "1"})
    assert result.exit_code == 2 and f"¿querías decir {meant}?" in result.stderr and "Traceback" not in result.output


def test_every_variable_kb_reads_is_accepted():
    from kb.config import OTHER_VARIABLES, SETTINGS

    check_environment({s.env: "x" for s in SETTINGS} | dict.fromkeys(OTHER_VARIABLES, "x") | {"PATH": "/bin"})
    with pytest.raises(ConfigError, match="KB_NADA\\. kb no las lee"):
        check_environment({"KB_NADA": "1"})  # nothing close: no guess, the list of valid names


def test_the_start_up_line_says_whether_sign_in_is_on_and_why(settings):
    loopback = settings.with_(host="127.0.0.1", behind_proxy=False)
    assert "no piden inicio de sesión ni token" in loopback.access_line()
    assert "sin KB_BEHIND_PROXY" in loopback.access_line()
    proxied = loopback.with_(behind_proxy=True).access_line()
    assert "inicio de sesión activado" in proxied and "KB_BEHIND_PROXY=1" in proxied and "la API pide token" in proxied
    open_host = settings.with_(host="0.0.0.0", open_panel=True).access_line()
    assert "KB_HOST=0.0.0.0" in open_host and "KB_OPEN_PANEL=1" in open_host


def test_head_on_an_api_route_is_not_the_sites_html_404(built_index, searcher, tmp_path):
    (tmp_path / "index.html").write_text("<h1>Guías</h1>", encoding="utf-8")
    c = TestClient(create_app(built_index, lambda: searcher, site_dir=tmp_path), base_url=LOCAL)
    r = c.head("/api/search")
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"
