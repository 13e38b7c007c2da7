"""Which card does a query belong to? A linear classifier trained on the cards' own situations.

Why: a card's dense score is its single best «Cuándo» line. With about 18 lines a card, the
lines together say more than the best one alone: a multinomial logistic regression
over every line's vector, labelled with its card, learns which directions of
the embedding space separate one card from its neighbours. An agent's wording that matches
no line closely («el señor anda bien bravo») still lands on the side of the card whose lines
it resembles as a group.

Trained at build time, never on the eval set: the regularisation (`C`) and the weight of its
probability in the ranking (`kb.retrieval.scoring.CLASSIFIER_WEIGHT`) were chosen by 5-fold
cross-validation over the Cuándo lines themselves (BENCHMARKS.md). It only orders cards:
whether the guides answer a query at all is still judged on the meaning score alone
(`is_low_confidence`), so a confident-looking probability never hides an unknown question.

Stored as FAISS (one row of weights a card) plus the intercepts in the manifest, like the
rest of the index: nothing is unpickled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np

C = 64.0
"""Inverse regularisation strength: 1, 8, 64, 256 and 1024 tried on the lines' cross-validation;
64 was best (hit@1 0.389 → 0.540 there) and 256–1024 start to overfit."""
MAX_ITER = 1000
"""L-BFGS converges in about 100 iterations on the real guides (1,505 rows); the cap only stops a
pathological set from hanging a build."""
TOLERANCE = 1e-6
"""Gradient size at which training stops: a full and an incremental (warm-started) build then
give the same probabilities to 0.003, so how the index was built does not change the ranking."""
VERSION = f"logreg-C{C:g}-1"
"""Recorded in the manifest: a change in how the classifier is trained makes the index stale."""


@dataclass(frozen=True)
class CardClassifier:
    """Softmax weights: one row a card (`coef`, shape (cards, dim)) and one intercept a card."""

    coef: np.ndarray
    intercept: np.ndarray

    def probabilities(self, query: np.ndarray) -> np.ndarray:
        """p(card | query) for one query vector (shape (1, dim) or (dim,)): one value a card, sum 1."""
        logits = self.coef @ np.asarray(query, dtype=np.float32).reshape(-1) + self.intercept
        logits = logits - logits.max()
        odds = np.exp(logits)
        return np.asarray(odds / odds.sum(), dtype=np.float32)

    @classmethod
    def fit(
        cls, situations: np.ndarray, owner: np.ndarray, texts: np.ndarray, previous: CardClassifier | None = None
    ) -> CardClassifier | None:
        """Train on every situation vector (labelled with its card, `owner`) and every card's text
        vector. None with fewer than two cards: there is nothing to tell apart.

        The objective is scikit-learn's `LogisticRegression(C=C)` (mean cross-entropy plus an L2
        penalty on the weights, none on the intercepts), minimised with torch's L-BFGS: same
        probabilities to 0.002 on the real guides, 1.6 s instead of 4–6 s (BENCHMARKS.md).
        `previous` (the last build's classifier, same number of cards) starts the solver from its
        weights: after editing one guide the optimum barely moves, so an incremental build
        converges in about half the iterations."""
        count = len(texts)
        if count < 2:
            return None
        import torch

        rows = np.vstack([situations, texts]).astype(np.float32)
        # Centred rows give the same optimum (the intercepts are not penalised and absorb the
        # shift) in ~20 % fewer iterations: the problem is better conditioned.
        mean = rows.mean(axis=0)
        x = torch.from_numpy(np.ascontiguousarray(rows - mean))
        y = torch.from_numpy(np.concatenate([owner, np.arange(count)]).astype(np.int64))
        shape = (count, x.shape[1])
        if previous is not None and previous.coef.shape == shape:
            weights = torch.from_numpy(previous.coef.copy())
            bias = torch.from_numpy((previous.intercept + previous.coef @ mean).astype(np.float32))
        else:
            weights, bias = torch.zeros(shape), torch.zeros(count)
        weights.requires_grad_(True)
        bias.requires_grad_(True)
        penalty = 1.0 / (2 * C * len(y))
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
        return cls(coef, (bias.detach().numpy() - coef @ mean).astype(np.float32))

    def manifest(self) -> dict[str, Any]:
        """What the manifest keeps beside `classifier.faiss` (the weights live in that file)."""
        return {"intercept": [float(b) for b in self.intercept]}

    @classmethod
    def from_stored(cls, weights: Any, stored: Any, cards: int) -> CardClassifier | None:
        """The classifier of a loaded index of `cards` cards: `weights` is the FAISS index of
        `classifier.faiss`, `stored` the manifest entry. None when the index has none (fewer
        than two cards). Raises ValueError when they do not agree with each other or with the
        cards (the caller reports a damaged index)."""
        if not stored:
            if weights.ntotal or cards >= 2:
                raise ValueError("missing classifier")
            return None
        intercept = np.asarray(stored["intercept"], dtype=np.float32)
        if intercept.ndim != 1 or not weights.ntotal == len(intercept) == cards:
            raise ValueError("classifier shape")
        return cls(weights.reconstruct_n(0, weights.ntotal), intercept)


def weights_index(classifier: CardClassifier | None, dim: int) -> Any:
    """The weights as the flat FAISS index stored in `classifier.faiss`, one row a card (empty
    without a classifier): the other half of `CardClassifier.from_stored`."""
    index = faiss.IndexFlatIP(dim)
    if classifier is not None:
        index.add(np.ascontiguousarray(classifier.coef, dtype=np.float32))
    return index
