"""Questions the guides do not answer: the nearest-question rule of low confidence.

An agent asking «cuánto tarda en llegar un pedido» must see «no encuentro nada fiable», not a card
about waiting customers that merely shares words. The trainers list such questions in
docs/fuera-de-alcance.txt; a query nearer to one of them than to every Cuándo line is flagged.
"""

from __future__ import annotations

import numpy as np

from kb.content import Card, read_guides
from kb.retrieval.calibration import OUTSIDE_FILE, outside_list, outside_questions
from kb.retrieval.scoring import Candidate, HybridScorer, is_low_confidence
from kb.retrieval.store import docs_fingerprint
from kb.retrieval.vectors import build_faiss
from kb.trainers.check import outside_problems

from .conftest import ROOT


def _unit(*xs: float) -> np.ndarray:
    v = np.array([xs], dtype=np.float32)
    return v / np.linalg.norm(v)


def _card(when: list[str]) -> Card:
    return Card("g#a", "Guía", "Sección", "Texto.", "calma", [], [], [], "g/#a", "docs/g.md:1", when)


def _scorer(outside: np.ndarray | None) -> HybridScorer:
    """One card with two situations along the x axis; out-of-scope questions along y."""
    situations = np.vstack([_unit(1, 0, 0), _unit(1, 0.2, 0)])
    return HybridScorer(
        [_card(["a", "b"])],
        build_faiss(_unit(1, 0, 0)),
        build_faiss(situations),
        None,
        build_faiss(outside) if outside is not None else None,
    )


def test_a_query_nearer_to_a_known_outside_question_is_flagged_whatever_its_score():
    scorer = _scorer(np.vstack([_unit(0, 1, 0), _unit(0, 0, 1)]))
    assert scorer.nearer_outside(_unit(0.3, 1, 0)) == 0
    assert scorer.nearer_outside(_unit(0.3, 0, 1)) == 1
    assert scorer.nearer_outside(_unit(1, 0.3, 0)) is None  # nearer to a situation: the guides answer
    confident = [Candidate(0, 0.9, 0.9)]
    assert not is_low_confidence(confident, threshold=0.5)
    assert is_low_confidence(confident, threshold=0.5, nearer_outside=True)


def test_without_outside_questions_only_the_threshold_judges():
    assert _scorer(None).nearer_outside(_unit(0, 1, 0)) is None
    assert _scorer(np.zeros((0, 3), dtype=np.float32)).nearer_outside(_unit(0, 1, 0)) is None


def test_the_trainers_list_joins_the_shipped_one_without_comments_or_repeats(tmp_path):
    shipped = outside_list()
    (tmp_path / OUTSIDE_FILE).write_text(
        f"# comentario\n\ncuánto tarda un envío urgente\n{shipped[0]}\n  cuánto tarda un envío urgente  \n",
        encoding="utf-8",
    )
    questions = outside_questions(tmp_path)
    assert questions == shipped + ["cuánto tarda un envío urgente"]
    assert outside_questions(tmp_path / "no-existe") == shipped


def test_editing_the_outside_list_makes_the_index_stale(tmp_path):
    (tmp_path / "guia.md").write_text("# Guía\n", encoding="utf-8")
    before = docs_fingerprint(tmp_path)
    (tmp_path / OUTSIDE_FILE).write_text("cuánto cuesta la tarifa de fibra\n", encoding="utf-8")
    assert docs_fingerprint(tmp_path) != before


def test_the_real_list_never_repeats_a_situation_of_the_guides():
    """A question in both places would be answered and flagged at once (`kb check` reports it)."""
    docs = ROOT / "docs"
    assert len(outside_list(docs / OUTSIDE_FILE)) >= 30
    assert outside_problems(read_guides(docs, ROOT), docs, ROOT) == []


def test_search_flags_an_outside_question_and_names_it(searcher, settings):
    question = outside_list(ROOT / "docs" / OUTSIDE_FILE)[0]
    response = searcher.search(question)
    assert response.low_confidence and response.outside == question
    assert response.to_dict(settings)["outside"] == question
    answered = searcher.search("el cliente no para de gritarme y no me deja hablar")
    assert not answered.low_confidence and answered.outside is None
    assert "outside" not in answered.to_dict(settings)
