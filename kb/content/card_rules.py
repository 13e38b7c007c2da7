"""Rules of the card format, as pure functions: the action a card opens with, its limit, the legal lines
by country, and who answers for them. `kb check` runs them; a build does not stop on them, so the panel
keeps answering while guides are brought to the format.

- `card_format_problems`: every content card opens (after «Cuándo») with `!!! success "Haz"`, one
  imperative sentence, optionally followed by `!!! warning "Límite"` (one or two sentences); each
  `!!! info "Legal XX"` names a known country that has a source in the front matter's `fuentes_legales`
  (and a card with legal lines for some countries is warned about the countries it leaves out).
- `signoff_problems`: `responsable` names a person and a team («Nombre Apellido, Equipo»);
  `fuentes_legales` lists «Título — https://…» per country; a guide with legal blocks says who signed
  them off (`revisado_legal: "Nombre Apellido, AAAA-MM-DD"`).

The imperative check is deliberately simple: the first word (after «No»/«Nunca» and their pronouns, or
after a leading «Si …,» / «Cuando …,» clause) must not be an infinitive, a gerund or a word that opens a
description (an article, a pronoun, «Hay», «Es», «Puedes», «Debes»…).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from kb.config import COUNTRIES
from kb.content.body import SentenceBlock, sentence_blocks
from kb.content.cards import section_card
from kb.content.model import Guide, Problem, Section
from kb.content.rules import is_gerund, is_infinitive, legal_signoff

_SENTENCE_BREAK = re.compile(r"[.!?…]+[»\"')\]]*\s+(?=[¿¡«\"(]*[A-ZÁÉÍÓÚÑÜ])")
"""Where a sentence ends and another starts: end punctuation, a space and a capital («Sr. García» counts as two)."""
_WORDS = re.compile(r"[A-Za-zÁÉÍÓÚÑÜáéíóúñü]+")
_LEADING = {"no", "nunca", "jamás", "tampoco", "primero", "ahora", "siempre", "ya"}
"""Words an imperative may come after: «No prometas…», «Primero escucha…»."""
_PRONOUNS = {"me", "te", "se", "le", "les", "lo", "la", "los", "las", "nos"}
_CLAUSES = {"si", "cuando", "mientras", "aunque", "antes", "después", "en", "ante", "tras", "para", "con", "sin"}
"""Words that open a condition: the imperative comes after its comma («Si amenaza, avisa…»)."""
_DESCRIPTIVE = {
    *"el la los las un una unos unas lo este esta estos estas esto ese esa eso aquel aquella".split(),
    *"hay es son está están era fue será tu tus su sus mi mis nuestro nuestra yo tú usted ustedes él ella".split(),
    *"nosotros se le les que porque como de del al a por según puedes puede debes debe tienes tiene".split(),
    *"hace conviene suele mejor también muchas muchos algunos algunas cada todo toda todos todas".split(),
}
"""First words of a description or a piece of advice about the agent, not an order to do something."""
_SOURCE = re.compile(r"^\s*\S.*?\s+[—–-]\s+(https?://\S+)\s*$")
ACTION_EXAMPLE = '!!! success "Haz"'
LIMIT_EXAMPLE = '!!! warning "Límite"'


def sentences(text: str) -> int:
    """How many sentences `text` has (0 when empty)."""
    text = text.strip()
    return len(_SENTENCE_BREAK.split(text)) if text else 0


def _verb_word(text: str) -> str:
    """The word of `text` that should be the imperative: after a leading «No»/«Nunca» (and a pronoun)
    and after a leading condition's comma. '' when there is none."""
    words = _WORDS.findall(text)
    if words and words[0].lower() in _CLAUSES:
        head, comma, rest = text.partition(",")
        if not comma:
            return words[0]  # a condition with no comma: the sentence does not open with the order
        words = _WORDS.findall(rest)
    while words and words[0].lower() in _LEADING:
        words = words[1:]
        while words and words[0].lower() in _PRONOUNS:
            words = words[1:]
    return words[0] if words else ""


def imperative_problem(text: str) -> str | None:
    """Why `text` does not open with an imperative (a Spanish message), or None when it does."""
    if text.rstrip().endswith("?"):
        return "es una pregunta; escribe lo que hay que hacer, como «Avisa a tu supervisor…»"
    word = _verb_word(text)
    lower = word.lower()
    if not word:
        return "no tiene ningún verbo; escribe lo que hay que hacer, como «Avisa a tu supervisor…»"
    if lower in _CLAUSES:
        return f"empieza por «{word}» sin coma: separa la condición con una coma y sigue con el verbo («Si…, avisa…»)"
    if lower in _DESCRIPTIVE or is_infinitive(lower) or is_gerund(lower):
        return (
            f"empieza por «{word}» y no por una orden; empieza por el verbo en imperativo, "
            "como «Avisa…», «Pide…», «Ofrece…» o «No prometas…»"
        )
    return None


def _action_problems(rel: str, section: Section, blocks: list[SentenceBlock]) -> list[Problem]:
    actions = [b for b in blocks if b.kind == "action"]
    if not actions:
        return [
            Problem(
                rel,
                section.line,
                f"la tarjeta '{section.heading}' no dice qué hacer: añade tras 'Cuándo' un bloque "
                f"{ACTION_EXAMPLE} con una frase en imperativo",
            )
        ]
    problems = [Problem(rel, extra.line, "la tarjeta tiene más de un bloque 'Haz'; deja uno") for extra in actions[1:]]
    action = actions[0]
    if not action.first:
        problems.append(
            Problem(rel, action.line, "el bloque 'Haz' va al principio de la tarjeta, justo después de 'Cuándo'")
        )
    count = sentences(action.text)
    if count == 0:
        problems.append(Problem(rel, action.line, "el bloque 'Haz' está vacío; escribe qué hacer en una frase"))
    elif action.items:
        problems.append(Problem(rel, action.line, "el bloque 'Haz' es una frase, no una lista; quita el guion"))
    elif count > 1:
        problems.append(
            Problem(
                rel,
                action.line,
                f"el bloque 'Haz' tiene {count} frases; deja una sola (lo demás va en 'Límite' o en el texto)",
            )
        )
    if count and (why := imperative_problem(action.text)):
        problems.append(Problem(rel, action.line, f"la acción de 'Haz' {why}"))
    return problems


def _limit_problems(rel: str, blocks: list[SentenceBlock]) -> list[Problem]:
    limits = [b for b in blocks if b.kind == "limit"]
    problems = [
        Problem(rel, extra.line, "la tarjeta tiene más de un bloque 'Límite'; deja uno") for extra in limits[1:]
    ]
    for limit in limits[:1]:
        if limit.after != "action":
            problems.append(
                Problem(rel, limit.line, "el bloque 'Límite' va justo después del bloque 'Haz', antes del texto")
            )
        count = sentences(limit.text)
        if count == 0 or limit.items:
            problems.append(Problem(rel, limit.line, "el bloque 'Límite' lleva una o dos frases, sin lista"))
        elif count > 2:
            problems.append(Problem(rel, limit.line, f"el bloque 'Límite' tiene {count} frases; como mucho dos"))
    return problems


def _legal_problems(rel: str, blocks: list[SentenceBlock], sources: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    known = ", ".join(COUNTRIES)
    for block in (b for b in blocks if b.kind == "legal"):
        if not block.country:
            problems.append(
                Problem(rel, block.line, f"falta el país en '{block.shown}': escribe «Legal ES», «Legal MX»…")
            )
        elif block.country not in COUNTRIES:
            problems.append(
                Problem(rel, block.line, f"país desconocido '{block.country}' en '{block.shown}'; usa uno de: {known}")
            )
        elif not _listed(sources.get(block.country)):
            problems.append(
                Problem(
                    rel,
                    block.line,
                    f"el bloque '{block.shown}' no cita ninguna fuente: añade en la cabecera "
                    f'fuentes_legales: {{{block.country}: ["Título — https://…"]}}',
                )
            )
        if block.country in seen:
            problems.append(
                Problem(rel, block.line, f"la tarjeta ya tiene un bloque 'Legal {block.country}'; deja uno")
            )
        seen.add(block.country)
        if not block.text:
            problems.append(Problem(rel, block.line, f"el bloque '{block.shown}' está vacío"))
    return problems + _missing_countries(rel, blocks, seen)


def _missing_countries(rel: str, blocks: list[SentenceBlock], seen: set[str]) -> list[Problem]:
    """A warning when a card has legal lines for some countries and not others: there the panel shows none."""
    missing = [c for c in COUNTRIES if c not in seen]
    if not missing or not seen & set(COUNTRIES):
        return []
    first = next(b for b in blocks if b.kind == "legal")
    return [
        Problem(
            rel,
            first.line,
            f"la tarjeta no tiene bloque 'Legal' de {', '.join(missing)}: con KB_COUNTRY en esos países, "
            "el panel, la API y el sitio no mostrarán ninguna línea legal",
            "warning",
        )
    ]


def _listed(value: object) -> bool:
    return isinstance(value, list) and any(isinstance(v, str) and v.strip() for v in value)


def _sources(guide: Guide) -> dict[str, Any]:
    value = guide.meta.get("fuentes_legales")
    return {str(k).upper(): v for k, v in value.items()} if isinstance(value, dict) else {}


def has_legal(guide: Guide) -> bool:
    """The guide has at least one «Legal XX» block (then `revisado_legal` is required)."""
    return any(b.kind == "legal" for s in guide.sections for b in sentence_blocks(s))


def card_format_problems(guide: Guide) -> list[Problem]:
    """Haz, Límite and Legal XX problems at their line: Legal in every guide, Haz and Límite in the
    cards of indexed guides (a section that only groups subsections is not a card)."""
    problems: list[Problem] = []
    sources = _sources(guide)
    for section in guide.sections:
        blocks = sentence_blocks(section)
        problems += _legal_problems(guide.rel, blocks, sources)
        if guide.indexed and section_card(guide, section) is not None:
            problems += _action_problems(guide.rel, section, blocks)
            problems += _limit_problems(guide.rel, blocks)
    return problems


def _person_and_team(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = [p.strip() for p in value.split(",")]
    return len(parts) == 2 and len(parts[0].split()) >= 2 and bool(parts[1])


def _source_problems(guide: Guide) -> list[Problem]:
    rel, lines = guide.rel, guide.meta_lines
    value = guide.meta.get("fuentes_legales")
    where = lines.get("fuentes_legales", 1)
    if not isinstance(value, dict):
        return [
            Problem(rel, where, "'fuentes_legales' debe ir por país: fuentes_legales: {ES: [\"Título — https://…\"]}")
        ]
    problems: list[Problem] = []
    for country, items in value.items():
        line = lines.get(f"fuentes_legales.{country}", where)
        if str(country).upper() not in COUNTRIES:
            problems.append(
                Problem(
                    rel, line, f"país desconocido '{country}' en 'fuentes_legales'; usa uno de: {', '.join(COUNTRIES)}"
                )
            )
        elif not isinstance(items, list) or not items:
            problems.append(Problem(rel, line, f"'fuentes_legales' de {country} debe ser una lista de fuentes"))
        elif any(not isinstance(i, str) or not _SOURCE.match(i) for i in items):
            problems.append(
                Problem(
                    rel, line, f"cada fuente de {country} se escribe «Título — https://…» (título, raya y dirección)"
                )
            )
    return problems


def _signed_problems(guide: Guide, today: date) -> list[Problem]:
    rel, line = guide.rel, guide.meta_lines.get("revisado_legal", 1)
    if guide.meta.get("revisado_legal") is None:
        return [
            Problem(
                rel,
                1,
                "la guía tiene bloques 'Legal' y falta 'revisado_legal' en la cabecera: "
                "quién los revisó y cuándo, «Nombre Apellido, AAAA-MM-DD»",
            )
        ]
    signed = legal_signoff(guide)
    if signed is None or len(signed[0].split()) < 2:
        return [
            Problem(rel, line, "'revisado_legal' debe ser «Nombre Apellido, AAAA-MM-DD», p. ej. «Ana Ruiz, 2026-11-20»")
        ]
    when = signed[1]
    if when > today:
        return [Problem(rel, line, f"'revisado_legal' tiene una fecha futura ({when.isoformat()})")]
    return []


def signoff_problems(guide: Guide, today: date) -> list[Problem]:
    """Who answers for an indexed guide (a person and a team) and, when it has legal blocks, its sources
    and who signed the legal lines off."""
    problems: list[Problem] = []
    if guide.indexed and "responsable" in guide.meta and not _person_and_team(guide.meta["responsable"]):
        problems.append(
            Problem(
                guide.rel,
                guide.meta_lines.get("responsable", 1),
                "'responsable' debe nombrar a una persona y su equipo: «Nombre Apellido, Equipo de Formación»",
            )
        )
    if "fuentes_legales" in guide.meta:
        problems += _source_problems(guide)
    if has_legal(guide):
        problems += _signed_problems(guide, today)
    return problems
