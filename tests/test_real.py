"""The real-wording register (tests/data/real): situations modelled on public Spanish text nobody on
the team wrote, labelled in two independent passes, split by source into dev (tuned on) and test
(reported). How it was made: tests/data/real/README.md.
"""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlparse

import pytest

from kb.content import load_cards, renamed_ids
from kb.trainers.evaluate import REAL_GROUPS, EvalQuery, _metrics, format_report, load_eval_set

from .conftest import ROOT

REAL_DIR = ROOT / "tests" / "data" / "real"


@pytest.fixture(scope="module")
def real() -> list[EvalQuery]:
    return load_eval_set(REAL_DIR)


def site(url: str) -> str:
    host = (urlparse(url).hostname or url).removeprefix("www.")
    parts = host.split(".")
    second_level = len(parts) >= 3 and parts[-2] in {"com", "co", "org", "gob", "gov", "net", "edu", "gub"}
    return ".".join(parts[-3:] if second_level and len(parts[-1]) == 2 else parts[-2:])


def rows() -> list[dict]:
    import json

    return [json.loads(line) for file in sorted(REAL_DIR.glob("*.jsonl")) for line in file.read_text().splitlines()]


def test_the_real_set_is_big_enough_and_says_where_each_item_comes_from(real):
    in_scope = [q for q in real if q.in_scope]
    assert len(in_scope) >= 150 and len(real) - len(in_scope) >= 40
    for row in rows():
        assert row["register"] == "real" and row["split"] in {"dev", "test"}
        assert row["source"].startswith("http") and row["kind"] and row["country"] and row["speaker"]
        assert row["labels"]["a"]["best"] in row["expected"] + [None]  # both passes are kept
        assert row["labels"]["b"]["best"] in row["expected"] + [None]


def test_every_label_names_a_card_that_exists(real, settings):
    cards = load_cards(settings.docs_dir, settings.root)
    ids = {c.id for c in cards} | set(renamed_ids(cards))  # or a card merged into another (`data-antes`)
    assert [(q.source, e) for q in real for e in q.expected if e not in ids] == []


def test_dev_and_test_share_no_source_site_and_no_pair():
    """Split by source, not by item: a site (and both items of a pair) is all in dev or all in test."""
    splits: dict[str, set[str]] = {}
    for row in rows():
        splits.setdefault(site(row["source"]), set()).add(row["split"])
        if row["pair"]:
            splits.setdefault(row["pair"], set()).add(row["split"])
    assert {key: s for key, s in splits.items() if len(s) > 1} == {}
    assert Counter(r["split"] for r in rows() if r["pair"])["dev"] >= 20  # pairs for the learning curve


def test_no_real_item_is_copied_into_the_guides(real, settings):
    when = {w.lower() for c in load_cards(settings.docs_dir, settings.root) for w in c.when}
    assert [q.query for q in real if q.query.lower() in when] == []


def test_the_report_breaks_the_real_register_down_by_split_kind_and_country():
    queries = [
        EvalQuery("a", ["x"], "1", "real", {"split": "dev", "kind": "prensa", "country": "ES", "speaker": "cliente"}),
        EvalQuery("b", ["y"], "2", "real", {"split": "test", "kind": "foro", "country": "AR", "speaker": "agente"}),
        EvalQuery("c", [], "3", "real", {"split": "test", "kind": "foro", "country": "AR", "speaker": "cliente"}),
    ]
    report = _metrics("kb", queries, [["x"], ["z", "y"], ["x"]], [False, False, True], 0.0)
    assert report.groups["split"] == {
        "dev": {"n": 1, "hit1": 1.0, "hit3": 1.0, "mrr": 1.0, "oos_recall": 0.0, "in_scope_flagged": 0.0},
        "test": {"n": 2, "hit1": 0.0, "hit3": 1.0, "mrr": 0.5, "oos_recall": 1.0, "in_scope_flagged": 0.0},
    }
    assert set(report.groups["country"]) == {"ES", "AR"} and set(report.groups) == set(REAL_GROUPS)
    text = format_report([report])
    assert "Por partición (kb):" in text and "| test | 2 | 0.000 | 1.000 | 0.500 | 1.000 | 0.000 |" in text
    assert "Por país (kb):" in text and "Por tipo de fuente (kb):" in text


REAL_TEST_FLOORS = {"hit1": 0.40, "hit3": 0.62, "oos_recall": 0.57}
"""One query under the figures measured on real/test (0.416, 0.636, 0.632; 77 in scope, 19 out) with the
classifier's views pooled as a product of experts (2026-12-06; 0.403, 0.662, 0.632 with the mixture).
Before the issue-29 guides: 0.403, 0.571, 0.684 on the same labels; one out-of-scope question fewer is
flagged (BENCHMARKS.md, paired tests)."""
REAL_TEST_CEILING_IN_SCOPE_FLAGGED = 0.08  # measured 0.039 (3 of 77); 0.065 before the issue-29 guides


@pytest.fixture(scope="module")
def real_test_report(searcher, real):
    from kb.trainers.evaluate import eval_searcher

    return eval_searcher(searcher, [q for q in real if q.facets["split"] == "test"], "default")


@pytest.mark.parametrize("metric", sorted(REAL_TEST_FLOORS))
def test_real_wording_stays_above_its_floor(real_test_report, metric):
    assert getattr(real_test_report, metric) >= REAL_TEST_FLOORS[metric], real_test_report.misses


def test_real_wording_in_scope_is_rarely_flagged(real_test_report):
    assert real_test_report.in_scope_flagged <= REAL_TEST_CEILING_IN_SCOPE_FLAGGED
