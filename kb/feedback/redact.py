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

Text is matched in one spelling (`kb.text.normalise`: NFKC, no invisible format characters,
every dash «-» and every space « »), and the redacted text comes back in that spelling: a
zero-width space, a soft hyphen, a thin space, an en dash or a fullwidth «＠» copied from a
web page, a PDF or Word would otherwise split a number or an address so that no pattern sees it.

Order matters: e-mails first (they may hold digits), then IBANs and card numbers
(long digit runs that the phone matcher would otherwise cut into "phones"), then the
Spanish identity numbers, and phones last.

Phones are read as numbers of the configured country (`KB_COUNTRY`) and of its Spanish-speaking
neighbours (`NEIGHBOURS`), each against its own numbering plan, so «(55) 1234-5678» (Mexico City)
or «011 15-1234-5678» (Buenos Aires) count as well as «612 34 56 78».

Not redacted: names, street addresses and identifiers outside the kinds below (README
«Privacidad y acceso»): no library in the environment finds them offline with a precision
that would keep the search logs useful.

    >>> redact("Soy Ana, DNI 12345678-Z, móvil 612 34 56 78, ana.lopez@correo.es")
    'Soy Ana, DNI [dni], móvil [teléfono], [email]'
    >>> redact("Pedido 4512: 30 euros, entrega en 3 semanas")
    'Pedido 4512: 30 euros, entrega en 3 semanas'

Speed is in BENCHMARKS.md («Anonimización»). The phone matcher dominates, which is why it only
sees candidate windows and tries a neighbour's numbering plan only for digits the plans tried before
left unexplained (kb.feedback.phones).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from stdnum import iban, luhn
from stdnum.es import cif, dni, nie

from kb.feedback.phones import NEIGHBOURS, configured_regions, phone_regions, phone_spans
from kb.text import normalise

PHONE = "[teléfono]"
EMAIL = "[email]"
DNI = "[dni]"
NIE = "[nie]"
CIF = "[cif]"
IBAN = "[iban]"
CARD = "[tarjeta]"

KINDS: tuple[str, ...] = (PHONE, EMAIL, DNI, NIE, CIF, IBAN, CARD)
"""Every token `redact` can write, so callers can recognise (or count) them."""

# --------------------------------------------------------------------------- patterns
# Deliberately permissive: the validators below throw out what is not real.

_CANDIDATES: dict[str, re.Pattern[str]] = {
    # A space either side of the «@» is still an address («ana.lopez @ gmail.com»).
    "email": re.compile(r"(?<![\w.+%-])[\w.+%-]+ ?@ ?(?:[\w-]+\.)+[^\W\d_]{2,}(?![\w-])"),
    # Spelled out: «ana arroba gmail punto com», «ana(at)correo.es», «ana [at] correo [dot] es».
    "spelled_email": re.compile(
        r"(?<![\w.+%-])[\w.+%-]+ ?(?:\(at\)|\[at\]|\barroba\b) ?[\w-]+(?: ?(?:\.|\(dot\)|\[dot\]|\bpunto\b) ?[\w-]+)+",
        re.IGNORECASE,
    ),
    # IBAN: country code, check digits, then 11–30 letters/digits, optionally in groups.
    "iban": re.compile(r"(?<![\w])[A-Za-z]{2}\d{2}(?:[ -]?[A-Za-z0-9]{1,4}){3,8}(?![\w])"),
    # Card: 13–19 digits, optionally grouped by spaces, hyphens or dots.
    "card": re.compile(r"(?<![\d\w+])\d(?:[ .-]?\d){12,18}(?![\d\w])"),
    # A NIE starts with X, Y or Z; a CIF with an organisation letter; a DNI with digits.
    "nie": re.compile(r"(?<![\w])[XYZxyz][ -]?\d{7}[ -]?[A-Za-z](?![\w])"),
    "cif": re.compile(r"(?<![\w])[ABCDEFGHJNPQRSUVWabcdefghjnpqrsuvw][ -]?\d{7}[ -]?[0-9A-Ja-j](?![\w])"),
    "dni": re.compile(r"(?<![\w.])\d{2}\.?\d{3}\.?\d{3}[ -]?[A-Za-z](?![\w])"),
}
"""Permissive candidate spans per kind; only the spans its validator accepts are replaced."""

_GROUP_SEP_RE = re.compile(r"[ .-]")


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


def _redact_phones(text: str, regions: Sequence[str]) -> str:
    """Replace every phone number found for `regions` (kb.feedback.phones)."""
    for start, end in reversed(phone_spans(text, regions)):
        text = text[:start] + PHONE + text[end:]
    return text


_STEPS: tuple[Callable[[str], str], ...] = (
    _replace_whole(_CANDIDATES["email"], lambda raw: True, EMAIL),
    _replace_whole(_CANDIDATES["spelled_email"], lambda raw: True, EMAIL),
    _replace_runs(_CANDIDATES["iban"], _is_iban, IBAN),
    _replace_runs(_CANDIDATES["card"], _is_card, CARD),
    _replace_whole(_CANDIDATES["nie"], _is_nie, NIE),
    _replace_whole(_CANDIDATES["cif"], _is_cif, CIF),
    _replace_whole(_CANDIDATES["dni"], _is_dni, DNI),
)

_MAY_HOLD = re.compile(r"[\d@]|\(at\)|\[at\]|\barroba\b", re.IGNORECASE)
"""Every kind needs a digit or an «@», written or spelled: text without any is returned at once."""


# --------------------------------------------------------------------------- public API


def redact(text: str, country: str | None = None) -> str:
    """Return `text`, normalised (`kb.text.normalise`), with every recognised piece of personal data
    replaced by its token. Phones are read for `country` (default `KB_COUNTRY`) and `NEIGHBOURS`.

    Idempotent (tokens hold no digits and no «@», and normalising twice changes nothing), so
    redacting twice is harmless when a text passes through two layers that both redact.
    """
    if not text:
        return text
    text = normalise(text)
    if not _MAY_HOLD.search(text):
        return text
    for step in _STEPS:
        text = step(text)
    return _redact_phones(text, phone_regions(country) if country else configured_regions())


def holds_personal(text: str) -> bool:
    """`text` has personal data that `redact` would replace (a different spelling alone is not)."""
    return redact(text) != normalise(text)


def redact_all(*texts: str | None) -> tuple[str | None, ...]:
    """Redact several fields at once (query, comment…), keeping `None` as `None`."""
    return tuple(None if text is None else redact(text) for text in texts)


def redact_many(texts: Iterable[str]) -> list[str]:
    """Redact a column of texts, e.g. before a CSV export."""
    return [redact(text) for text in texts]


__all__ = [
    "CARD",
    "CIF",
    "DNI",
    "EMAIL",
    "IBAN",
    "KINDS",
    "NEIGHBOURS",
    "NIE",
    "PHONE",
    "holds_personal",
    "phone_regions",
    "redact",
    "redact_all",
    "redact_many",
]
