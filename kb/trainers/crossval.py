"""Cross-validation on the guides' own Cuándo lines: how ranking settings are chosen without the eval set.

    python -m kb.trainers.crossval                 # every card's lines dealt into 5 folds
    python -m kb.trainers.crossval --by commits    # the lines of one git commit hidden at a time

Each fold hides some Cuándo lines from everything the search learns from (the situations' index,
the classifier and its letters' view, the keywords), then searches each hidden line with the
production scorer (`kb.retrieval.scoring.HybridScorer`, trained by `kb.retrieval.build`) and looks
for the line's own card in the results. Two ways to hide lines:

- `cards`: each card's lines shuffled (fixed seed) and dealt into 5 folds. The CV tables of
  BENCHMARKS.md; every ranking constant's docstring cites them.
- `commits`: the lines each git commit added, one commit at a time. Lines were written in rounds,
  each by one author; hiding a whole round tests wording the training lines' authors never used,
  as the eval set's author and agents do (BENCHMARKS.md, «dejando fuera un autor»).

The vectors are the built index's (`kb build`): nothing is embedded again, so a run takes about a
minute (mostly the classifier's training, once a fold).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from kb.config import Settings, load_settings
from kb.errors import KbError, UsageError
from kb.retrieval.build import classifier_for
from kb.retrieval.scoring import HybridScorer
from kb.retrieval.store import LoadedIndex, load_index
from kb.retrieval.vectors import build_faiss
from kb.trainers.measures import first_hit

FOLDS = 5
SEED = 0
"""Fixed: the same folds on every run and machine, so two settings are compared on the same lines."""


@dataclass(frozen=True)
class CrossValidation:
    """Ranks of each hidden line's own card (1 = first; 0 = not among the results)."""

    by: str
    folds: int
    ranks: np.ndarray

    def metrics(self) -> dict[str, float]:
        found = self.ranks > 0
        return {
            "lines": float(len(self.ranks)),
            "hit1": float(np.mean(self.ranks == 1)),
            "hit3": float(np.mean(found & (self.ranks <= 3))),
            "mrr": float(np.mean(np.where(found, 1.0 / np.maximum(self.ranks, 1), 0.0))),
        }


def folds_by_card(owner: np.ndarray, folds: int = FOLDS, seed: int = SEED) -> np.ndarray:
    """A fold for each situation row: each card's rows shuffled and dealt round-robin, so every card
    keeps about (folds − 1)/folds of its lines in training."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(owner), dtype=np.int64)
    for card in range(int(owner.max()) + 1 if len(owner) else 0):
        rows = np.flatnonzero(owner == card)
        rng.shuffle(rows)
        fold[rows] = np.arange(len(rows)) % folds
    return fold


def folds_by_commit(index: LoadedIndex, root: Path) -> np.ndarray:
    """A fold for each situation row: the git commit that last wrote the line (`git blame`), numbered
    in order of first appearance. Raises UsageError outside a git checkout."""
    commits: dict[str, int] = {}
    blames: dict[str, dict[str, str]] = {}
    fold = []
    for card in index.cards:
        source = card.source.rsplit(":", 1)[0]
        if source not in blames:
            blames[source] = _blame(root / source)
        by_line = blames[source]
        for line in card.when:
            commit = by_line.get(line.strip())
            if commit is None:
                raise UsageError(f"No se encuentra en git la línea «{line}» de {card.id}: ¿guías sin confirmar?")
            fold.append(commits.setdefault(commit, len(commits)))
    return np.asarray(fold, dtype=np.int64)


def _blame(path: Path) -> dict[str, str]:
    """Bullet text → commit for one guide, from `git blame --line-porcelain`."""
    try:
        out = subprocess.run(
            ["git", "blame", "--line-porcelain", path.name], cwd=path.parent, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise UsageError(f"Para --by commits hace falta el historial de git de {path}.") from error
    found: dict[str, str] = {}
    commit = ""
    for row in out.splitlines():
        if row.startswith("\t"):
            text = row[1:].strip()
            if text.startswith("- "):
                found.setdefault(text[2:].strip(), commit)
        elif row and not row.startswith(("author", "committer", "summary", "filename", "previous", "boundary")):
            commit = row.split(" ", 1)[0]
    return found


def _splits(fold: np.ndarray) -> Iterator[np.ndarray]:
    for number in np.unique(fold):
        yield fold == number


def cross_validate(index: LoadedIndex, fold: np.ndarray, by: str) -> CrossValidation:
    """Hide each fold of situation rows in turn, rank every hidden line with a scorer trained on
    the rest, and collect the rank of its own card."""
    cards = index.cards
    text = index.text_index.reconstruct_n(0, index.text_index.ntotal)
    when = index.when_index.reconstruct_n(0, index.when_index.ntotal)
    owner = index.scorer.owner
    lines = [line for card in cards for line in card.when]
    parts = index.classifier.parts if index.classifier is not None else None
    synonyms = index.scorer.synonyms  # the ones the index was calibrated with
    ranks = np.zeros(len(lines), dtype=np.int64)
    for hidden in _splits(fold):
        kept = ~hidden
        training = [replace(c, when=[s for s, k in zip(c.when, kept[owner == n]) if k]) for n, c in enumerate(cards)]
        classifier = classifier_for(training, text, when[kept], parts) if parts else None
        scorer = HybridScorer(training, build_faiss(text), build_faiss(when[kept]), synonyms, None, classifier)
        for row in np.flatnonzero(hidden):
            top = scorer.top(when[row : row + 1], len(cards), lines[row])
            ranks[row] = first_hit((c.card for c in top), {owner[row]}) or 0
    return CrossValidation(by, len(np.unique(fold)), ranks)


def run(settings: Settings, by: str = "cards") -> CrossValidation:
    """The cross-validation of the built index's lines (`by`: "cards" or "commits")."""
    index = load_index(settings.index_dir)
    if by == "cards":
        return cross_validate(index, folds_by_card(index.scorer.owner), by)
    if by == "commits":
        return cross_validate(index, folds_by_commit(index, settings.root), by)
    raise UsageError(f"--by espera «cards» o «commits», no «{by}».")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kb.trainers.crossval", description=__doc__.split("\n")[0])
    parser.add_argument("--by", choices=("cards", "commits"), default="cards")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        result = run(load_settings(), args.by)
    except KbError as error:
        print(error.message, file=sys.stderr)
        return error.exit_code
    m = result.metrics()
    if args.json:
        print(json.dumps({"by": result.by, "folds": result.folds, **m}))
    else:
        print(
            f"Validación cruzada ({result.by}, {result.folds} particiones, {int(m['lines'])} líneas): "
            f"hit@1 {m['hit1']:.3f}, hit@3 {m['hit3']:.3f}, MRR {m['mrr']:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
