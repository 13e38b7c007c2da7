"""What the guides are made of: stages, problems, sections, cards and guides.

Plain data classes with no parsing in them, so every other layer (retrieval, search,
panel, API) can depend on the vocabulary without pulling in the markdown parser.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from kb.errors import KbError
from kb.text import SENTENCE_END

FASES: dict[str, str] = {
    "desahogo": "Desahogo",
    "calma": "Calma",
    "escucha": "Escucha",
    "solucion": "Solución",
    "seguimiento": "Seguimiento",
    "autocuidado": "Autocuidado",
    "prevencion": "Prevención",
    "gestion": "Gestión",
}
"""Known stages of a call (or of work around calls), in the order of a call."""

REQUIRED_KEYS: dict[str, type] = {"title": str, "description": str, "tags": list, "fase": str, "situaciones": list}
MIN_PIECE = 16
"""Sentences shorter than this («Escucha.», a lone list marker) are not a piece of their own."""

PHRASE_BLOCKS = {"decir": "say", "evitar": "avoid", "cuándo": "when", "práctica": "drill", "practica": "drill"}
"""Admonition titles parsed as lists: phrases to say, phrases to avoid, situations the card answers, and
situations a trainer wrote for the practice page (kb.content.practice; never part of the card's text)."""
ACTION_BLOCK = "haz"
LIMIT_BLOCK = "límite"
LEGAL_BLOCK = "legal"
"""Admonition titles parsed as sentences: the card's action (`!!! success "Haz"`), its limit
(`!!! warning "Límite"`) and a country's legal lines (`!!! info "Legal ES"`: the title is «Legal» and a code)."""


@dataclass
class Problem:
    """One thing wrong in a file, printed as `path:line: message` (clickable in editors)."""

    path: str
    line: int
    message: str
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        label = "" if self.severity == "error" else "aviso: "
        return f"{self.path}:{self.line}: {label}{self.message}"


class ContentError(KbError):
    """The guides cannot be turned into cards; `problems` says where and why."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class Phrase:
    """A list item of a Decir/Evitar/Cuándo block and the line it is on (checks point at it)."""

    text: str
    line: int


@dataclass
class Section:
    """A heading and the lines it owns (up to the next heading of any level)."""

    level: int
    heading: str
    anchor: str
    line: int
    body: list[tuple[int, str]]
    fase: str | None = None
    parent: Section | None = None
    children: list[Section] = field(default_factory=list)
    former: list[str] = field(default_factory=list)
    """Ids of cards merged into this one (`{ data-antes="guias/x#y" }`), so old labels, votes and
    learned searches still find it."""

    @property
    def path(self) -> str:
        """Heading path below the page title: 'Paso 1 › No interrumpir'."""
        names = []
        node: Section | None = self
        while node is not None and node.level >= 2:
            names.append(node.heading)
            node = node.parent
        return " › ".join(reversed(names))


@dataclass
class Card:
    """What search returns: a standalone section of a guide."""

    id: str
    title: str
    heading: str
    text: str
    fase: str
    tags: list[str]
    say: list[str]
    avoid: list[str]
    path: str  # site path relative to the site root, with anchor: "guias/x/#anchor"
    source: str  # "docs/guias/x.md:12"
    when: list[str] = field(default_factory=list)  # situations in the agent's words ("Cuándo" block)
    review_due: str = ""  # ISO date the guide's review falls due ('' when the guide states none)
    learned: list[str] = field(default_factory=list)  # situations learned from agents' searches (kb.trainers.learning)
    action: str = ""  # what to do now, one imperative sentence (the "Haz" block); '' when the card has none
    limit: str | None = None  # what not to go beyond, one or two sentences (the "Límite" block)
    legal: dict[str, str] = field(default_factory=dict)  # country code → its legal lines ("Legal ES" blocks)
    former: list[str] = field(default_factory=list)  # ids of cards merged into this one (`data-antes`)

    def overdue(self, today: date) -> bool:
        """The guide's review is late: the panel marks the card «pendiente de revisión»."""
        return bool(self.review_due) and self.review_due < today.isoformat()

    def legal_for(self, country: str) -> str | None:
        """The legal lines of one country (None when the card has none for it): what every consumer shows."""
        return self.legal.get(country)

    def embedding_text(self) -> str:
        """The text the model sees: where the card sits, what to do, what it says, and its phrases.

        Legal lines are left out on purpose: they differ by country, and the index is the same for all.
        So is the limit: it says what is not the agent's to do in words many cards share («no le
        corresponde», «solo lo que tu empresa autoriza»), and without it both dev sets rank a little
        better (BENCHMARKS.md, «Registro real»); the letters' view still reads it (`pieces`)."""
        parts = [f"{self.title}. {self.heading}.", *([self.action] if self.action else []), self.text]
        if self.say:
            parts.append("Decir: " + " ".join(self.say))
        if self.avoid:
            parts.append("Evitar: " + " ".join(self.avoid))
        return "\n".join(parts)

    def pieces(self) -> list[str]:
        """The card cut into what it is made of: where it sits, each sentence of its text longer than
        a few words, and each phrase to say or avoid. The letters' view learns from them as separate
        documents (kb.retrieval.build), so a query that echoes one sentence is not drowned by the rest."""
        sentences = [s.strip() for s in SENTENCE_END.split(self.text)]
        long_enough = [s for s in sentences if len(s) >= MIN_PIECE]
        return [f"{self.title}. {self.heading}.", *self._lead(), *long_enough, *self.say, *self.avoid]

    def _lead(self) -> list[str]:
        """The action and the limit, the lines a card opens with (none for a card written before them)."""
        return [line for line in (self.action, self.limit) if line]

    def content_hash(self) -> str:
        """Changes whenever anything that is embedded changes (text, phrases or situations)."""
        payload = self.embedding_text() + "\n" + "\n".join(self.when)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Card:
        """The inverse of to_dict (the index stores cards as JSON lines); unknown keys are ignored, and a
        field an older kb did not write (`learned`) takes its default, so an upgrade still reads the index."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class Guide:
    file: Path
    rel: str  # path relative to the project root, as printed in messages
    page: str  # "guias/cliente-enfadado"
    meta: dict[str, Any]
    meta_lines: dict[str, int]
    sections: list[Section]
    problems: list[Problem]
    lines: list[str]
    body_start: int  # 1-based line where the body starts

    @property
    def indexed(self) -> bool:
        return self.meta.get("indexar", True) is not False

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed): safe to turn into cards."""
        return not any(p.severity == "error" for p in self.problems)

    @property
    def site_path(self) -> str:
        """mkdocs URL of the page with use_directory_urls: 'guias/x/' ('' for index.md)."""
        if self.page == "index":
            return ""
        if self.page.endswith("/index"):
            return self.page[: -len("index")]
        return self.page + "/"

    @property
    def situaciones(self) -> list[str]:
        """The front matter's `situaciones`: real in-scope questions (calibration, golden check)."""
        if not self.indexed:
            return []
        return [str(s) for s in self.meta.get("situaciones") or [] if isinstance(s, str)]
