"""The safety situations an agent may meet once a year, searched on the real guides the way an agent
would type them (our own wording, none of them a «Cuándo» line): among the first three results there
is a card that says what to do, in its action or its limit, the two lines the panel shows whole."""

from __future__ import annotations

import pytest

from kb.text import unaccented

SITUATIONS = {
    "me ha dicho que sabe dónde vivo y que me va a esperar a la salida del trabajo": (
        "supervisor",
        "seguridad",
        "emergencias",
    ),
    "la señora no para de llorar, su marido murió hace unos días y llama para cambiar el titular": (
        "supervisor",
        "ruta de emergencia",
        "telefono de ayuda",
    ),
    "¿me está grabando esta conversación?": ("si la llamada se graba", "canal oficial"),
    "compró hace una semana por teléfono y exige el reembolso, pero nuestra política no lo permite": (
        "plazo de desistimiento",
        "garantia",
    ),
}


def said(card) -> str:
    """The action and the limit, lower case and without accents, as one text."""
    return unaccented(f"{card.action} {card.limit or ''}".lower())


@pytest.mark.parametrize("situation", sorted(SITUATIONS))
def test_a_safety_situation_finds_a_card_that_says_what_to_do(searcher, situation):
    response = searcher.search(situation)
    assert not response.low_confidence
    top = [r.card for r in response.results[:3]]
    needed = SITUATIONS[situation]
    assert any(all(phrase in said(card) for phrase in needed) for card in top), [
        (card.id, card.action, card.limit) for card in top
    ]
