"""The card classifier: all of a card's situations, not only its nearest one, vote for the card.

An agent's «el señor anda bien bravo» may sit nearest to one line of the wrong card while
resembling the right card's lines as a group; the classifier trained on every Cuándo line
tells those groups apart, and its probability reorders the candidates (kb.retrieval.scoring).
"""

from __future__ import annotations

import numpy as np
import pytest

from kb.content import Card
from kb.embedding.encoders import VectorPart
from kb.retrieval.build import build_index
from kb.retrieval.classifier import CardClassifier, read_classifier, write_classifier
from kb.retrieval.scoring import HybridScorer
from kb.retrieval.store import current_path, load_index
from kb.retrieval.vectors import build_faiss


def _units(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _clusters(seed: int = 0, cards: int = 3, lines: int = 12, dim: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """`lines` noisy situations around each of `cards` random directions: (vectors, owner)."""
    rng = np.random.default_rng(seed)
    centres = _units(rng.normal(size=(cards, dim)))
    owner = np.repeat(np.arange(cards), lines)
    return _units(centres[owner] + 0.35 * rng.normal(size=(len(owner), dim))), owner


def _card(n: int, lines: int) -> Card:
    return Card(f"g#{n}", "Guía", f"Sección {n}", "Texto.", "calma", [], [], [], "g/#", "docs/g.md:1", ["x"] * lines)


def test_probabilities_name_the_card_whose_situations_the_query_resembles():
    situations, owner = _clusters()
    texts = _units(np.vstack([situations[owner == c].mean(axis=0) for c in range(3)]))
    classifier = CardClassifier.fit(situations, owner, texts)
    assert classifier is not None
    for card in range(3):
        p = classifier.probabilities(texts[card])
        assert p.shape == (3,) and abs(float(p.sum()) - 1) < 1e-5
        assert int(p.argmax()) == card and p[card] > 0.5


def test_one_card_has_nothing_to_tell_apart_and_two_cards_work():
    situations, owner = _clusters(cards=2)
    texts = _units(np.vstack([situations[owner == c].mean(axis=0) for c in range(2)]))
    assert CardClassifier.fit(situations[owner == 0], owner[owner == 0], texts[:1]) is None
    pair = CardClassifier.fit(situations, owner, texts)
    assert pair is not None
    assert pair.probabilities(texts[0]).argmax() == 0 and pair.probabilities(texts[1]).argmax() == 1


def test_starting_from_the_previous_build_converges_to_what_a_fresh_fit_gives():
    situations, owner = _clusters(seed=1, cards=4)
    texts = _units(np.vstack([situations[owner == c].mean(axis=0) for c in range(4)]))
    before = CardClassifier.fit(situations, owner, texts)
    edited = owner != 2
    edited[np.flatnonzero(owner == 2)[:3]] = True  # a trainer removed most lines of card 2
    warm = CardClassifier.fit(situations[edited], owner[edited], texts, previous=before)
    fresh = CardClassifier.fit(situations[edited], owner[edited], texts)
    assert warm is not None and fresh is not None
    gap = max(float(abs(warm.probabilities(q) - fresh.probabilities(q)).max()) for q in situations)
    assert gap < 0.01


def test_each_model_of_a_fused_vector_gets_its_own_regression(tmp_path):
    # Columns 0-15 (model «a», weight 0.6) tell the cards apart; columns 16-23 (model «b») are noise.
    situations, owner = _clusters(seed=2, cards=3, dim=16)
    noise = _units(np.random.default_rng(5).normal(size=(len(owner) + 3, 8)))
    texts = _units(np.vstack([situations[owner == c].mean(axis=0) for c in range(3)]))
    fused = np.hstack([np.vstack([situations, texts]) * np.sqrt(0.6), noise * np.sqrt(0.4)])
    parts = (VectorPart("a", 16, 0.6), VectorPart("b", 8, 0.4))
    classifier = CardClassifier.fit(fused[: len(owner)], owner, fused[len(owner) :], parts)
    assert classifier is not None and classifier.parts == parts and classifier.intercept.shape == (2, 3)
    for card in range(3):
        p = classifier.probabilities(fused[len(owner) + card])
        assert abs(float(p.sum()) - 1) < 1e-5 and int(p.argmax()) == card
    # What the index stores (weights in classifier.faiss, parts and intercepts in the manifest) reads back the same.
    write_classifier(tmp_path, classifier, 24)
    stored = read_classifier(tmp_path, classifier.manifest(), 3, 24)
    assert stored is not None and stored.parts == parts
    assert np.allclose(stored.probabilities(fused[0]), classifier.probabilities(fused[0]))
    with pytest.raises(ValueError):
        CardClassifier.fit(fused[: len(owner)], owner, fused[len(owner) :], (VectorPart("a", 16),))


def test_the_classifier_reorders_candidates_but_confidence_stays_on_meaning():
    # Card 0's single line is the query's nearest; card 1's twelve lines surround the query.
    rng = np.random.default_rng(3)
    query = _units([[1, 0, 0, 0]])
    near = _units([[1, 0.05, 0, 0]])
    group = _units(query + 0.3 * rng.normal(size=(12, 4)))
    far = _units([[0, 0, 1, 0]])
    situations = np.vstack([near, far, group])
    owner = np.array([0, 0] + [1] * 12)
    texts = _units(np.vstack([[0.6, 0, 0.8, 0], [0.8, 0, 0, 0.6]]))
    cards = [_card(0, 2), _card(1, 12)]
    plain = HybridScorer(cards, build_faiss(texts), build_faiss(situations))
    voting = HybridScorer(
        cards, build_faiss(texts), build_faiss(situations), classifier=CardClassifier.fit(situations, owner, texts)
    )
    before, after = plain.top(query, 2), voting.top(query, 2)
    assert {c.card: c.dense for c in before} == pytest.approx({c.card: c.dense for c in after})
    assert after[0].card == 1  # the group outvotes one close line
    assert after[0].score == pytest.approx(after[0].dense)  # by taking from the card it believes less,
    assert after[1].score < after[1].dense  # never by adding to the best one


def test_an_incremental_build_ranks_like_a_full_one(project, embedder, tmp_path):
    root, docs, index_dir = project
    build_index(docs, index_dir, embedder, root=root)
    file = docs / "guias" / "reembolsos.md"
    file.write_text(file.read_text().replace("a su responsable", "a su supervisora"), encoding="utf-8")
    build_index(docs, index_dir, embedder, root=root)  # warm-started from the first build
    fresh_dir = tmp_path / "fresh"
    build_index(docs, fresh_dir, embedder, root=root)
    incremental, full = load_index(index_dir), load_index(fresh_dir)
    assert incremental.classifier is not None and full.classifier is not None
    queries = embedder.encode_queries(["el cliente quiere su dinero", "me grita", "quiero hablar con tu jefe"])
    for q in queries:
        assert abs(incremental.classifier.probabilities(q) - full.classifier.probabilities(q)).max() < 0.01
    assert (current_path(index_dir).resolve() / "classifier.faiss").is_file()
    assert full.classifier.parts == embedder.parts and sum(p.dim for p in embedder.parts) == embedder.dim
    assert full.classifier.characters is not None and incremental.classifier.characters is not None
    for text in ["el cliente quiere su dinero", "me grita"]:  # closed form: exactly alike either way
        assert np.array_equal(
            incremental.classifier.characters.probabilities(text), full.classifier.characters.probabilities(text)
        )
