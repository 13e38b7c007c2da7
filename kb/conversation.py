"""Long messages and whole conversations → cards, on the same index and scorer as one-line search.

Why a separate path: an embedding of a 2,000-character e-mail is an average of greetings,
background and the actual problem, and the model only reads its first few hundred tokens.
So a long text is split into sentences, all of them are embedded in ONE batch and scored
with the index's own scorer (`HybridScorer.top`), and per card we keep the best sentence
plus a small bonus when several sentences point at it. The sentence that carries the
problem wins wherever it is in the text.

In a conversation the same happens per turn, with weights: the customer's latest turn
counts most (RECENCY per older customer turn), the agent's turns a little (they say what
is being offered). The stage of the call (`fase`) comes from a small rule set on the
latest turns (shouting/insults → desahogo, a request for a fix → solucion, goodbyes or
a promised call-back → seguimiento) and, when no rule fires, from a vote of the top cards.

Pure given a Searcher: no I/O, no global state except a bounded cache of sentence vectors.
Figures measured on tests/data/conversaciones are in tests/test_conversation.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kb.errors import QueryError
from kb.memo import SuggestionMemory, VectorCache
from kb.retrieval.scoring import Candidate, is_low_confidence
from kb.stages import detect_stage
from kb.text import MAX_QUERY_CHARS, CleanError, clean_query

if TYPE_CHECKING:
    from kb.config import Settings
    from kb.search import Result, Searcher

SPEAKERS = ("cliente", "agente")
MAX_SENTENCES = 64
"""Sentences scored per call; beyond this the oldest (conversation) or last (message) are dropped."""
MIN_CHARS = 40
"""Fragments shorter than this («Hola.», «Buenos días:») are merged into the next one: alone
they match random cards (no merging: conversations 0.64 instead of 0.86)."""
WINDOW_WORDS = 40
"""A 'sentence' without punctuation longer than this many words is cut into windows."""
SUPPORT_BONUS = 0.01
"""Added per extra sentence that has the card in its top SUPPORT_TOP (at most 3 extra). Measured on
the long messages of tests/data/conversaciones: hit@3 1.00 with 0 or 0.01, 0.83 with 0.02–0.08."""
SUPPORT_TOP = 3
RECENCY = 0.6
"""Weight of a customer turn relative to the next one (latest = 1); 0.3–0.8 measured the same,
1.0 (no decay) lost one expectation out of 14."""
AGENT_WEIGHT = 1.0
"""An agent turn counts this much relative to the customer turn it answers. Measured on the
scripted conversations: cards shown by their turn 0.86 with 0–0.75, 1.00 with 1.0 — what the
agent says («no sé la respuesta», «le llamaré mañana») is itself a situation with a card."""
MAX_TURNS = 12
"""Only the latest turns are scored: older ones weigh under RECENCY**6 ≈ 0.05 anyway."""

_SENTENCE_END = re.compile(r"(?<=[.!?…;])\s+|\n+")
_SPACES = re.compile(r"\s+")


def split_sentences(text: str, max_chars: int = MAX_QUERY_CHARS) -> list[str]:
    """The sentences of a message, cleaned; short fragments merged, run-on text cut into windows."""
    pieces: list[str] = []
    budget = max_chars
    for raw in _SENTENCE_END.split(text):
        try:
            piece, _ = clean_query(raw, max(budget, 1))
        except CleanError:
            continue
        budget -= len(piece) + 1
        words = piece.split(" ")
        for start in range(0, len(words), WINDOW_WORDS):
            pieces.append(" ".join(words[start:start + WINDOW_WORDS]))
        if budget <= 0:
            break
    merged: list[str] = []
    carry = ""
    for piece in pieces:
        carry = f"{carry} {piece}".strip()
        if len(carry) >= MIN_CHARS:
            merged.append(carry)
            carry = ""
    if carry:
        if merged and len(carry) < MIN_CHARS:
            merged[-1] = f"{merged[-1]} {carry}"
        else:
            merged.append(carry)
    return merged


def is_long(text: str) -> bool:
    """True for text the one-vector search would blur: more than two sentences."""
    return len(text) > 200 and len(split_sentences(text)) > 2


# ---------------------------------------------------------------- scoring many weighted sentences


VECTORS = VectorCache()


def rank_sentences(searcher: Searcher, sentences: Sequence[str], weights: Sequence[float], k: int, *,
                   fase: str | None = None, tags: Iterable[str] = ()) -> list[Result]:
    """Top-k cards for weighted sentences: per card the best weighted score plus SUPPORT_BONUS
    per extra sentence that ranks it in its top SUPPORT_TOP. `dense` (what confidence is judged
    on) is the meaning score of the card's best sentence, unweighted."""
    from kb.search import Result

    if not sentences:
        return []
    vectors = VECTORS.encode(searcher, list(sentences))
    cards = searcher.index.cards
    fetch = len(cards) if (fase or tags) else min(len(cards), max(k * 4, 20))
    best: dict[int, tuple[float, float]] = {}  # card → (weighted score, dense)
    support: dict[int, int] = {}
    for row, (sentence, weight) in enumerate(zip(sentences, weights)):
        for place, cand in enumerate(searcher.index.scorer.top(vectors[row:row + 1], fetch, sentence)):
            if place < SUPPORT_TOP:
                support[cand.card] = support.get(cand.card, 0) + 1
            scored = weight * cand.score
            if cand.card not in best or scored > best[cand.card][0]:
                best[cand.card] = (scored, cand.dense)
    wanted = set(tags)
    ranked = sorted(best, key=lambda c: -(best[c][0] + SUPPORT_BONUS * min(max(support.get(c, 0) - 1, 0), 3)))
    results: list[Result] = []
    seen_text: set[str] = set()
    for index in ranked:
        card = cards[index]
        if (fase and card.fase != fase) or not wanted.issubset(card.tags):
            continue
        key = card.text.strip().lower()
        if key in seen_text:
            continue
        seen_text.add(key)
        score = best[index][0] + SUPPORT_BONUS * min(max(support.get(index, 0) - 1, 0), 3)
        results.append(Result(card, float(score), len(results) + 1, float(best[index][1])))
        if len(results) == k:
            break
    return results


def low_confidence(results: Sequence[Result], threshold: float) -> bool:
    """The one confidence rule (kb.retrieval.scoring.is_low_confidence) applied to these results."""
    return is_low_confidence([Candidate(r.rank, r.score, r.dense) for r in results], threshold)


# ---------------------------------------------------------------- conversations


@dataclass(frozen=True)
class Turn:
    speaker: str  # "cliente" | "agente"
    text: str


@dataclass
class Suggestion:
    """What the panel and /api/suggest show after a turn."""

    fase: str
    low_confidence: bool
    results: list[Result]
    new: list[str] = field(default_factory=list)

    def to_dict(self, settings: Settings, conversation_id: str) -> dict[str, Any]:
        return {"conversation_id": conversation_id, "fase": self.fase, "low_confidence": self.low_confidence,
                "results": [r.to_dict(settings) for r in self.results], "new": list(self.new)}


def turn_weights(turns: Sequence[Turn]) -> list[float]:
    """Recency weights: the latest customer turn 1, each older customer turn ×RECENCY; an agent
    turn AGENT_WEIGHT × the weight of the customer turn it answers."""
    weights = [0.0] * len(turns)
    age = 0
    for i in range(len(turns) - 1, -1, -1):
        weight = RECENCY ** age
        if turns[i].speaker == "cliente":
            weights[i] = weight
            age += 1
        else:
            weights[i] = AGENT_WEIGHT * weight
    return weights


def check_turns(turns: Iterable[Any]) -> list[Turn]:
    """Validate speakers and texts; raises QueryError (Spanish) for what cannot be scored."""
    out: list[Turn] = []
    for turn in turns:
        speaker = str(getattr(turn, "speaker", "")).strip().lower()
        if speaker not in SPEAKERS:
            raise QueryError(f"Cada turno debe ser de «cliente» o de «agente», no «{speaker}».")
        text = getattr(turn, "text", "")
        if not isinstance(text, str):
            raise QueryError("El texto de cada turno debe ser texto.")
        out.append(Turn(speaker, text[:MAX_QUERY_CHARS]))
    if not any(t.speaker == "cliente" and split_sentences(t.text) for t in out):
        raise QueryError("La conversación no tiene ningún turno del cliente con palabras.")
    return out


def suggest(searcher: Searcher, turns: Sequence[Turn], k: int = 3) -> Suggestion:
    """Cards for the conversation so far, and the stage it seems to be in (`new` left empty)."""
    from kb.search import MAX_K

    turns = check_turns(turns)
    k = max(1, min(int(k), MAX_K))
    recent = turns[-MAX_TURNS:]
    sentences: list[str] = []
    weights: list[float] = []
    for turn, weight in zip(recent, turn_weights(recent)):
        for sentence in split_sentences(turn.text):
            sentences.append(sentence)
            weights.append(weight)
    sentences, weights = sentences[-MAX_SENTENCES:], weights[-MAX_SENTENCES:]
    results = rank_sentences(searcher, sentences, weights, max(k, 5))
    fase = detect_stage(recent, [r.card.fase for r in results], [r.score for r in results])
    results = results[:k]
    for rank, result in enumerate(results, 1):
        result.rank = rank
    return Suggestion(fase, low_confidence(results, searcher.threshold), results)


class Conversation:
    """One live conversation for the panel: add turns as they happen, ask for suggestions.

        conv = Conversation()
        conv.add("cliente", "¡Llevo una semana sin línea!")
        s = conv.suggest(searcher, k=3)   # s.fase, s.results, s.new (ids not shown before)
    """

    def __init__(self, turns: Iterable[Turn] = ()) -> None:
        self.turns: list[Turn] = list(turns)
        self.shown: set[str] = set()

    def add(self, speaker: str, text: str) -> None:
        speaker = speaker.strip().lower()
        if speaker not in SPEAKERS:
            raise QueryError(f"Cada turno debe ser de «cliente» o de «agente», no «{speaker}».")
        self.turns.append(Turn(speaker, text))

    def suggest(self, searcher: Searcher, k: int = 3) -> Suggestion:
        result = suggest(searcher, self.turns, k)
        result.new = [r.card.id for r in result.results if r.card.id not in self.shown]
        self.shown.update(result.new)
        return result


def parse_transcript(text: str) -> list[Turn]:
    """Turns of a transcript: one `cliente: …` or `agente: …` line per turn; blank lines and
    lines starting with # are skipped. Raises QueryError naming the first bad line."""
    turns: list[Turn] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        speaker, sep, said = line.partition(":")
        speaker = speaker.strip().lower()
        if not sep or speaker not in SPEAKERS:
            raise QueryError(f"Línea {number}: cada turno debe empezar por «cliente:» o «agente:».")
        turns.append(Turn(speaker, said.strip()))
    if not turns:
        raise QueryError("La transcripción no tiene ningún turno («cliente: …» / «agente: …»).")
    return turns


__all__ = ["SPEAKERS", "Conversation", "Suggestion", "SuggestionMemory", "Turn", "is_long", "parse_transcript",
           "rank_sentences", "split_sentences", "suggest"]
