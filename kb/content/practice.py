"""What trainers write in a guide for the practice page: which cards stay out of it, and their own scenarios.

    ---                                   # front matter: the whole guide stays out of the practice
    practica: false
    ---
    ## Una sección { data-practica="no" }   # this card and its subsections stay out

    ??? example "Práctica"                   # inside a card: situations whose right answer is this card
        - el cliente dice que es la tercera vez que llama por lo mismo

Read apart from kb.content.parse (which only knows `data-fase`) so the markup for the practice
page can change without touching how every guide is read. The situations of a «Práctica» block are
never part of the card (split_body keeps them out of its text, the index never sees them).
"""

from __future__ import annotations

from dataclasses import dataclass

from kb.content.body import FENCE, split_body
from kb.content.cards import cards_of
from kb.content.model import Card, Guide, Phrase, Problem, Section
from kb.content.parse import _heading_attrs

FRONT_MATTER_KEY = "practica"
"""`practica: false` in a guide's front matter keeps all its cards out of the practice page."""
ATTRIBUTE = "data-practica"
"""`{ data-practica="no" }` at the end of a heading keeps that card (and its subsections) out."""
OFF_VALUES = ("no",)


@dataclass(frozen=True)
class Scenario:
    """A situation a trainer wrote in a card's «Práctica» block: its right answer is that card."""

    text: str
    file: str  # the guide, relative to the project root, as in Problem
    line: int
    card_id: str

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}"


def fenced_lines(guide: Guide) -> set[int]:
    """Line numbers inside fenced code: a «Práctica» block shown there as an example is no scenario."""
    inside: set[int] = set()
    fenced = False
    for number, line in enumerate(guide.lines, 1):
        if FENCE.match(line):
            fenced = not fenced
            inside.add(number)
        elif fenced:
            inside.add(number)
    return inside


def drill_phrases(guide: Guide, section: Section, code: set[int]) -> list[Phrase]:
    """The scenario lines of a section's «Práctica» blocks (`code`: fenced_lines of its guide, left out)."""
    return [p for p in split_body(section)[1]["drill"] if p.line not in code]


def _attribute(guide: Guide, section: Section) -> str | None:
    """The raw `data-practica` value written on this heading (None when absent)."""
    _, attrs = _heading_attrs(guide.lines[section.line - 1].lstrip("#"))
    return attrs.get(ATTRIBUTE)


def excluded_sections(guide: Guide) -> set[str]:
    """Anchors of the sections a trainer kept out of the practice (inherited by subsections, like a fase)."""
    if guide.meta.get(FRONT_MATTER_KEY, True) is False:
        return {s.anchor for s in guide.sections}
    out: set[str] = set()
    for section in guide.sections:
        node: Section | None = section
        while node is not None:
            if (_attribute(guide, node) or "").strip().lower() in OFF_VALUES or node.anchor in out:
                out.add(section.anchor)
                break
            node = node.parent
    return out


def practice_cards(guide: Guide, cards: list[Card] | None = None) -> list[Card]:
    """The guide's cards (`cards`: already made from it) that may appear on the practice page, as answers
    or as wrong options."""
    if not guide.ok:
        return []
    out = excluded_sections(guide)
    return [c for c in (cards_of(guide) if cards is None else cards) if c.id.split("#", 1)[1] not in out]


def scenarios(guide: Guide, allowed_cards: list[Card] | None = None) -> list[Scenario]:
    """Every hand-written scenario of a guide whose card is in the practice (`allowed_cards`: its
    practice_cards, when already known; see practice_problems for the rest)."""
    allowed = {c.id for c in (practice_cards(guide) if allowed_cards is None else allowed_cards)}
    code = fenced_lines(guide)
    found = []
    for section in guide.sections:
        card_id = f"{guide.page}#{section.anchor}"
        for phrase in drill_phrases(guide, section, code):
            if card_id in allowed:
                found.append(Scenario(phrase.text, guide.rel, phrase.line, card_id))
    return found


def practice_problems(guide: Guide) -> list[Problem]:
    """Practice markup that cannot work: an unknown `data-practica` value, a `practica` key that is not
    true/false, and a scenario without a right answer (its section is no card, or is kept out)."""
    problems: list[Problem] = []
    value = guide.meta.get(FRONT_MATTER_KEY)
    if value is not None and not isinstance(value, bool):
        line = guide.meta_lines.get(FRONT_MATTER_KEY, 1)
        problems.append(Problem(guide.rel, line, f"'{FRONT_MATTER_KEY}' debe ser true o false"))
    if not guide.ok:
        return problems
    allowed = {c.id for c in practice_cards(guide)}
    cards = {c.id for c in cards_of(guide)}
    code = fenced_lines(guide)
    for section in guide.sections:
        raw = _attribute(guide, section)
        if raw is not None and raw.strip().lower() not in OFF_VALUES:
            problems.append(
                Problem(
                    guide.rel, section.line, f'{ATTRIBUTE}="{raw}" no es válido; para dejar fuera la tarjeta usa "no"'
                )
            )
        card_id = f"{guide.page}#{section.anchor}"
        if card_id in allowed:
            continue
        why = "está fuera de la práctica" if card_id in cards else "no es una tarjeta (no tiene texto propio)"
        if not guide.indexed:
            why = "es de una página que no está en el panel (indexar: false)"
        for phrase in drill_phrases(guide, section, code):
            problems.append(
                Problem(
                    guide.rel,
                    phrase.line,
                    f"el escenario «{phrase.text}» no tiene respuesta correcta: la sección '{section.heading}' {why}",
                )
            )
    return problems
