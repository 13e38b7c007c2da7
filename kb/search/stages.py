"""Which stage of the call (`fase`) a conversation seems to be in, from its latest turns.

A small rule set, because the signals are few and plain: a customer shouting or insulting
is letting off steam (desahogo); a customer asking for something concrete wants a fix
(solucion); goodbyes, thanks or an agent promising a call-back mean the call is closing
and what matters is keeping the promise (seguimiento). When no rule fires, the top cards
vote with their scores, among the stages of a call. The rules beat the vote alone on
tests/data/conversaciones (figures in tests/test_conversation.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from kb.text import fold

CALL_STAGES = ("desahogo", "calma", "escucha", "solucion", "seguimiento")
"""The stages a live call can be in (the others — autocuidado, prevencion, gestion — are not)."""
DEFAULT_STAGE = "escucha"

_INSULT = re.compile(
    r"\b(inutil(es)?|imbecil(es)?|idiotas?|incompetentes?|sinverguenzas?|estupid[oa]s?|payas[oa]s?|ladron(es)?|"
    r"timador(es)?|estafador(es)?|basura|verguenza|hart[oa]s?|hartisim[oa]|asco|panda de)\b"
)
_FIX = re.compile(
    r"\b(quiero|queria|necesito|exijo|devolv\w*|reembols\w*|solucion\w*|arregl\w*|cambi\w*|alternativas?|"
    r"opciones|que puedo hacer|compensaci\w*|anul\w*|cancel\w*|reactiv\w*|desbloque\w*)\b"
)
_CLOSING = re.compile(
    r"\b(gracias|eso es todo|nada mas|adios|hasta luego|buen dia|buenas tardes a usted|"
    r"espero (su|tu) (respuesta|llamada))\b"
)
_FOLLOW_UP = re.compile(
    r"\b(le (vuelvo a )?llam(o|are|aremos)|le (escribo|escribire|aviso|avisare)|"
    r"comprobar que|para confirmar que|le (mantendre|mantengo) informad[oa])\b"
)


def shouting(text: str) -> bool:
    """Mostly capitals, or a run of exclamation marks: the customer is raising their voice."""
    letters = [ch for ch in text if ch.isalpha()]
    upper = sum(ch.isupper() for ch in letters)
    return (len(letters) >= 12 and upper / len(letters) >= 0.5) or "!!" in text or text.count("¡") >= 2


def detect_stage(turns: Sequence[Any], card_fases: Sequence[str], scores: Sequence[float]) -> str:
    """The stage after the last of `turns` (objects with .speaker and .text), best rule first."""
    last_customer = next((t for t in reversed(turns) if t.speaker == "cliente"), None)
    after = turns[turns.index(last_customer) + 1 :] if last_customer is not None else list(turns)
    agent_after = " ".join(fold(t.text) for t in after if t.speaker == "agente")
    if last_customer is not None:
        text = last_customer.text
        folded = fold(text)
        if shouting(text) or _INSULT.search(folded):
            return "desahogo"
        if _CLOSING.search(folded) or _FOLLOW_UP.search(agent_after):
            return "seguimiento"
        if _FIX.search(folded):
            return "solucion"
    elif _FOLLOW_UP.search(agent_after):
        return "seguimiento"
    return vote(card_fases, scores)


def vote(card_fases: Sequence[str], scores: Sequence[float]) -> str:
    """The call stage the top cards point at, weighted by score; DEFAULT_STAGE if none is a call stage."""
    tally: dict[str, float] = {}
    for fase, score in zip(card_fases[:5], scores[:5]):
        if fase in CALL_STAGES:
            tally[fase] = tally.get(fase, 0.0) + max(float(score), 0.0)
    return max(tally, key=lambda f: tally[f]) if tally else DEFAULT_STAGE
