"""The agents' panel, driven headless with Streamlit's AppTest (no browser)."""

from __future__ import annotations

import shutil
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from kb.accounts.identity import TRAINER, Session, User
from kb.feedback.store import FeedbackStore
from kb.panel.view import (
    QUICK_SITUATIONS,
    TIP_CHARS,
    TIP_CHARS_AFTER_ACTION,
    escape_markdown,
    fase_key,
    phrase_html,
    phrases_html,
    remember,
    tip_text,
)
from kb.retrieval.scoring import MAX_SCORE
from kb.search.searcher import Searcher
from tests.conftest import ROOT
from tests.support.waits import wait_until

pytestmark = pytest.mark.model  # every panel run loads the model

APP = str(ROOT / "app.py")


@pytest.fixture
def app(built_index, tmp_path, monkeypatch):
    monkeypatch.setenv("KB_INDEX", str(built_index.index_dir))
    monkeypatch.setenv("KB_FEEDBACK_DB", str(tmp_path / "feedback.db"))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception
    return at


def search(at: AppTest, text: str) -> AppTest:
    at.text_input(key="query").input(text)
    at.button(key="FormSubmitter:buscar-Buscar").click()
    return at.run()


def headings(at: AppTest) -> list[str]:
    """Titles of the result cards: the best card's heading and the labels of the compact ones."""
    best = [m.value for m in at.markdown if m.value.startswith("**") and ". " in m.value[:6]]
    return best + [e.label for e in at.expander if e.label.startswith("**") and ". " in e.label[:6]]


def shown_html(at: AppTest) -> str:
    return "\n".join(h.proto.body for h in at.get("html"))


def test_empty_panel_shows_the_box_quick_buttons_and_no_results(app):
    assert app.text_input(key="query").label == "¿Qué está pasando en la llamada?"
    assert len([b for b in app.button if b.key and b.key.startswith("quick-")]) == len(QUICK_SITUATIONS)
    assert headings(app) == []
    assert not app.error


def test_a_search_shows_three_cards_with_phrases_and_links(app):
    at = search(app, "el cliente me grita y no me deja hablar")
    assert len(headings(at)) == 3
    assert "interrumpir" in headings(at)[0].lower() or "interrumpir" in headings(at)[1].lower()
    shown = shown_html(at)
    assert "✔ Decir" in shown and "✘ Evitar" in shown
    assert shown.count('class="kb-copy"') >= 2  # each "Decir" phrase with its copy button, as text
    assert not at.code


def test_result_1_is_open_and_results_2_3_are_compact(app):
    at = search(app, "el cliente me grita y no me deja hablar")
    assert [e.label[:3] for e in at.expander if e.label.startswith("**")] == ["**2", "**3"]
    assert not any(e.proto.expanded for e in at.expander if e.label.startswith("**"))


def test_echo_shows_the_query_as_searched_escaped(app):
    at = search(app, "<b>me grita</b>")
    echo = next(h.proto.body for h in at.get("html") if "Resultados para" in h.proto.body)
    assert "&lt;b&gt;me grita&lt;/b&gt;" in echo and "<b>" not in echo


def test_quick_button_runs_its_search(app):
    label, query = QUICK_SITUATIONS[4]  # asks for a supervisor
    at = app.button(key="quick-4").click().run()
    assert at.text_input(key="query").value == query
    assert any("supervisor" in h.lower() for h in headings(at))


def test_fase_filter_restricts_the_cards(app):
    app.selectbox(key="fase").select("Autocuidado")
    at = search(app, "el cliente está muy enfadado")
    assert len(headings(at)) >= 1
    assert all("Autocuidado" in h for h in headings(at))


def test_empty_input_asks_for_words_instead_of_failing(app):
    at = search(app, "   ")
    assert not at.exception
    assert any("Escribe qué está pasando" in i.value for i in at.info)
    assert headings(at) == []


def test_out_of_scope_is_honest_and_shows_no_cards(app):
    at = search(app, "receta de paella valenciana")
    assert any("No encuentro nada fiable" in w.value for w in at.warning)
    assert headings(at) == []


def test_a_product_question_says_which_known_question_it_resembles(app):
    """docs/fuera-de-alcance.txt: the agent learns it is a product question, not a missing card."""
    at = search(app, "cuánto tarda en llegar un pedido a casa")
    assert any("Se parece a «cuánto tarda en llegar un pedido a casa»" in w.value for w in at.warning)
    assert headings(at) == []


def test_a_vote_and_its_comment_are_stored_with_the_search(app, tmp_path):
    at = search(app, "dice que le hemos mentido")
    up = next(b for b in at.button if b.key and b.key.startswith("up-") and b.key.endswith("-1"))
    at = up.click().run()
    comment = next(t for t in at.text_input if t.key and t.key.startswith("comment-"))
    comment.input("muy útil")
    at = next(b for b in at.button if b.key and b.key.startswith("send-")).click().run()

    def rows() -> tuple[list, list]:
        with sqlite3.connect(tmp_path / "feedback.db") as conn:
            return (
                conn.execute("SELECT query, card_id, rank, score, vote, comment, created_at FROM feedback").fetchall(),
                conn.execute("SELECT query, low_confidence FROM searches").fetchall(),
            )

    # The panel queues its writes (kb.feedback.outbox): wait for the comment, the last of them.
    wait_until(lambda: any(v[5] for v in rows()[0]), "el voto con su comentario en la base", seen=rows)
    votes, searches = rows()
    assert len(votes) == 1
    query, card_id, rank, score, value, text, created = votes[0]
    assert (query, rank, value, text) == ("dice que le hemos mentido", 1, 1, "muy útil")
    assert card_id.startswith("guias/") and 0 < score <= MAX_SCORE and created
    assert searches == [("dice que le hemos mentido", 0)]


def test_recent_searches_can_be_run_again(app):
    at = search(app, "me insulta")
    at = search(at, "quiere un reembolso")
    recent = [b for b in at.button if b.key and b.key.startswith("recent-")]
    assert [b.label for b in recent] == ["quiere un reembolso", "me insulta"]


def as_trainer(at: AppTest) -> AppTest:
    """Signed in as a trainer (the session a successful sign-in leaves; sign-in itself: test_panel_auth)."""
    at.session_state["kb_session"] = Session(User("lucia", TRAINER, datetime.now(UTC)), time.time())
    return at.run()


def test_missing_index_is_a_notice_with_a_rebuild_button_for_trainers(tmp_path, monkeypatch):
    monkeypatch.setenv("KB_INDEX", str(tmp_path / "vacio"))
    monkeypatch.setenv("KB_FEEDBACK_DB", str(tmp_path / "feedback.db"))
    at = as_trainer(AppTest.from_file(APP, default_timeout=120).run())
    assert not at.exception
    assert any("No hay índice" in e.value for e in at.error)
    at = at.button(key="rebuild").click().run(timeout=900)  # embeds every card: minutes on a busy machine
    assert not at.exception and not at.error
    assert (tmp_path / "vacio" / "current").exists()
    store = FeedbackStore(tmp_path / "feedback.db")
    wait_until(  # the panel queues audit entries (kb.feedback.outbox)
        lambda: [(r["who"], r["action"]) for r in store.audit_rows()] == [("lucia", "reconstrucción del índice")],
        "la reconstrucción en la auditoría",
    )
    store.close()


def trainers_page() -> AppTest:
    at = as_trainer(AppTest.from_file(APP, default_timeout=120).run())
    at.switch_page("kb/panel/trainers.py").run()
    assert not at.exception
    return at


def table(at: AppTest, column: str):
    """The dataframe on the page that has `column`."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def test_trainers_page_shows_the_report(app, tmp_path):
    search(app, "receta de paella")
    search(app, "me grita")
    at = trainers_page()
    assert any(m.label == "Búsquedas" and m.value == "2" for m in at.metric)
    assert any(m.label == "Sin resultado fiable" and m.value == "1" for m in at.metric)
    assert table(at, "ejemplos").shape[0] == 1 and table(at, "consulta").shape[0] == 2


@pytest.fixture
def history(app, built_index, tmp_path):
    """A store with gaps (two meanings), a 👍 on a card for a new wording, a 👎 comment, and one old search."""
    searcher = Searcher.load(built_index)
    card = searcher.cards[0]
    store = FeedbackStore(tmp_path / "feedback.db")
    for query in [
        "receta de paella",
        "receta de paella valenciana",
        "cómo se hace una paella",
        "qué tiempo hará mañana",
    ]:
        store.record_search(query, low_confidence=True)
    store.record_vote("me chilla sin parar", card.id, 1, 0.9, 1)
    bad = store.record_vote("quiere un reembolso", card.id, 1, 0.8, -1)
    store.add_comment(bad, "le falta qué hacer si insiste")
    store.close()
    return card


def test_trainers_page_groups_gaps_lists_comments_and_proposes_situations(history):
    at = trainers_page()
    groups = table(at, "ejemplos")
    assert list(groups["búsquedas"]) == [3, 1]
    assert groups["ejemplos"][0].count(" · ") == 2 and "paella" in groups["ejemplos"][0]
    shown = "\n".join(m.value for m in at.markdown)
    assert "le falta qué hacer si insiste" in shown and history.source in shown
    assert settings_url(history) in shown  # card titles link to their section on the site
    assert "«me chilla sin parar»" in shown  # proposed as a situation, with an «Aceptar» button (kb.trainers.learning)
    assert any(b.label == "Aceptar" for b in at.button)


def test_trainers_page_date_range(history, tmp_path, monkeypatch):
    at = trainers_page()
    assert at.segmented_control[0].proto.default == [1]  # 30 días
    with sqlite3.connect(tmp_path / "feedback.db") as conn:  # every row 20 days old
        old = (datetime.now(UTC) - timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
        conn.execute("UPDATE searches SET created_at = ?", (old,))
        conn.execute("UPDATE feedback SET created_at = ?", (old,))
    at = trainers_page()
    assert any(m.label == "Búsquedas" and m.value == "4" for m in at.metric)
    at.segmented_control[0].set_value("7 días").run()
    assert not at.metric and any("Todavía no hay búsquedas" in i.value for i in at.info)


def settings_url(card) -> str:
    from kb.config import load_settings

    return load_settings().url_for(card.path)


def test_trainers_page_without_searches_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("KB_FEEDBACK_DB", str(tmp_path / "nada.db"))
    at = trainers_page()
    assert any("Todavía no hay búsquedas" in i.value for i in at.info)


def test_guides_changed_since_the_build_keeps_searching_and_offers_a_rebuild(built_index, tmp_path, monkeypatch):
    docs = tmp_path / "docs"
    shutil.copytree(built_index.docs_dir, docs)
    guide = next(docs.rglob("*.md"))
    guide.write_text(guide.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    monkeypatch.setenv("KB_INDEX", str(built_index.index_dir))
    monkeypatch.setenv("KB_DOCS", str(docs))
    monkeypatch.setenv("KB_FEEDBACK_DB", str(tmp_path / "feedback.db"))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception and not at.error
    assert any("desactualizado" in w.value for w in at.warning)
    assert any("formador" in c.value for c in at.caption)  # the rebuild button: test_panel_auth
    at = search(at, "quiere hablar con mi jefe")
    assert len(headings(at)) == 3


# ---------------------------------------------------------------- kb.panel helpers


def test_escape_markdown_shows_markup_literally():
    assert escape_markdown("**hola** [x](javascript:alert(1)) <b>") == (
        r"\*\*hola\*\* \[x\]\(javascript\:alert\(1\)\) \<b\>"
    )


def test_tip_text_is_short_and_ends_cleanly(searcher):
    for card in searcher.cards:
        tip = tip_text(card)
        whole = " ".join(line.lstrip("• ") for line in card.text.splitlines() if line.strip())
        limit = TIP_CHARS_AFTER_ACTION if card.action else TIP_CHARS  # under an action, about one line
        assert tip and len(tip) <= limit + 1
        if len(whole) <= limit:
            assert tip == whole
        else:
            assert tip.endswith((".", "…", "?", "!", ".»")), tip


def test_recent_list_keeps_order_without_duplicates():
    assert remember(["b", "a"], "a") == ["a", "b"]
    assert len(remember([str(i) for i in range(10)], "x")) == 6


def test_fase_labels_map_back_to_keys():
    assert fase_key("Solución") == "solucion" and fase_key("Todas las fases") is None


def test_phrases_are_escaped_text_with_slots_highlighted_and_brackets_copied():
    assert phrase_html("Se lo envío el [día] <b>x</b>") == (
        'Se lo envío el <span class="kb-slot">[día]</span> &lt;b&gt;x&lt;/b&gt;'
    )
    block = phrases_html(2, ['Le devuelvo [importe autorizado] "ya"'], ["<script>"])
    assert 'data-kb-copy="Le devuelvo [importe autorizado] &quot;ya&quot;"' in block
    assert 'data-kb-rank="2" data-kb-first="1"' in block and "&lt;script&gt;" in block and "<script>" not in block


def test_a_card_whose_guide_is_overdue_is_marked_for_review(searcher):
    from datetime import date, timedelta

    from kb.panel.results import review_badge

    card = searcher.cards[0]
    assert card.review_due  # every guide states when it was reviewed and how often
    due = date.fromisoformat(card.review_due)
    assert review_badge(card) == ("" if due >= date.today() else " :orange-badge[pendiente de revisión]")
    assert card.overdue(due + timedelta(days=1)) and not card.overdue(due)


# ---------------------------------------------------------------- «Conversación»


def add_turn(at: AppTest, speaker: str, text: str) -> AppTest:
    at.radio(key="speaker").set_value(speaker)
    at.text_area(key="turn").input(text)
    at.button(key="FormSubmitter:turno-Añadir").click()
    return at.run()


def test_conversation_page_follows_the_call_turn_by_turn(app):
    at = app.switch_page("kb/panel/conversation.py").run()
    assert not at.exception
    assert any("actualiza la fase" in c.value for c in at.caption)
    at = add_turn(at, "cliente", "¡Esto es una vergüenza! ¡Llevo tres semanas esperando y nadie me llama!")
    assert not at.exception
    first = [m.value for m in at.markdown if m.value.startswith("Fase de la llamada")]
    assert first and "nuevas: 1, 2, 3" in first[0]
    at = add_turn(at, "agente", "Entiendo su enfado. Vamos a ver qué ha pasado con su pedido.")
    at = add_turn(at, "cliente", "Quiero que me devuelvan el dinero o hablar con su jefe ahora mismo.")
    stage = [m.value for m in at.markdown if m.value.startswith("Fase de la llamada")]
    assert stage and "badge[" in stage[0]
    assert any("3 turnos" in e.label for e in at.expander)
    assert len([m for m in at.markdown if m.value.startswith("**1. ")]) == 1  # the best card is drawn open


def test_an_empty_turn_asks_for_words(app):
    at = app.switch_page("kb/panel/conversation.py").run()
    at = add_turn(at, "cliente", "   ")
    assert not at.exception
    assert any("Escribe o pega" in i.value for i in at.info)
