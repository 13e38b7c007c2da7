"""Where "no encuentro nada fiable" starts: the low-confidence threshold of one index.

Calibrated at every build on questions we know the answer for: in-scope ones (the
guides' `situaciones`) and out-of-scope ones shipped with kb (`kb/data/fuera-de-alcance.txt`).
Never on the eval set, so `kb eval` stays a fair test of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kb.retrieval.scoring import HybridScorer, best_dense

NEGATIVES_FLAGGED = 0.80
"""Share of the shipped out-of-scope questions the threshold aims to flag: a wrong «no encuentro nada
fiable» mid-call costs the agent more than a weak card for an off-topic question, so it stays below
what would flag more of both (BENCHMARKS.md, «De dónde sale cada constante»)."""
MAX_FALSE_FLAG = 0.05
"""At most this share of the in-scope calibration questions may fall under the threshold."""

SHIPPED_OUTSIDE_FILE = Path(__file__).resolve().parent.parent / "data" / "fuera-de-alcance.txt"
"""Shipped with kb, generic: questions no customer-service guide answers (IT, HR…). They calibrate the
threshold and, with the trainers' OUTSIDE_FILE, feed the nearest-question rule: both are «outside»."""


OUTSIDE_FILE = "fuera-de-alcance.txt"
"""Trainer-owned, next to the guides: questions agents ask that the guides do not answer (delivery
times, tariffs, warranties…). Not in the threshold's calibration, since they sit close to the guides'
words and would raise it for every query (BENCHMARKS.md); they feed the nearest-question rule instead
(kb.retrieval.scoring.is_low_confidence)."""


def numbered_questions(path: Path) -> list[tuple[int, str]]:
    """(line number, question) of one list file: one question per line, blank lines and '#'
    comments skipped. The one reader of these files, for the build and for `kb check`."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(n, line.strip()) for n, line in enumerate(lines, 1) if line.strip() and not line.lstrip().startswith("#")]


def outside_list(path: Path = SHIPPED_OUTSIDE_FILE) -> list[str]:
    """The out-of-scope questions of one list file (see numbered_questions)."""
    return [question for _, question in numbered_questions(path)]


def outside_questions(docs_dir: Path) -> list[str]:
    """Every known question the guides do not answer: the shipped list, then the trainers' own."""
    seen = dict.fromkeys(outside_list() + outside_list(docs_dir / OUTSIDE_FILE))
    return list(seen)


def threshold_rule(positives: np.ndarray, negatives: np.ndarray) -> float:
    """The one threshold rule, for any scorer: flag NEGATIVES_FLAGGED of the negatives, but never
    more than MAX_FALSE_FLAG of the positives. (Aiming at the negatives first: the positives are
    written by the same trainers as the cards and score higher than what agents really type, so a
    threshold set from them alone flags too much.)"""
    if not len(positives):
        return 0.0
    threshold = float(np.quantile(positives, MAX_FALSE_FLAG))
    if len(negatives):
        threshold = min(threshold, float(np.quantile(negatives, NEGATIVES_FLAGGED)))
    return threshold


def calibrate(
    scorer: HybridScorer, positives: np.ndarray, negatives: np.ndarray, texts: tuple[list[str], list[str]] | None = None
) -> dict[str, Any]:
    """Pick the top score under which a query is 'low confidence' (see threshold_rule).

    `texts` (the queries' words) lets the keyword bonus take part in ranking exactly as in search."""

    def top(vectors: np.ndarray, words: list[str] | None) -> np.ndarray:
        return np.array(
            [best_dense(scorer.top(vectors[i : i + 1], 3, words[i] if words else None)) for i in range(len(vectors))]
        )

    pos = top(positives, texts[0] if texts else None)
    neg = top(negatives, texts[1] if texts else None)
    if not len(pos):
        return {"threshold": 0.0, "positives": 0, "negatives": int(len(neg)), "neg_flagged": 0.0, "pos_flagged": 0.0}
    threshold = threshold_rule(pos, neg)
    return {
        "threshold": round(threshold, 5),
        "positives": int(len(pos)),
        "negatives": int(len(neg)),
        "pos_flagged": round(float(np.mean(pos < threshold)), 4),
        "neg_flagged": round(float(np.mean(neg < threshold)), 4) if len(neg) else 0.0,
    }
