"""Content rules for guides, as pure functions: phrases that are safe to copy and review metadata.

Each function takes parsed guides (kb.content) and returns `Problem`s at the exact line, like the
rest of `kb check`. Nothing here reads files, the clock or the model: callers pass `today`.

- `phrase_problems`: a "Decir"/"Evitar" phrase must be speech an agent can say as is. Invented
  specifics (digits) go in slots such as `[día]` or `[importe autorizado]`; stage directions and
  behaviour descriptions belong in the card text.
- `governance_problems`: every indexed guide names its owner (`responsable`), the date it was last
  checked (`revisado`) and how often it must be checked again (`revisar_cada`, days).
- `overdue_guides`: guides whose review is due, with the due date (for the report and the panel).
- `changed_since_review`: the guide changed (as git tells, kb.trainers.history) after its `revisado`
  date: a warning, the review did not see that text.
- `legal_changed_since_signoff`: the same for the legal lines and their sources against `revisado_legal`
  (the caller compares them with what git held on the sign-off day).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from kb.content.body import SLOT, split_body
from kb.content.model import Guide, Problem

GOVERNANCE_KEYS = ("responsable", "revisado", "revisar_cada")
_SIGNED = re.compile(r"^\s*(?P<who>[^,]+?)\s*,\s*(?P<when>\d{4}-\d{2}-\d{2})\s*$")
"""`revisado_legal: "Nombre Apellido, AAAA-MM-DD"`: who signed the legal lines off, and when."""

_DIGIT = re.compile(r"\d")
"""A figure in a Decir phrase outside a slot: an amount, a date or a deadline the agent cannot promise."""
_OPENING_DIRECTION = re.compile(r"^\s*\(")
_TRAILING_DIRECTION = re.compile(r"\([^()]*\)\s*[.!?]?\s*$")
"""A stage direction in brackets at either end («(con calma) …», «… (pausa)»): it would be read aloud."""
_FIRST_WORD = re.compile(r"^[¿¡«\"'\s]*([A-Za-zÁÉÍÓÚÑÜáéíóúñü]+)")
_CLITICS = r"(?:me|te|se|le|les|lo|la|los|las|nos)"
_INFINITIVE = re.compile(rf"^[a-záéíóúñü]+?(?:ar|er|ir|ír){_CLITICS}{{0,2}}$")
_GERUND = re.compile(rf"^[a-záéíóúñü]+?(?:ando|ándo|iendo|iéndo|yendo|yéndo){_CLITICS}{{0,2}}$")
_NOT_VERBS = {"ayer", "mujer", "placer", "lugar", "hogar", "mar", "par", "bar", "ser", "por", "ir", "tener"}
"""Words that end like an infinitive but open real speech often enough ("Ayer…", "Por…")."""


def is_infinitive(word: str) -> bool:
    """Whether `word` has the shape of an infinitive, with up to two pronouns («decirle», «dárselo»): a
    line that opens with one describes behaviour («Interrumpir al cliente»), not words or an order. One
    rule for the phrase checks here and the card's action (kb.content.card_rules)."""
    return bool(_INFINITIVE.match(word.lower()))


def is_gerund(word: str) -> bool:
    """Whether `word` has the shape of a gerund («escuchando», «diciéndole»): a description, not an order."""
    return bool(_GERUND.match(word.lower()))


def _unclosed_slot(text: str) -> str | None:
    """The text of a slot opened with '[' and never closed, or a stray ']'."""
    depth_start = None
    for i, ch in enumerate(text):
        if ch == "[":
            if depth_start is not None:
                return text[depth_start:i].strip()
            depth_start = i
        elif ch == "]":
            if depth_start is None:
                return text[: i + 1].strip()
            depth_start = None
    if depth_start is not None:
        return text[depth_start:].split()[0] if text[depth_start:].split() else "["
    return None


def phrase_problems(guide: Guide) -> list[Problem]:
    """Phrases that cannot be copied into a live call as they are."""
    problems: list[Problem] = []
    if not guide.indexed:
        return problems
    for section in guide.sections:
        _, phrases, _ = split_body(section)
        for kind, label in (("say", "Decir"), ("avoid", "Evitar")):
            for phrase in phrases[kind]:
                problems += _one_phrase(guide.rel, phrase.text, phrase.line, kind, label)
    return problems


def _one_phrase(rel: str, text: str, line: int, kind: str, label: str) -> list[Problem]:
    found: list[Problem] = []
    unclosed = _unclosed_slot(text)
    if unclosed is not None:
        found.append(
            Problem(
                rel,
                line,
                f"hueco sin cerrar «{unclosed}» en una frase de '{label}'; "
                "escribe el hueco entero entre corchetes, como [día]",
            )
        )
    if kind == "say" and _DIGIT.search(SLOT.sub("", text)):
        found.append(
            Problem(
                rel,
                line,
                "la frase de 'Decir' lleva cifras fuera de un hueco; cambia el dato "
                "concreto por un hueco como [día] o [importe autorizado]",
            )
        )
    if _OPENING_DIRECTION.match(text):
        found.append(
            Problem(
                rel,
                line,
                f"la frase de '{label}' empieza con una acotación entre paréntesis; "
                "pasa la indicación al texto de la tarjeta y deja solo lo que se dice",
            )
        )
    elif _TRAILING_DIRECTION.search(text):
        found.append(
            Problem(
                rel,
                line,
                f"la frase de '{label}' termina con una acotación entre paréntesis; "
                "pasa la indicación al texto de la tarjeta",
                "warning",
            )
        )
    if kind == "avoid":
        match = _FIRST_WORD.match(text)
        word = match.group(1) if match else ""
        if word[:1].isupper() and is_infinitive(word) and word.lower() not in _NOT_VERBS:
            found.append(
                Problem(
                    rel,
                    line,
                    f"la frase de 'Evitar' parece describir una conducta («{word}…») y no "
                    "algo que se dice; escribe la frase tal como sonaría o pasa la "
                    "conducta al texto de la tarjeta",
                    "warning",
                )
            )
    return found


def as_date(value: object) -> date | None:
    """A front matter date (YAML reads `2026-11-20` as a date, a quoted one as text), or None."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _review_every(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value


def governance_problems(guide: Guide, today: date) -> list[Problem]:
    """Missing or wrong review keys (errors) and an overdue review (warning)."""
    if not guide.indexed or (not guide.meta and guide.problems):
        return []
    rel, meta, lines = guide.rel, guide.meta, guide.meta_lines
    problems: list[Problem] = []
    for key in GOVERNANCE_KEYS:
        if key not in meta:
            problems.append(
                Problem(
                    rel,
                    1,
                    f"falta la clave de revisión '{key}' en la cabecera "
                    "(responsable, revisado y revisar_cada son obligatorias)",
                )
            )
    if "responsable" in meta:
        value = meta["responsable"]
        if not isinstance(value, str) or not value.strip():
            problems.append(
                Problem(
                    rel,
                    lines.get("responsable", 1),
                    "'responsable' debe ser un texto no vacío, p. ej. «Lucía Gómez, Equipo de Formación»",
                )
            )
    checked = as_date(meta.get("revisado")) if "revisado" in meta else None
    if "revisado" in meta:
        line = lines.get("revisado", 1)
        if checked is None:
            problems.append(Problem(rel, line, "'revisado' debe ser una fecha AAAA-MM-DD, p. ej. 2026-11-20"))
        elif checked > today:
            problems.append(
                Problem(
                    rel,
                    line,
                    f"'revisado' es una fecha futura ({checked.isoformat()}); pon el día en que se revisó de verdad",
                )
            )
    every = _review_every(meta.get("revisar_cada")) if "revisar_cada" in meta else None
    if "revisar_cada" in meta and every is None:
        problems.append(
            Problem(
                rel,
                lines.get("revisar_cada", 1),
                "'revisar_cada' debe ser un número entero de días mayor que 0, p. ej. 180",
            )
        )
    if checked is not None and every is not None and checked <= today and checked + timedelta(days=every) < today:
        problems.append(
            Problem(
                rel,
                lines.get("revisado", 1),
                f"revisión caducada (revisada el {checked.isoformat()}, cada {every} días)",
                "warning",
            )
        )
    return problems


def review_due(guide: Guide) -> str:
    """The ISO date the guide's review falls due, or '' when its review keys are missing or wrong."""
    checked = as_date(guide.meta.get("revisado"))
    every = _review_every(guide.meta.get("revisar_cada"))
    return (checked + timedelta(days=every)).isoformat() if checked and every else ""


def overdue_guides(guides: list[Guide], today: date) -> list[tuple[Guide, date]]:
    """Indexed guides whose review is overdue, with the date it fell due, oldest first."""
    due: list[tuple[Guide, date]] = []
    for guide in guides:
        if not guide.indexed:
            continue
        checked = as_date(guide.meta.get("revisado"))
        every = _review_every(guide.meta.get("revisar_cada"))
        if checked is None or every is None:
            continue
        deadline = checked + timedelta(days=every)
        if deadline < today:
            due.append((guide, deadline))
    return sorted(due, key=lambda item: (item[1], item[0].rel))


def legal_signoff(guide: Guide) -> tuple[str, date] | None:
    """(who, when) of `revisado_legal`, or None when it is missing or malformed."""
    value = guide.meta.get("revisado_legal")
    match = _SIGNED.match(value) if isinstance(value, str) else None
    when = as_date(match.group("when")) if match else None
    return (match.group("who"), when) if match and when else None


def changed_since_review(guide: Guide, changed: date, uncommitted: bool) -> list[Problem]:
    """A warning when the guide changed on `changed` (git's last commit, or today with `uncommitted` edits)
    after its `revisado` date: the footer would certify a review that did not cover the text it shows."""
    checked = as_date(guide.meta.get("revisado"))
    if checked is None or changed <= checked:
        return []
    how = "tiene cambios sin confirmar en git" if uncommitted else f"cambió el {changed.isoformat()} (según git)"
    return [
        Problem(
            guide.rel,
            guide.meta_lines.get("revisado", 1),
            f"la guía {how}, después de su revisión del {checked.isoformat()}: revisa el texto y actualiza 'revisado'",
            "warning",
        )
    ]


def legal_changed_since_signoff(guide: Guide, uncommitted: bool) -> list[Problem]:
    """A warning that the legal lines or their sources differ from what the legal reviewer signed off.

    Only those: `revisado_legal` certifies the «Legal XX» blocks and `fuentes_legales`, so a new link or a
    reworded tip elsewhere in the guide is the ordinary review's business (`revisado`), not the lawyer's."""
    signed = legal_signoff(guide)
    if signed is None or "revisado_legal" not in guide.meta_lines:
        return []
    how = "(cambios sin confirmar en git)" if uncommitted else "(según git)"
    return [
        Problem(
            guide.rel,
            guide.meta_lines["revisado_legal"],
            f"los bloques 'Legal' o las 'fuentes_legales' cambiaron después de la revisión legal del "
            f"{signed[1].isoformat()} {how}: que vuelva a revisarlos y actualiza 'revisado_legal'",
            "warning",
        )
    ]
