"""The classifier's view of the letters: naive Bayes over character n-grams (kb.retrieval.characters).

Pieces of words survive typos, missing accents and regional endings; these tests show what it
reads, that it is exactly scikit-learn's recipe, and that it names the card an agent's
misspelt words belong to.
"""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.naive_bayes import MultinomialNB

from kb.retrieval import characters
from kb.retrieval.characters import CharacterClassifier, ngrams
from kb.text import fold

TEXTS = [
    "el cliente quiere que le devuelvan el dinero",
    "pide el reembolso de la compra",
    "exige la devolución del importe",
    "me está gritando y no me deja hablar",
    "el señor chilla e insulta",
    "está muy enfadado, alza la voz",
    "quiere hablar con mi supervisora",
    "pide que le pase con el responsable",
    "exige hablar con un jefe",
]
OWNER = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])


def test_ngrams_are_pieces_of_words_without_accents_or_case():
    assert ngrams("Sí") == [" si", "si ", " si "]  # a word as long as n (with its spaces) counts once
    grams = ngrams("Grité")
    assert " gr" in grams and "rite " in grams and "grite" in grams and all(g == g.lower() for g in grams)


def test_ngrams_are_scikit_learns_even_for_odd_characters():
    """Words are folded one at a time (and cached); folding the whole text first must give the same."""
    analyzer = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(characters.SHORTEST, characters.LONGEST), preprocessor=fold
    ).build_analyzer()
    for text in ["Atención, ¡YA!", "pingüino a¨b", "Ｒｅｅｍｂｏｌｓｏ ﬁn", "dos\u00a0palabras\tjuntas", "Σίσυφος"]:
        assert ngrams(text) == analyzer(text), text


def test_features_and_model_are_exactly_scikit_learns():
    classifier = CharacterClassifier.fit(TEXTS, OWNER)
    assert classifier is not None
    vectorizer = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(characters.SHORTEST, characters.LONGEST), sublinear_tf=True
    )
    matrix = vectorizer.fit_transform([fold(t) for t in TEXTS])
    bayes = MultinomialNB(alpha=characters.ALPHA).fit(matrix, OWNER)
    queries = ["kiere el rembolso", "me esta gritando", "pasame con el supervisor", "xyz"]
    expected = bayes.predict_proba(vectorizer.transform([fold(q) for q in queries]))
    got = np.vstack([classifier.probabilities(q) for q in queries])
    assert np.allclose(got, expected, atol=1e-5)


def test_misspelt_words_still_name_their_card():
    classifier = CharacterClassifier.fit(TEXTS, OWNER)
    assert classifier is not None
    for query, card in [("kiere su rembolso", 0), ("sta gritandome", 1), ("kiere al supervisor", 2)]:
        p = classifier.probabilities(query)
        assert int(p.argmax()) == card and abs(float(p.sum()) - 1) < 1e-5


def test_unknown_letters_fall_back_to_the_prior_and_one_card_has_nothing_to_learn():
    classifier = CharacterClassifier.fit(TEXTS, OWNER)
    assert classifier is not None
    assert np.allclose(classifier.probabilities("qqq"), [1 / 3] * 3)
    assert CharacterClassifier.fit(TEXTS[:3], OWNER[:3]) is None
