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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kb.errors import QueryError
from kb.retrieval.scoring import is_low_confidence
from kb.search import passages
from kb.search.caches import SuggestionMemory
from kb.search.passages import is_long, split_sentences
from kb.search.searcher import Result, Searcher
from kb.search.stages import detect_stage
from kb.text import MAX_QUERY_CHARS

if TYPE_CHECKING:
    from kb.config import Settings

SPEAKERS = ("cliente", "agente")
MAX_SENTENCES = 64
"""Sentences scored per call; beyond this the oldest (conversation) or last (message) are dropped."""
RECENCY = 0.6
"""Weight of a customer turn relative to the next one (latest = 1); 0.3–0.8 measured the same,
1.0 (no decay) lost one expectation out of 14."""
AGENT_WEIGHT = 1.0
"""An agent turn counts this much relative to the customer turn it answers. Measured on the
scripted conversations: cards shown by their turn 0.86 with 0–0.75, 1.00 with 1.0 — what the
agent says («no sé la respuesta», «le llamaré mañana») is itself a situation with a card."""
MAX_TURNS = 12
"""Only the latest turns are scored: older ones weigh under RECENCY**6 ≈ 0.05 anyway."""


def _ranked(searcher: Searcher, sentences: Sequence[str], weights: Sequence[float], k: int) -> list[Result]:
    """kb.search.passages' sentence ranking on this searcher's index, as Results."""
    ranked = passages.rank_sentences(searcher.index, searcher.embedder, sentences, weights, k)
    return [Result(card, score, rank, dense) for rank, (card, score, dense) in enumerate(ranked, 1)]


def low_confidence(results: Sequence[Result], threshold: float) -> bool:
    """The one confidence rule (kb.retrieval.scoring.is_low_confidence) applied to these results."""
    return is_low_confidence([r.candidate for r in results], threshold)


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
        return {
            "conversation_id": conversation_id,
            "fase": self.fase,
            "low_confidence": self.low_confidence,
            "results": [r.to_dict(settings) for r in self.results],
            "new": list(self.new),
        }


def turn_weights(turns: Sequence[Turn]) -> list[float]:
    """Recency weights: the latest customer turn 1, each older customer turn ×RECENCY; an agent
    turn AGENT_WEIGHT × the weight of the customer turn it answers."""
    weights = [0.0] * len(turns)
    age = 0
    for i in range(len(turns) - 1, -1, -1):
        weight = RECENCY**age
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
    from kb.search.searcher import MAX_K

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
    results = _ranked(searcher, sentences, weights, max(k, 5))
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


__all__ = [
    "SPEAKERS",
    "Conversation",
    "Suggestion",
    "SuggestionMemory",
    "Turn",
    "is_long",
    "parse_transcript",
    "split_sentences",
    "suggest",
]
