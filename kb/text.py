"""Text shaping shared by search, keyword scoring and evaluation. A leaf: imports nothing from kb.

Why one module: the query an agent types is cleaned once (`clean_query`) and the same
tokeniser feeds the production keyword bonus and the BM25 baseline, so the two can
never drift apart.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

MAX_QUERY_CHARS = 10_000
"""Longer queries are cut at a word boundary (with a notice to the user). An e-mail or a chat
pasted whole fits: text of more than two sentences is scored sentence by sentence."""

SENTENCE_END = re.compile(r"(?<=[.!?…;])\s+|\n+")
"""Where one sentence ends and the next starts: after . ! ? … or ; followed by space, or at a line
break. One rule for a card's pieces (kb.content.model) and a pasted message's sentences
(kb.search.passages)."""

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f]")
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
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub(" ", text)
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
    return " ".join(re.sub(r"[^\w\s]", " ", _unaccented(text.lower())).split())


def fold(text: str) -> str:
    """`query_form` with accents removed: «Atención», «atencion» and «ATENCIÓOON» are one word for
    keyword matching and the letters' view."""
    return _unaccented(query_form(text))


def _unaccented(text: str) -> str:
    """The one accent folding of kb: decompose, then drop the combining marks («ó» → «o», «ñ» → «n»)."""
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
