"""The lines' cross-validation (kb.trainers.crossval): the measurement every ranking constant cites."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from kb.retrieval.store import load_index
from kb.trainers import crossval

from .conftest import ROOT


def test_each_cards_lines_are_dealt_over_every_fold_the_same_way_each_time():
    owner = np.repeat(np.arange(3), [7, 5, 10])
    fold = crossval.folds_by_card(owner)
    assert np.array_equal(fold, crossval.folds_by_card(owner))
    for card in range(3):
        counts = np.bincount(fold[owner == card], minlength=crossval.FOLDS)
        assert counts.max() - counts.min() <= 1  # no card loses all its lines in one fold


def test_the_lines_cross_validation_of_the_real_guides(built_index):
    """The figures BENCHMARKS.md cites for today's settings: 2,367 lines, hit@1 0.700, hit@3 0.875, MRR 0.795.
    A floor just under them catches a change that makes search worse on the trainers' own lines."""
    result = crossval.run(built_index, "cards")
    figures = result.metrics()
    index = load_index(built_index.index_dir)
    assert figures["lines"] == sum(len(card.when) for card in index.cards)
    assert figures["hit1"] >= 0.69 and figures["hit3"] >= 0.86 and figures["mrr"] >= 0.78


@pytest.mark.skipif(not (ROOT / ".git").exists() or not shutil.which("git"), reason="needs the git history")
def test_lines_are_grouped_by_the_commit_that_wrote_them(built_index):
    index = load_index(built_index.index_dir)
    fold = crossval.folds_by_commit(index, built_index.root)
    assert len(fold) == sum(len(card.when) for card in index.cards)
    assert len(np.unique(fold)) >= 2  # the guides' lines were written in several rounds


def test_an_unknown_way_of_hiding_lines_is_a_clear_error(built_index):
    with pytest.raises(crossval.UsageError, match="cards.*commits"):
        crossval.run(built_index, "autores")
