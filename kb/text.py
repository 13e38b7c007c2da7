"""Text shaping shared by search, keyword scoring and evaluation. A leaf: imports nothing from kb.

Why one module: the query an agent types is cleaned once (`clean_query`) and the same
tokeniser feeds the production keyword bonus and the BM25 baseline, so the two can
never drift apart.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

MAX_QUERY_CHARS = 3_000
"""The most of what an agent types or pastes that is read: a customer's e-mail or chat pasted whole
fits (800–3,000 characters, tests/data/conversaciones/largos), and text of more than two sentences is
scored sentence by sentence. Longer is cut at a word boundary with a notice; the panel's boxes stop
there. One limit for the panel, the API, the CLI and a conversation's turns."""

MAX_WORD_CHARS = 30
"""A «word» longer than this is cut to its first MAX_WORD_CHARS characters before it reaches the
encoder (`bounded`). Spanish words stay under it («anticonstitucionalmente» has 23); a tracking code,
a URL or base64 from an e-mail does not, and the model tokenises unknown letters one or two at a time,
so one such paste would otherwise keep the encoder busy for seconds (BENCHMARKS.md, «Pegados hostiles»)."""

MAX_ENCODE_CHARS = 500
"""The most of one text the encoder reads (`bounded`): at most one e5 window of tokens even for text
that tokenises a token per character, so no single text holds the model for long. A longer message is
read sentence by sentence (kb.search.passages)."""

SENTENCE_END = re.compile(r"(?<=[.!?…;])\s+|\n+")
"""Where one sentence ends and the next starts: after . ! ? … or ; followed by space, or at a line
break. One rule for a card's pieces (kb.content.model) and a pasted message's sentences
(kb.search.passages)."""

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")

# Unicode's format characters (category Cf): invisible, and copy-paste from web pages, PDFs and Word
# carries them inside numbers and words (zero-width space, soft hyphen, joiners, bidi marks, BOM…).
_FORMAT = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)
# Marks that decorate a digit (keycaps «6️⃣», combining lines and accents): the digit is what counts.
_MARKS_ON_DIGITS = re.compile("(?<=[0-9])[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe00-\ufe0f]+")
# Every dash (category Pd) and the minus sign read as «-»; every space (Zs) and line or paragraph
# separator as « ».
_DASHES = re.compile(
    "[\u058a\u05be\u1400\u1806\u2010-\u2015\u2043\u2212\u2e17\u2e1a\u2e3a\u2e3b\u2e40\u2e5d\u301c\u3030"
    "\u30a0\ufe31\ufe32\ufe58\ufe63\uff0d\U00010ead]"
)
_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\u2028\u2029]")
_ORDINALS = re.compile("([ºª])")
"""«3º B», «1ª planta», «nº»: NFKC would make them the letters o and a (and «nº» the word «no»)."""


def normalise(text: str) -> str:
    r"""One spelling for what looks the same: NFKC (fullwidth «＠» and digits, ligatures, compatibility
    forms), without format characters, with every dash as «-» and every space as « ». What personal
    data is matched on (kb.feedback.redact) and what a query is searched with (`clean_query`), so that
    text pasted from a web page, a PDF or Word cannot hide a phone number from either. The ordinal
    signs «º» and «ª» are kept: they are Spanish, not a disguise. Idempotent.

    >>> normalise("612\u200b345\u00ad678 – ana＠correo.es, 3º B")
    '612345678 - ana@correo.es, 3º B'
    """
    if text.isascii():
        return text
    text = _FORMAT.sub("", text)
    if "º" in text or "ª" in text:
        parts = _ORDINALS.split(text)
        text = "".join(part if i % 2 else unicodedata.normalize("NFKC", part) for i, part in enumerate(parts))
    else:
        text = unicodedata.normalize("NFKC", text)
    text = _SPACES.sub(" ", _DASHES.sub("-", text))
    return _MARKS_ON_DIGITS.sub("", text)


_WORD = re.compile(r"\w+")

STOPWORDS = frozenset(
    "a al algo ante con contra de del desde el ella ellas ellos en entre era es esa ese eso esta este esto "
    "ha han hay la las le les lo los me mi mis muy no nos o para pero por que qué se si sí sin sobre su sus "
    "te tu tus un una uno unos unas y ya yo".split()
)
"""Spanish function words: they say nothing about which card fits."""

EMPTY_QUERY = "Escribe qué está pasando en la llamada, por ejemplo: «el cliente me grita y no me deja hablar»."
NO_WORDS = (
    "La consulta no tiene palabras. Describe la situación con palabras, por ejemplo: «quiere hablar con mi supervisor»."
)


class CleanError(ValueError):
    """Nothing searchable is left; `args[0]` is the Spanish reason (kb.search.searcher turns it into QueryError)."""


def clean_query(text: object, max_chars: int = MAX_QUERY_CHARS) -> tuple[str, list[str]]:
    """Normalise what the user typed; returns (query, notices). Raises CleanError if nothing is left."""
    if not isinstance(text, str):
        raise CleanError("La consulta debe ser texto.")
    notices: list[str] = []
    text = _CONTROL.sub(" ", normalise(text))
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise CleanError(EMPTY_QUERY)
    if len(text) > max_chars:
        cut = text[:max_chars]
        text = cut.rsplit(" ", 1)[0] if " " in cut[-40:] else cut
        notices.append(f"La consulta era muy larga: se han usado solo los primeros {len(text)} caracteres.")
    if not any(ch.isalnum() for ch in text):
        raise CleanError(NO_WORDS)
    return text, notices


def without_controls(text: str) -> str:
    """`text` with control and invisible characters turned into spaces (line breaks and tabs kept):
    a NUL byte cannot be stored in PostgreSQL, and none of them means anything in a comment."""
    return _CONTROL.sub(" ", text)


_LONG_WORD = re.compile(rf"(\S{{{MAX_WORD_CHARS}}})\S+")


def bounded(text: str) -> str:
    """What of `text` an encoder reads: each word cut at MAX_WORD_CHARS characters, the whole cut at
    MAX_ENCODE_CHARS (at a space when there is one near the end). Bounds the work one text can cost.

    >>> bounded("mira el enlace https://seguimiento.example/envio?codigo=PQ4F6P0703673180181750T ya")
    'mira el enlace https://seguimiento.example/en ya'
    """
    text = _LONG_WORD.sub(r"\1", text)
    if len(text) > MAX_ENCODE_CHARS:
        cut = text[:MAX_ENCODE_CHARS]
        text = cut.rsplit(" ", 1)[0] if " " in cut[-MAX_WORD_CHARS - 1 :] else cut
    return text


_ELONGATED = re.compile(r"([^\W\d_])\1{2,}")
_REPEATED_MARKS = re.compile(r"([!?¡¿.])\1+")


QUERY_FORM = "lower-unstressed"
"""Names what `query_form` does; recorded in the index manifest (kb.retrieval.scoring), so changing
the function without changing this leaves old query vectors in an index: change both together."""


def query_form(text: str) -> str:
    """A query as the models read it: lower case (the form of every Cuándo line) and chat emphasis
    undone: a letter three or more times in a row once («nooooo» → «no»; Spanish never triples a
    letter, and digits are left alone), a repeated «!», «?» or «.» once. Measured on the lines'
    cross-validation (BENCHMARKS.md): capitals cost 4 points of hit@1, elongations 2; both recover.

    >>> query_form("¡¡¡ESTO ES UNA VERGÜENZAAAA!!! llevo 1000 minutos")
    '¡esto es una vergüenza! llevo 1000 minutos'
    """
    return _REPEATED_MARKS.sub(r"\1", _ELONGATED.sub(r"\1", text.lower()))


def comparable(text: str) -> str:
    """How two wordings are compared for sameness (a search against the Cuándo lines): lower case, no
    accents, no punctuation, single spaces.

    >>> comparable("¿Me  GRITA, está enfadadísimo?")
    'me grita esta enfadadisimo'
    """
    return " ".join(re.sub(r"[^\w\s]", " ", unaccented(text.lower())).split())


def fold(text: str) -> str:
    """`query_form` with accents removed: «Atención», «atencion» and «ATENCIÓOON» are one word for
    keyword matching and the letters' view."""
    return unaccented(query_form(text))


def unaccented(text: str) -> str:
    """The one accent folding of kb: decompose, then drop the combining marks («ó» → «o», «ñ» → «n»).

    >>> unaccented("Atención, año")
    'Atencion, ano'
    """
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def tokenize(text: str) -> list[str]:
    """Lowercase, accents folded, stopwords dropped: the words keyword scoring looks at."""
    return [w for w in _WORD.findall(fold(text)) if w not in STOPWORDS]


def iso_utc(moment: datetime | float) -> str:
    """A moment as kb stores it everywhere (feedback rows, the users file): ISO 8601 in UTC to the
    second, `Z`-suffixed, so stored stamps sort as text. A float is a Unix time; a naive datetime is
    taken to be UTC already."""
    if isinstance(moment, (int, float)):
        moment = datetime.fromtimestamp(moment, UTC)
    elif moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
