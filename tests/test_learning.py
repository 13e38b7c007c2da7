"""The contact centre's own words teach search (kb.trainers.learning): an agent's 👍 becomes a suggestion, a
trainer accepts or rejects it (panel or `kb learn`), and the next build learns the accepted ones.

Each rule runs on SQLite and on a real PostgreSQL server; a personal-data-bearing or rejected
search never reaches the index."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

from kb.cli import main
from kb.content import load_cards
from kb.errors import UsageError
from kb.feedback.store import FeedbackStore
from kb.retrieval.build import build_index
from kb.retrieval.store import load_index
from kb.trainers.learning import accepted, candidates, clause, decide, learned_for, with_learned
from tests.pg import postgres_server  # noqa: F401
from tests.test_panel_auth import TRAINERS, make_accounts, open_app, sign_in, texts

SHOUTS = "guias/enfado#no-interrumpir"
CALM = "guias/enfado#mantener-la-calma"
RUNAROUND = "me tienen de acá para allá y nadie se hace cargo"
CURSES = "el tipo me putea y no me deja ni contestar"


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "feedback.db")
    return request.getfixturevalue("postgres_server").fresh_database()


@pytest.fixture
def store(target):
    s = FeedbackStore(target)
    yield s
    s.close()


@pytest.fixture
def cards(project):
    root, docs, _ = project
    return load_cards(docs, root)


def seed(store: FeedbackStore) -> None:
    """Two agents rate RUNAROUND 👍 on SHOUTS, one rates CURSES 👍 on CALM and one 👎 on SHOUTS; a
    pasted phone number is stored redacted, and a query is rated 👍 once and 👎 twice."""
    store.record_vote(RUNAROUND, SHOUTS, 1, 0.6, 1, session="s1")
    store.record_vote(RUNAROUND, SHOUTS, 2, 0.5, 1, session="s2")
    store.record_vote(CURSES, CALM, 1, 0.7, 1, session="s3")
    store.record_vote(CURSES, SHOUTS, 2, 0.6, -1, session="s3")
    store.record_vote("me grita, llámame al 612 34 56 78", SHOUTS, 1, 0.6, 1, session="s4")
    store.record_vote("no sé qué hacer", CALM, 1, 0.4, 1, session="s5")
    for session in ("s5", "s6"):
        store.record_vote("no sé qué hacer", CALM, 1, 0.4, -1, session=session)
    store.record_vote("algo", "guias/borrada#x", 1, 0.4, 1, session="s7")


def test_thumbs_up_become_suggestions_with_their_evidence(store, cards):
    seed(store)
    found = candidates(store, cards)
    assert [(s.card_id, s.query, s.up, s.down, s.sessions) for s in found] == [
        (SHOUTS, RUNAROUND, 2, 0, 2),
        (CALM, CURSES, 1, 0, 1),
    ]  # no phone-bearing search, no 👎-majority one, no card that no longer exists
    assert found[0].evidence.startswith("👍 ×2 en 2 sesión(es); la última, 20")
    assert len({s.key for s in found}) == 2 and all(len(s.key) == 8 for s in found)


def test_a_search_already_among_a_cards_lines_is_not_suggested(store, cards):
    seed(store)
    cards = [
        replace(c, when=["Me tienen de aca para alla, y nadie se hace cargo"]) if c.id == SHOUTS else c for c in cards
    ]
    assert [s.query for s in candidates(store, cards)] == [CURSES]


def test_personal_data_can_never_be_accepted(store):
    for text in ("llámame al 612 34 56 78", "llámame al [teléfono]", "mi correo es [email]"):
        with pytest.raises(UsageError, match="datos personales"):
            decide(store, SHOUTS, text, accept=True, who="lucia")
    assert store.rows("learned") == []


def test_a_verdict_is_kept_with_who_and_when_and_never_asked_again(store, cards):
    seed(store)
    decide(store, SHOUTS, RUNAROUND, accept=True, who="lucia", evidence="👍 ×2")
    decide(store, CALM, CURSES, accept=False, who="marta")
    assert candidates(store, cards) == []
    rows = {r["query"]: r for r in store.rows("learned")}
    assert (rows[RUNAROUND]["status"], rows[RUNAROUND]["who"], rows[RUNAROUND]["evidence"]) == (
        "accepted",
        "lucia",
        "👍 ×2",
    )
    assert rows[CURSES]["status"] == "rejected" and rows[CURSES]["decided_at"].endswith("Z")
    assert accepted(store) == {SHOUTS: [RUNAROUND]}
    decide(store, CALM, CURSES, accept=True, who="lucia")  # a trainer may change their mind
    assert accepted(store) == {SHOUTS: [RUNAROUND], CALM: [CURSES]} and len(store.rows("learned")) == 2


def test_the_next_build_learns_the_accepted_and_never_the_rejected(store, project, encoder):
    root, docs, index_dir = project
    seed(store)
    decide(store, SHOUTS, RUNAROUND, accept=True, who="lucia")
    decide(store, CALM, CURSES, accept=False, who="lucia")
    report = build_index(docs, index_dir, encoder, root=root, learned=accepted(store))
    loaded = load_index(index_dir, model_id=encoder.model_id, docs_dir=docs)
    by_id = {c.id: c for c in loaded.cards}
    assert by_id[SHOUTS].learned == [RUNAROUND] and RUNAROUND in by_id[SHOUTS].when
    assert not any(CURSES in c.when or "[teléfono]" in " ".join(c.when) for c in loaded.cards)
    again = build_index(docs, index_dir, encoder, root=root, learned=accepted(store))
    assert again.unchanged and report.embedded == len(loaded.cards)
    decide(store, CALM, CURSES, accept=True, who="lucia")
    after = build_index(docs, index_dir, encoder, root=root, learned=accepted(store))
    assert after.embedded == 1  # only the card that learned something is embedded again


def test_a_long_search_teaches_the_clause_nearest_to_the_card(encoder):
    story = (
        "Llamé el lunes por la factura de octubre y me dijeron que ya estaba resuelto. "
        "El martes volví a llamar porque seguía igual y me pasaron con otra persona. "
        "Al final el chico me colgó el teléfono mientras yo le gritaba."
    )
    own = encoder.encode_queries(["el cliente me cuelga el teléfono", "me colgó el teléfono"])
    assert clause(story, own, encoder) == "Al final el chico me colgó el teléfono mientras yo le gritaba."
    assert clause("me colgó", own, encoder) == "me colgó"  # a short search teaches itself
    (card,) = with_learned([learned_card()], {"guias/x#y": [story]}, encoder)
    assert card.learned == ["Al final el chico me colgó el teléfono mientras yo le gritaba."]


def learned_card():
    from kb.content import Card

    return Card(
        "guias/x#y", "X", "Y", "texto", "calma", [], [], [], "guias/x/#y", "docs/guias/x.md:1", ["me colgó el teléfono"]
    )


def test_kb_learn_lists_accepts_and_the_next_kb_build_learns_it(target, project, monkeypatch, embedder):
    root, docs, index_dir = project
    store = FeedbackStore(target)
    seed(store)
    store.close()
    variable = "KB_DATABASE_URL" if target.startswith("postgresql") else "KB_FEEDBACK_DB"
    monkeypatch.setenv(variable, target)
    monkeypatch.setenv("KB_DOCS", str(docs))
    monkeypatch.setenv("KB_INDEX", str(index_dir))
    monkeypatch.setenv("KB_HOME", str(root))
    runner = CliRunner()
    listed = runner.invoke(main, ["learn"], catch_exceptions=False)
    assert listed.exit_code == 0 and "0 situaciones aceptadas" in listed.output and RUNAROUND in listed.output
    key = listed.output.split(SHOUTS)[0].split()[-1]
    done = runner.invoke(main, ["learn", "--accept", key, "--quien", "lucia"], catch_exceptions=False)
    assert done.exit_code == 0 and f"Aceptada: «{RUNAROUND}» → {SHOUTS}" in done.output
    unknown = runner.invoke(main, ["learn", "--reject", key])
    assert unknown.exit_code != 0 and "No hay ninguna sugerencia pendiente" in unknown.output
    exported = [json.loads(line) for line in runner.invoke(main, ["export"]).output.splitlines()]
    assert {c["id"]: c.get("learned") for c in exported}[SHOUTS] == [RUNAROUND]
    check = runner.invoke(main, ["check", "--no-model"])
    assert "1 situaciones aprendidas de las búsquedas en 1 tarjetas" in check.output
    assert runner.invoke(main, ["build", "--index-only"]).exit_code == 0
    assert load_index(index_dir).cards[[c.id for c in load_index(index_dir).cards].index(SHOUTS)].learned == [RUNAROUND]
    found = json.loads(runner.invoke(main, ["search", RUNAROUND, "--json", "-k", "1"]).output)
    assert found["results"][0]["id"] == SHOUTS
    store = FeedbackStore(target)
    assert [(r["who"], r["action"]) for r in store.audit_rows()] == [("lucia", "situación aceptada")]
    store.close()


def test_a_build_goes_on_without_learned_situations_when_the_database_is_down(settings, tmp_path):
    from tests.support.waits import free_port

    said: list[str] = []
    down = settings.with_(database_url=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/kb")
    assert learned_for(down, said.append) == {} and "se construye sin ellas" in said[0]
    fresh = settings.with_(feedback_db=tmp_path / "nada.db", database_url="")
    assert learned_for(fresh, said.append) == {} and not (tmp_path / "nada.db").exists()


def test_a_trainer_accepts_and_rejects_in_the_panel_with_one_click(built_index, tmp_path, monkeypatch):
    make_accounts(tmp_path / "users.json")
    monkeypatch.setenv("KB_USERS_FILE", str(tmp_path / "users.json"))
    monkeypatch.setenv("KB_FEEDBACK_DB", str(tmp_path / "feedback.db"))
    monkeypatch.delenv("KB_HOST", raising=False)
    store = FeedbackStore(tmp_path / "feedback.db")
    card = "guias/pecados-capitales#evasivas"
    store.record_search(RUNAROUND, top_card_id=card, results=3)
    store.record_vote(RUNAROUND, card, 1, 0.6, 1, session="s1")
    store.record_vote("me dejó colgado al [teléfono]", card, 1, 0.6, 1, session="s2")
    store.record_vote(CURSES, "guias/cliente-sin-razon#el-cliente-abusivo", 1, 0.6, 1, session="s3")
    (first, second) = candidates(store, load_cards(built_index.docs_dir, built_index.root))
    at: AppTest = sign_in(open_app(TRAINERS), "lucia")
    assert RUNAROUND in texts(at) and CURSES in texts(at) and "[teléfono]" not in texts(at)
    at = at.button(key=f"learn-yes-{first.key}").click().run()
    at = at.button(key=f"learn-no-{second.key}").click().run()
    assert not at.exception
    assert "Ninguna búsqueda nueva que revisar." in texts(at) and "1 situaciones aceptadas en 1 tarjetas" in texts(at)
    assert {r["query"]: (r["status"], r["who"], r["evidence"]) for r in store.rows("learned")} == {
        first.query: ("accepted", "lucia", first.evidence),
        second.query: ("rejected", "lucia", second.evidence),
    }
    actions = [r["action"] for r in store.audit_rows()]
    assert "situación aceptada" in actions and "situación rechazada" in actions
    store.close()
