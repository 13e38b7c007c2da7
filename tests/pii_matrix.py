"""Personal data as real copy-paste carries it: every kind × every separator, and the national phone
formats of the Spanish-speaking countries. Shared by the redaction tests of each sink (redact itself,
the feedback store, the API, the panel); `leaked` says whether a stored text still gives the value away.
"""

from __future__ import annotations

import re
import unicodedata

from stdnum.es import dni, nie

SEPARATORS: dict[str, str] = {
    "espacio": " ",
    "guion": "-",
    "punto": ".",
    "nada": "",
    "espacio duro (NBSP)": "\u00a0",
    "espacio fino": "\u2009",
    "espacio fino duro": "\u202f",
    "espacio de cifra": "\u2007",
    "espacio ideográfico": "\u3000",
    "espacio de ancho cero": "\u200b",
    "espacio de ancho cero y espacio": "\u200b ",
    "guion blando": "\u00ad",
    "unión de palabras": "\u2060",
    "marca de orden (BOM)": "\ufeff",
    "marca izquierda-derecha": "\u200e",
    "raya corta (en dash)": "\u2013",
    "raya (em dash)": "\u2014",
    "signo menos": "\u2212",
    "guion sin corte": "\u2011",
    "guion de ancho completo": "\uff0d",
}
"""What sits between the groups of a number when it is copied from a web page, a PDF, Word or a chat."""

_SPACE_LIKE = {name for name, sep in SEPARATORS.items() if sep not in ("-", ".", "")}
_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")

_DNI = "48291736" + dni.calc_check_digit("48291736")
_NIE = "X2345678" + nie.calc_check_digit("X2345678")

GROUPED: dict[str, list[str]] = {
    "teléfono ES móvil": ["612", "345", "678"],
    "teléfono ES por pares": ["612", "34", "56", "78"],
    "teléfono ES fijo": ["91", "123", "45", "67"],
    "teléfono ES con prefijo": ["+34", "612", "345", "678"],
    "tarjeta": ["4111", "1111", "1111", "1111"],
    "IBAN": ["ES91", "2100", "0418", "4502", "0005", "1332"],
    "DNI": [_DNI[:8], _DNI[8]],
    "NIE": [_NIE[0], _NIE[1:8], _NIE[8]],
    "CIF": ["B", "1234567", "4"],
}
"""Values written as groups; each separator is put between the groups."""

_NO_DOTS = {"IBAN", "DNI", "NIE", "CIF"}
"""Nobody writes «48291736.Q» or «ES91.2100…»; dotted DNIs have their own line below."""

EMAILS: list[str] = [
    "ana.lopez@correo.es",
    "ana.lopez@correo\u200b.es",
    "ana\u200b.lopez@correo.es",
    "ana.lo\u00adpez@correo.es",
    "ana.lopez\uff20correo.es",
    "ana.lopez\ufe6bcorreo.es",
    "ａｎａ.ｌｏｐｅｚ＠ｃｏｒｒｅｏ.ｅｓ",
    "ana.lopez @ correo.es",
    "ana.lopez\u00a0@\u00a0correo.es",
    "ANA.LOPEZ@CORREO.ES",
    "ana.lopez(at)correo.es",
    "ana.lopez [at] correo [dot] es",
    "ana.lopez arroba correo punto es",
    "ana.lopez\u2060@correo.es",
]

LATAM_PHONES: list[str] = [
    # Mexico: 10 digits; the abolished 044/045/01 and +52 1 prefixes are still typed
    "55 1234 5678",
    "(55) 1234-5678",
    "044 55 1234 5678",
    "045 33 3123 4567",
    "01 55 1234 5678",
    "+52 55 1234 5678",
    "+52 1 55 1234 5678",
    "+52 (33) 3123-4567",
    # Argentina: 0 + area code, «15» before a mobile's local number
    "011 15-1234-5678",
    "11 1234-5678",
    "11 15-1234-5678",
    "(0351) 15-412-3456",
    "(0351) 15-123-4567",
    "+54 9 11 1234-5678",
    "+54 11 1234-5678",
    # Colombia: mobiles 3xx, landlines 60x
    "300 123 4567",
    "310 555 1234",
    "(601) 234 5678",
    "601 2345678",
    "+57 300 123 4567",
    # Peru: mobiles 9xx xxx xxx, Lima (01)
    "987 654 321",
    "(01) 234 5678",
    "01 234 5678",
    "+51 987 654 321",
    # Chile: mobiles 9 xxxx xxxx, Santiago (2)
    "+56 9 1234 5678",
    "9 1234 5678",
    "9 8765 4321",
    "(2) 2345 6789",
    "+56 2 2345 6789",
]


def matrix() -> list[tuple[str, str]]:
    """(what it is, value as typed): every grouped kind × separator, fullwidth digits, the e-mails and
    the Latin American phones with each space-like separator in place of their spaces."""
    out: list[tuple[str, str]] = []
    for kind, groups in GROUPED.items():
        for name, sep in SEPARATORS.items():
            if kind in _NO_DOTS and sep == ".":
                continue
            out.append((f"{kind} / {name}", sep.join(groups)))
        out.append((f"{kind} / cifras de ancho completo", " ".join(groups).translate(_FULLWIDTH)))
    out.append(("DNI / con puntos", f"{_DNI[:2]}.{_DNI[2:5]}.{_DNI[5:8]}-{_DNI[8]}"))
    out += [(f"email {i}", email) for i, email in enumerate(EMAILS, 1)]
    for phone in LATAM_PHONES:
        out.append((f"teléfono {phone}", phone))
        for name in sorted(_SPACE_LIKE):
            out.append((f"teléfono {phone} / {name}", phone.replace(" ", SEPARATORS[name])))
    return out


def sentence(value: str) -> str:
    """A search or comment holding `value`, with no word that announces what kind of value it is."""
    return f"el cliente está enfadado y me da esto: {value} para que lo revise"


def _digits(text: str) -> str:
    return re.sub(r"\D", "", unicodedata.normalize("NFKC", text))


def leaked(value: str, stored: str | None) -> bool:
    """`stored` still gives `value` away: six of its digits in a row (whatever separates them, in any
    width), or, for an e-mail, its user name."""
    stored = unicodedata.normalize("NFKC", stored or "")
    digits = _digits(value)
    if len(digits) >= 6:
        kept = _digits(stored)
        return any(digits[i : i + 6] in kept for i in range(len(digits) - 5))
    return "analopez" in re.sub(r"[^a-z]", "", stored.lower())
