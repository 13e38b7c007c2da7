"""No personal value of the copy-paste matrix (tests.pii_matrix) is stored, through any way in: the
feedback store itself (real SQLite), the API's /api/feedback and /api/search, the panel's searches and
comments (real Streamlit AppTest)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from streamlit.testing.v1 import AppTest

from kb.api import create_app
from kb.feedback.store import FeedbackStore
from tests.conftest import ROOT
from tests.pii_matrix import leaked, matrix, sentence

CARD = "guias/cliente-enfadado#escalar-al-supervisor"
CASES = matrix()


def leaks_in(rows: list, columns: tuple[str, ...]) -> list[tuple[str, str]]:
    """(kind, stored text) for every matrix value still readable in any of `columns` of any row."""
    stored = [str(row[c] or "") for row in rows for c in columns]
    return [(what, text) for what, value in CASES for text in stored if leaked(value, text)]


def test_the_store_keeps_no_value_of_the_matrix(tmp_path):
    store = FeedbackStore(tmp_path / "fb.db")
    for _, value in CASES:
        store.record_search(sentence(value))
        row = store.record_vote(sentence(value), CARD, 1, 0.5, -1, comment=f"comentario: {value}")
        store.add_comment(row, f"otro comentario: {value}")
    assert len(store.rows("searches")) == len(store.rows("feedback")) == len(CASES)
    assert leaks_in(store.rows("searches"), ("query",)) == []
    assert leaks_in(store.rows("feedback"), ("query", "comment")) == []


def test_a_comment_cut_at_its_limit_does_not_cut_a_number_in_two(tmp_path):
    store = FeedbackStore(tmp_path / "fb.db")
    padding = "x" * 995
    row = store.record_vote("me grita", CARD, 1, 0.5, -1, comment=f"{padding} 612 345 678")
    comment = next(r["comment"] for r in store.rows("feedback") if r["id"] == row)
    assert "612" not in comment and "345" not in comment


@pytest.fixture
def client(built_index, searcher, tmp_path):
    store = FeedbackStore(tmp_path / "fb.db")
    with TestClient(create_app(built_index, lambda: searcher, store=store), base_url="http://127.0.0.1") as c:
        c.store = store  # type: ignore[attr-defined]
        yield c


def test_the_api_stores_and_echoes_no_value_of_the_matrix(client):
    echoed = []
    for i, (_, value) in enumerate(CASES):
        body = {"query": sentence(value), "card_id": CARD, "rank": 1, "vote": -1, "comment": f"dice: {value}"}
        assert client.post("/api/feedback", json=body).status_code == 201
        if i % 5 == 0:  # every fifth also searched: the echo is what a CRM would keep
            echoed.append({"query": client.get("/api/search", params={"q": sentence(value)}).json()["query"]})
    assert leaks_in(client.store.rows("feedback"), ("query", "comment")) == []
    assert leaks_in(echoed, ("query",)) == []


def packs(size: int, limit: int) -> list[list[str]]:
    """The matrix's values in groups of `size`, each group joined under `limit` characters."""
    out: list[list[str]] = [[]]
    for _, value in CASES:
        if len(out[-1]) == size or len(" ; ".join([*out[-1], value])) > limit:
            out.append([])
        out[-1].append(value)
    return out


def test_the_panel_stores_no_value_it_was_given(built_index, tmp_path, monkeypatch):
    """Every value goes through the search box (several per search) and a 👎 comment (several per
    comment, each under the box's 500 characters)."""
    monkeypatch.setenv("KB_INDEX", str(built_index.index_dir))
    monkeypatch.setenv("KB_FEEDBACK_DB", str(tmp_path / "feedback.db"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    for values in packs(20, 880):
        half = len(values) // 2
        # A situation the base plainly covers, so every search shows cards to vote on and comment.
        situation = "el cliente está muy enfadado, me grita y no me deja hablar; me da estos datos: "
        at.text_input(key="query").input(situation + " ; ".join(values))
        at = at.button(key="FormSubmitter:buscar-Buscar").click().run()
        for rank, comment in ((1, values[:half]), (2, values[half:])):
            at = next(b for b in at.button if b.key and b.key.startswith("down-") and b.key.endswith(f"-{rank}"))
            at = at.click().run()
            box = next(
                t for t in at.text_input if t.key and t.key.startswith("comment-") and t.key.endswith(f"-{rank}")
            )
            assert len(" ; ".join(comment)) <= 500
            box.input(" ; ".join(comment))
            send = next(b for b in at.button if b.key and b.key.startswith("send-") and b.key.endswith(f"-{rank}"))
            at = send.click().run()
        assert not at.exception
    store = FeedbackStore(tmp_path / "feedback.db")
    assert len(store.rows("searches")) == len(packs(20, 880))
    assert sum(1 for r in store.rows("feedback") if r["comment"]) == 2 * len(packs(20, 880))
    assert leaks_in(store.rows("searches"), ("query",)) == []
    assert leaks_in(store.rows("feedback"), ("query", "comment")) == []
