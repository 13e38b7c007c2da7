"""kb.feedback.insights: content gaps grouped by meaning, 👎 comments, date windows.

No model here: `encode` is a stub whose vectors say which queries mean the same thing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from kb.content import Card
from kb.feedback import database as feedback_module
from kb.feedback.insights import GapGroup, down_comments, gap_groups, gap_queries, since_days
from kb.feedback.store import FeedbackStore

TOPICS = {"paella": [1.0, 0.0, 0.0], "tiempo": [0.0, 1.0, 0.0], "wifi": [0.0, 0.0, 1.0]}


def stub_encode(texts: list[str]) -> np.ndarray:
    """Unit vectors by topic word, slightly perturbed so similarities are not all exactly 1."""
    rows = []
    for i, text in enumerate(texts):
        topic = next(v for k, v in TOPICS.items() if k in text)
        row = np.array(topic) + 0.05 * (i % 3) * np.array([0.1, 0.2, 0.3])
        rows.append(row / np.linalg.norm(row))
    return np.array(rows, dtype=np.float32)


def card(card_id: str, when: list[str]) -> Card:
    return Card(
        id=card_id,
        title="Guía",
        heading="Guía › Sección",
        text="Texto.",
        fase="calma",
        tags=[],
        say=[],
        avoid=[],
        path="guias/x/#s",
        source="docs/guias/x.md:3",
        when=when,
    )


def test_gaps_are_grouped_by_meaning_with_size_and_three_examples():
    queries = ["receta de paella"] * 3 + [
        "paella valenciana",
        "cómo hacer paella",
        "paella de marisco",
        "el tiempo mañana",
        "wifi de la oficina",
    ]
    groups = gap_groups(queries, stub_encode)
    assert [g.size for g in groups] == [6, 1, 1]
    assert groups[0].examples == ["receta de paella", "cómo hacer paella", "paella de marisco"]
    assert len(groups[0].examples) == 3
    assert {tuple(g.examples) for g in groups[1:]} == {("el tiempo mañana",), ("wifi de la oficina",)}


def test_gap_grouping_counts_spellings_of_one_query_once_and_handles_nothing():
    groups = gap_groups(["Receta de paella", "receta de  paella", "receta de paella!"], stub_encode)
    assert groups == [GapGroup(3, ["Receta de paella"])]
    assert gap_groups([], stub_encode) == []
    assert gap_groups(["   "], stub_encode) == []


def test_a_low_threshold_merges_and_a_high_one_splits():
    queries = ["paella", "tiempo"]
    assert len(gap_groups(queries, stub_encode, threshold=-1.0)) == 1
    assert len(gap_groups(queries, stub_encode, threshold=0.99)) == 2


def test_since_days_is_a_window_back_from_now():
    now = datetime(2026, 3, 1, tzinfo=UTC)
    assert since_days(7, now) == now - timedelta(days=7)


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A SQLite store with rows 2 and 40 days old."""
    clock = {"now": datetime.now(UTC) - timedelta(days=40)}
    monkeypatch.setattr(feedback_module, "_utcnow", lambda: clock["now"])
    s = FeedbackStore(tmp_path / "f.db", retention_days=0)
    s.record_search("receta antigua", low_confidence=True)
    old = s.record_vote("consulta antigua", "guias/a/#x", 1, 0.9, -1)
    s.add_comment(old, "comentario antiguo")
    clock["now"] = datetime.now(UTC) - timedelta(days=2)
    s.record_search("receta de paella", low_confidence=True)
    s.record_search("me grita", low_confidence=False)
    s.record_vote("me chilla", "guias/a/#x", 1, 0.9, 1)
    bad = s.record_vote("quiere reembolso", "guias/b/#y", 1, 0.8, -1)
    s.add_comment(bad, "no dice qué hacer si insiste")
    s.record_vote("otra", "guias/b/#y", 2, 0.7, -1)  # a 👎 without comment is not listed
    yield s
    s.close()


def test_store_readers_respect_the_window(store):
    week, quarter = since_days(7), since_days(90)
    assert gap_queries(store, week) == ["receta de paella"]
    assert gap_queries(store, quarter) == ["receta de paella", "receta antigua"]
    comments = down_comments(store, week)
    assert [(c.card_id, c.query, c.comment) for c in comments] == [
        ("guias/b/#y", "quiere reembolso", "no dice qué hacer si insiste")
    ]
    assert len(down_comments(store, quarter)) == 2
