"""Phone numbers in free text: where they are, for the configured country and its neighbours.

Part of kb.feedback.redact (which replaces what this finds with ``[teléfono]``). `phonenumbers`
decides with each country's numbering plan; the rules around it say what the plans cannot: an
order number after «pedido» is not a Mexican phone, a number after «celular» is a phone even in
an unassigned range, and Mexico's abolished 044/045/01 prefixes are still typed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

import phonenumbers

from kb.errors import ConfigError

NEIGHBOURS: tuple[str, ...] = ("ES", "MX", "AR", "CO", "PE", "CL")
"""Countries whose national phone formats are always recognised, whatever `KB_COUNTRY` says: the
Spanish-speaking ones this contact centre's customers call from (Spain, Mexico, Argentina,
Colombia, Peru, Chile)."""

# Digits with the separators people put in phone numbers; only runs with enough digits count.
_PHONE_CANDIDATE_RE = re.compile(r"\d[\d\s().\-/]*\d")
_MIN_PHONE_DIGITS = 6
"""Shorter runs are never phone numbers worth the matcher's time (subscriber numbers are longer)."""
_PHONE_CONTEXT = 12
"""Characters of context (then up to the next space) the matcher sees around a candidate."""


def _phone_windows(text: str) -> list[tuple[int, int]]:
    """Short, non-overlapping slices of `text` that could hold a phone number.

    `PhoneNumberMatcher` tries to parse every digit group it sees, «30» and «14» included,
    which costs about 1 ms per 500 characters and region. Handing it only the runs of at least
    six digits, with some words of context on each side (it looks at the neighbours to
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


_PHONE_CUE = re.compile(
    r"\b(?:tel[eé]fonos?|tel|telf|tlf|tfno|m[oó]vil|celular|cel|whats ?app|wasap|fijo|contacto|"
    r"ll[aá]m(?:ame|eme|arme|arle|ar|e|en|a|ó|o|ad)|marcar?|marque)\b[^\d]{0,25}$",
    re.IGNORECASE,
)
"""A word that announces a phone number, ending at most 25 characters before it («su celular es …»)."""
_REFERENCE_CUE = re.compile(
    r"\b(?:pedidos?|ref|referencia|tickets?|factura|incidencia|expediente|caso|albar[aá]n|seguimiento|"
    r"localizador|contrato|orden|reclamo|reclamaci[oó]n|n[º°o]|n[uú]mero de (?:pedido|cliente|caso|orden))\W{0,3}$",
    re.IGNORECASE,
)
"""A word that announces an order or case number just before it («pedido 5512345678»)."""
_LOOKBACK = 40
_AREA_CODE_RE = re.compile(r"\(\+?\d{1,5}\)")
"""An area code in parentheses («(55) …», «(0351) 15-…»): ordinary text does not write numbers that way."""
_LEGACY_MX_RE = re.compile(r"(?:04[45]|01|521)(\d{10})")
"""Mexico's dialling prefixes until 2019-2020 (044/045 for mobiles, 01 for long distance, +52 1 for
mobiles from abroad): still typed, no longer in the numbering plans `phonenumbers` knows."""


def _before(text: str, at: int) -> str:
    return text[max(0, at - _LOOKBACK) : at]


def _international(raw: str) -> bool:
    """Written with an international prefix («+56 9 …», «0056 9 …») that gives a possible number."""
    digits = re.sub(r"\D", "", raw)
    if raw.startswith("00"):
        digits = digits[2:]
    elif not raw.lstrip("(").startswith("+"):
        return False
    try:
        return phonenumbers.is_possible_number(phonenumbers.parse("+" + digits))
    except phonenumbers.NumberParseException:
        return False


def _possible_is_enough(text: str, at: int, raw: str) -> bool:
    """A number that only fits the length rules of a plan (`Leniency.POSSIBLE`: an unassigned range,
    a fictitious example) is still a phone when it says so: an international prefix, an area code
    in parentheses, or a word such as «teléfono» or «celular» just before it."""
    if at and text[at - 1].isalnum():
        return False  # inside a word: «INC0012345»
    return _international(raw) or bool(_AREA_CODE_RE.match(raw)) or bool(_PHONE_CUE.search(_before(text, at)))


def _a_reference(text: str, at: int, raw: str) -> bool:
    """Bare digits right after «pedido», «referencia», «ticket»…: an order or case number, unless it is
    a phone of the configured country (a 10-digit order number is a valid Mexican phone number)."""
    return raw.isdigit() and bool(_REFERENCE_CUE.search(_before(text, at)))


def _legacy_mexican(window: str) -> list[tuple[int, int]]:
    """Spans of numbers written with an abolished Mexican prefix around a valid Mexican number."""
    spans = []
    for match in _PHONE_CANDIDATE_RE.finditer(window):
        digits = re.sub(r"\D", "", match.group())
        legacy = _LEGACY_MX_RE.fullmatch(digits)
        if legacy and phonenumbers.is_valid_number(phonenumbers.parse(legacy.group(1), "MX")):
            start = match.start() - 1 if match.start() and window[match.start() - 1] == "+" else match.start()
            spans.append((start, match.end()))
    return spans


def _uncovered(window: str, spans: list[tuple[int, int]]) -> bool:
    """Some run of six or more digits in `window` is not inside a span found so far."""
    for match in _PHONE_CANDIDATE_RE.finditer(window):
        if sum(ch.isdigit() for ch in match.group()) < _MIN_PHONE_DIGITS:
            continue
        if not any(a < match.end() and match.start() < b for a, b in spans):
            return True
    return False


def _phone_spans(text: str, start: int, end: int, regions: Sequence[str]) -> list[tuple[int, int]]:
    """Where phone numbers are in `text[start:end]` (offsets in the window), for any of `regions`.

    `Leniency.VALID` (the number exists in the region's numbering plan) keeps «pedido 4512» or a
    9-digit reference that no plan allows; a number that is only possible needs more evidence
    (`_possible_is_enough`). Regions are tried in order until every digit run is explained: most
    windows hold one number of the configured country, and each region costs a matcher run."""
    window = text[start:end]
    found = _legacy_mexican(window)
    for i, region in enumerate(regions):
        if not _uncovered(window, found):
            return found
        for m in phonenumbers.PhoneNumberMatcher(window, region, leniency=phonenumbers.Leniency.VALID):
            if i == 0 or not _a_reference(text, start + m.start, m.raw_string):
                found.append((m.start, m.end))
    for region in regions:
        if not _uncovered(window, found):
            break
        for m in phonenumbers.PhoneNumberMatcher(window, region, leniency=phonenumbers.Leniency.POSSIBLE):
            if _possible_is_enough(text, start + m.start, m.raw_string):
                found.append((m.start, m.end))
    return found


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping spans (the same number found for two regions, or by two rules) as one."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def phone_spans(text: str, regions: Sequence[str]) -> list[tuple[int, int]]:
    """Where the phone numbers of `regions` (or of anywhere, with an international prefix) are in
    `text`, as sorted, non-overlapping (start, end).

    Catches «612 34 56 78», «+34 612345678», «91 123 45 67», «699-123-456», «0034 612 345 678»,
    «(55) 1234-5678», «044 55 1234 5678», «011 15-1234-5678», «(0351) 15-412-3456»,
    «300 123 4567», «987 654 321», «+56 9 1234 5678».
    """
    spans = [
        (start + a, start + b)
        for start, end in _phone_windows(text)
        for a, b in _phone_spans(text, start, end, regions)
    ]
    return _merged(spans)


def phone_regions(country: str) -> tuple[str, ...]:
    """The regions phones are read in: `country` first, then `NEIGHBOURS`. Raises ConfigError for a
    country `phonenumbers` has no numbering plan for."""
    country = country.strip().upper()
    if country not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(f"KB_COUNTRY: «{country}» no es un país con plan de numeración conocido; usa ES, MX, AR…")
    return (country, *(region for region in NEIGHBOURS if region != country))


@cache
def configured_regions() -> tuple[str, ...]:
    from kb.config import load_settings  # settings are read once per process, on the first redaction

    return phone_regions(load_settings().country)


__all__ = ["NEIGHBOURS", "configured_regions", "phone_regions", "phone_spans"]
