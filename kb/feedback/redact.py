"""Replace personal data with typed tokens before any text is stored, logged or exported.

Agents paste whatever the customer said into the search box: phone numbers, DNIs,
IBANs, card numbers. None of that may reach the feedback database, the logs or a CSV,
so every text goes through `redact` first and the personal data becomes a token
such as ``[teléfono]`` that still tells a trainer *what* was there.

Precision matters as much as recall: «30 euros», «pedido 4512» or «a las 14:30» must
survive, or the search logs become useless. So each kind works in two steps:
a permissive pattern proposes candidate spans, and a real validator (check digits,
country formats, numbering plans from `phonenumbers` and `python-stdnum`) decides.
Only validated spans are replaced.

Order matters: e-mails first (they may hold digits), then IBANs and card numbers
(long digit runs that the phone matcher would otherwise cut into "phones"), then the
Spanish identity numbers, and phones last.

    >>> redact("Soy Ana, DNI 12345678-Z, móvil 612 34 56 78, ana.lopez@correo.es")
    'Soy Ana, DNI [dni], móvil [teléfono], [email]'
    >>> redact("Pedido 4512: 30 euros, entrega en 3 semanas")
    'Pedido 4512: 30 euros, entrega en 3 semanas'

Speed, measured on this machine (Python 3.11, phonenumbers 9.0.43, best of 5):
0.5 ms for a 500-character query holding three phones, three DNIs and three e-mails;
0.2 ms for 500 characters of ordinary text with numbers; 0.04 ms with no digits at all;
19 ms for 10,000 characters. On the same 2-core machine at load average 8 these
roughly double (1.0 ms for the 500-character query). The phone matcher dominates, which is why it only sees
candidate windows (see `_phone_windows`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import phonenumbers
from stdnum import iban, luhn
from stdnum.es import cif, dni, nie

PHONE = "[teléfono]"
EMAIL = "[email]"
DNI = "[dni]"
NIE = "[nie]"
CIF = "[cif]"
IBAN = "[iban]"
CARD = "[tarjeta]"

KINDS: tuple[str, ...] = (PHONE, EMAIL, DNI, NIE, CIF, IBAN, CARD)
"""Every token `redact` can write, so callers can recognise (or count) them."""

PHONE_REGION = "ES"
"""Numbers without an international prefix are read as Spanish ones."""

# --------------------------------------------------------------------------- patterns
# Deliberately permissive: the validators below throw out what is not real.

_CANDIDATES: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"(?<![\w.+%-])[\w.+%-]+@(?:[\w-]+\.)+[^\W\d_]{2,}(?![\w-])"),
    # IBAN: country code, check digits, then 11–30 letters/digits, optionally in groups.
    "iban": re.compile(r"(?<![\w])[A-Za-z]{2}\d{2}(?:[ -]?[A-Za-z0-9]{1,4}){3,8}(?![\w])"),
    # Card: 13–19 digits, optionally grouped by spaces or hyphens.
    "card": re.compile(r"(?<![\d\w])\d(?:[ -]?\d){12,18}(?![\d\w])"),
    # A NIE starts with X, Y or Z; a CIF with an organisation letter; a DNI with digits.
    "nie": re.compile(r"(?<![\w])[XYZxyz][ -]?\d{7}[ -]?[A-Za-z](?![\w])"),
    "cif": re.compile(r"(?<![\w])[ABCDEFGHJNPQRSUVWabcdefghjnpqrsuvw][ -]?\d{7}[ -]?[0-9A-Ja-j](?![\w])"),
    "dni": re.compile(r"(?<![\w.])\d{2}\.?\d{3}\.?\d{3}[ -]?[A-Za-z](?![\w])"),
}
"""Permissive candidate spans per kind; only the spans its validator accepts are replaced."""

# Digits with the separators people put in phone numbers; only runs with enough digits count.
_PHONE_CANDIDATE_RE = re.compile(r"\d[\d\s().\-/]*\d")
_MIN_PHONE_DIGITS = 6
"""Shorter runs are never phone numbers worth the matcher's time (subscriber numbers are longer)."""
_PHONE_CONTEXT = 12
"""Characters of context (then up to the next space) the matcher sees around a candidate."""

_GROUP_SEP_RE = re.compile(r"[ -]")


# --------------------------------------------------------------------------- validators


def _spaced_ok(raw: str) -> bool:
    """A letter after a space is only trusted in capitals.

    «12345678 Z» is a DNI; «20231104 a las» is an incident number followed by a
    preposition that happens to match the check letter one time in 23.
    """
    return " " not in raw or raw == raw.upper()


def _is_dni(raw: str) -> bool:
    return _spaced_ok(raw) and dni.is_valid(raw.replace(".", ""))


def _is_nie(raw: str) -> bool:
    return _spaced_ok(raw) and nie.is_valid(raw)


def _is_cif(raw: str) -> bool:
    return _spaced_ok(raw) and cif.is_valid(raw)


def _is_card(raw: str) -> bool:
    digits = re.sub(r"\D", "", raw)
    return 13 <= len(digits) <= 19 and luhn.is_valid(digits)


def _is_iban(raw: str) -> bool:
    return iban.is_valid(raw)


# --------------------------------------------------------------------------- replacers


def _replace_whole(pattern: re.Pattern[str], valid: Callable[[str], bool], token: str) -> Callable[[str], str]:
    """A step that replaces each candidate span as a whole when it validates."""

    def step(text: str) -> str:
        return pattern.sub(lambda m: token if valid(m.group()) else m.group(), text)

    return step


def _best_run(raw: str, valid: Callable[[str], bool]) -> tuple[int, int] | None:
    """The earliest, longest run of whole groups inside `raw` that validates.

    The permissive pattern may swallow a neighbour: «4111 1111 1111 1111 123» (card
    plus security code) or «ES91 2100 0418 4502 0005 1332 Y» is not valid as a whole,
    but a run of its groups is. Candidates hold at most a few groups, so trying every
    run is cheap.
    """
    cuts = [0] + [m.end() for m in _GROUP_SEP_RE.finditer(raw)] + [len(raw) + 1]
    for i in range(len(cuts) - 1):
        for j in range(len(cuts) - 1, i, -1):
            start, end = cuts[i], cuts[j] - 1
            if valid(raw[start:end]):
                return start, end
    return None


def _replace_runs(pattern: re.Pattern[str], valid: Callable[[str], bool], token: str) -> Callable[[str], str]:
    """A step that replaces the best validating run of groups inside each candidate."""

    def replace(match: re.Match[str]) -> str:
        raw = match.group()
        if valid(raw):
            return token
        run = _best_run(raw, valid)
        if run is None:
            return raw
        start, end = run
        return raw[:start] + token + raw[end:]

    def step(text: str) -> str:
        return pattern.sub(replace, text)

    return step


def _phone_windows(text: str) -> list[tuple[int, int]]:
    """Short, non-overlapping slices of `text` that could hold a phone number.

    `PhoneNumberMatcher` tries to parse every digit group it sees, «30» and «14» included,
    which costs about 1 ms per 500 characters. Handing it only the runs of at least six
    digits, with some words of context on each side (it looks at the neighbours to
    reject dates and times), gives the same answers some ten times faster.
    """
    windows: list[tuple[int, int]] = []
    for match in _PHONE_CANDIDATE_RE.finditer(text):
        if sum(ch.isdigit() for ch in match.group()) < _MIN_PHONE_DIGITS:
            continue
        start = text.rfind(" ", 0, max(0, match.start() - _PHONE_CONTEXT)) + 1
        end = text.find(" ", min(len(text), match.end() + _PHONE_CONTEXT))
        end = len(text) if end < 0 else end
        if windows and start <= windows[-1][1]:
            start = windows.pop()[0]
        windows.append((start, end))
    return windows


def _redact_phones(text: str) -> str:
    """Replace every valid phone number, Spanish or with an international prefix.

    `Leniency.VALID` (the number must exist in the numbering plan) keeps «pedido
    4512» or a 9-digit reference that no plan allows, and still catches
    «612 34 56 78», «+34 612345678», «91 123 45 67», «699-123-456», «0034 612 345 678».
    """
    spans: list[tuple[int, int]] = []
    for start, end in _phone_windows(text):
        window = text[start:end]
        for match in phonenumbers.PhoneNumberMatcher(window, PHONE_REGION, leniency=phonenumbers.Leniency.VALID):
            spans.append((start + match.start, start + match.end))
    for start, end in reversed(spans):
        text = text[:start] + PHONE + text[end:]
    return text


_STEPS: tuple[Callable[[str], str], ...] = (
    _replace_whole(_CANDIDATES["email"], lambda raw: True, EMAIL),
    _replace_runs(_CANDIDATES["iban"], _is_iban, IBAN),
    _replace_runs(_CANDIDATES["card"], _is_card, CARD),
    _replace_whole(_CANDIDATES["nie"], _is_nie, NIE),
    _replace_whole(_CANDIDATES["cif"], _is_cif, CIF),
    _replace_whole(_CANDIDATES["dni"], _is_dni, DNI),
    _redact_phones,
)


# --------------------------------------------------------------------------- public API


def redact(text: str) -> str:
    """Return `text` with every recognised piece of personal data replaced by its token.

    Idempotent (tokens hold no digits and no «@»), so redacting twice is harmless
    when a text passes through two layers that both redact.
    """
    if not text or ("@" not in text and not any(ch.isdigit() for ch in text)):
        return text
    for step in _STEPS:
        text = step(text)
    return text


def redact_all(*texts: str | None) -> tuple[str | None, ...]:
    """Redact several fields at once (query, comment…), keeping `None` as `None`."""
    return tuple(None if text is None else redact(text) for text in texts)


def redact_many(texts: Iterable[str]) -> list[str]:
    """Redact a column of texts, e.g. before a CSV export."""
    return [redact(text) for text in texts]


__all__ = ["CARD", "CIF", "DNI", "EMAIL", "IBAN", "KINDS", "NIE", "PHONE", "redact", "redact_all", "redact_many"]
