"""The agents' panel, driven headless with Streamlit's AppTest (no browser)."""

from __future__ import annotations

import shutil
import sqlite3

import pytest
from streamlit.testing.v1 import AppTest

from kb.panel.view import QUICK_SITUATIONS, escape_markdown, fase_key, remember, tip_text
from tests.conftest import ROOT

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
    return [m.value for m in at.markdown if m.value.startswith("**") and ". " in m.value[:6]]


def test_empty_panel_shows_the_box_quick_buttons_and_no_results(app):
    assert app.text_input(key="query").label == "¿Qué está pasando en la llamada?"
    assert len([b for b in app.button if b.key and b.key.startswith("quick-")]) == len(QUICK_SITUATIONS)
    assert headings(app) == []
    assert not app.error


def test_a_search_shows_three_cards_with_phrases_and_links(app):
    at = search(app, "el cliente me grita y no me deja hablar")
    assert len(headings(at)) == 3
    assert "interrumpir" in headings(at)[0].lower() or "interrumpir" in headings(at)[1].lower()
    assert any("✔ Decir" in m.value for m in at.markdown)
    assert any("✘ Evitar" in m.value for m in at.markdown)
    assert len(at.code) >= 2  # each "Decir" phrase in a copyable block


def test_quick_button_runs_its_search(app):
    label, query = QUICK_SITUATIONS[4]  # asks for a supervisor
    at = app.button(key="quick-4").click().run()
    assert at.text_input(key="query").value == query
    assert any("supervisor" in h.lower() for h in headings(at))


def test_fase_filter_restricts_the_cards(app):
    app.selectbox(key="fase").select("Autocuidado")
    at = search(app, "el cliente está muy enfadado")
    badges = [m.value for m in at.markdown if "-badge[" in m.value]
    assert badges and all("Autocuidado" in b for b in badges)


def test_empty_input_asks_for_words_instead_of_failing(app):
    at = search(app, "   ")
    assert not at.exception
    assert any("Escribe qué está pasando" in i.value for i in at.info)
    assert headings(at) == []


def test_out_of_scope_is_honest_and_shows_no_cards(app):
    at = search(app, "receta de paella valenciana")
    assert any("No encuentro nada fiable" in w.value for w in at.warning)
    assert headings(at) == []


def test_a_vote_and_its_comment_are_stored_with_the_search(app, tmp_path):
    at = search(app, "dice que le hemos mentido")
    up = next(b for b in at.button if b.key and b.key.startswith("up-") and b.key.endswith("-1"))
    at = up.click().run()
    comment = next(t for t in at.text_input if t.key and t.key.startswith("comment-"))
    comment.input("muy útil")
    at = next(b for b in at.button if b.key and b.key.startswith("send-")).click().run()
    with sqlite3.connect(tmp_path / "feedback.db") as conn:
        votes = conn.execute("SELECT query, card_id, rank, score, vote, comment, created_at FROM feedback").fetchall()
        searches = conn.execute("SELECT query, low_confidence FROM searches").fetchall()
    assert len(votes) == 1
    query, card_id, rank, score, value, text, created = votes[0]
    assert (query, rank, value, text) == ("dice que le hemos mentido", 1, 1, "muy útil")
    assert card_id.startswith("guias/") and 0 < score <= 1 and created
    assert searches == [("dice que le hemos mentido", 0)]


def test_recent_searches_can_be_run_again(app):
    at = search(app, "me insulta")
    at = search(at, "quiere un reembolso")
    recent = [b for b in at.button if b.key and b.key.startswith("recent-")]
    assert [b.label for b in recent] == ["quiere un reembolso", "me insulta"]


def test_missing_index_is_a_notice_with_a_rebuild_button(tmp_path, monkeypatch):
    monkeypatch.setenv("KB_INDEX", str(tmp_path / "vacio"))
    monkeypatch.setenv("KB_FEEDBACK_DB", str(tmp_path / "feedback.db"))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert any("No hay índice" in e.value for e in at.error)
    at = at.button(key="rebuild").click().run()
    assert not at.exception and not at.error
    assert (tmp_path / "vacio" / "current").exists()


def test_trainers_page_shows_the_report(app, tmp_path):
    search(app, "receta de paella")
    search(app, "me grita")
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("kb/panel/trainers.py").run()
    assert not at.exception
    assert any(m.label == "Búsquedas" and m.value == "2" for m in at.metric)
    assert any(m.label == "Sin resultado fiable" and m.value == "1" for m in at.metric)
    assert len(at.dataframe) >= 2  # frequent queries and content gaps


def test_trainers_page_without_searches_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("KB_FEEDBACK_DB", str(tmp_path / "nada.db"))
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("kb/panel/trainers.py").run()
    assert not at.exception
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
    assert any(b.key == "rebuild" for b in at.button)
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
        assert tip and len(tip) <= 241
        if len(whole) <= 240:
            assert tip == whole
        else:
            assert tip.endswith((".", "…", "?", "!", ".»")), tip


def test_recent_list_keeps_order_without_duplicates():
    assert remember(["b", "a"], "a") == ["a", "b"]
    assert len(remember([str(i) for i in range(10)], "x")) == 6


def test_fase_labels_map_back_to_keys():
    assert fase_key("Solución") == "solucion" and fase_key("Todas las fases") is None
