"""A section's body: prose, phrase blocks (Decir / Evitar / Cuándo), sentence blocks (Haz / Límite /
Legal XX) and inline markup.

Why separate from reading files: the panel, the index and the checks all need "what
does this section say", and none of them should care how the YAML or headings were read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from kb.content.model import ACTION_BLOCK, LEGAL_BLOCK, LIMIT_BLOCK, PHRASE_BLOCKS, Phrase, Section

FENCE = re.compile(r"^\s*(```|~~~)")
"""A line that opens or closes fenced code."""
# `!!!` is an admonition; `???` / `???+` the same block collapsible (pymdownx.details), which keeps
# long "Cuándo" lists folded on the site while the panel and the index read them alike.
ADMONITION = re.compile(r'^(?:!!!|\?\?\?\+?)\s+([\w-]+)(?:\s+"([^"]*)")?\s*$')
LIST_ITEM = re.compile(r"^\s{0,3}(?:[-*+]|\d+[.)])\s+(.*)$")
LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
"""A markdown link or image: group 1 is its text."""
_EMPH = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")
HTML = re.compile(r"<[^>]+>")
SLOT = re.compile(r"(?<![\\!\]])\[([^\[\]()\n]+)\](?![(\[:])")
"""A slot the agent fills in a phrase: `[día]`, `[importe autorizado]` (group 1: its name). Not a link
(`[x](…)`, `[x][ref]`, `[x]:`), an image or an escaped bracket: one rule for the site, the panel,
the phrase rules and the spelling check."""


def code_lines(lines: Iterable[str]) -> Iterator[bool]:
    """For each line, whether it is fenced code (or a fence): code is an example for the site, never
    advice, a heading, a link to check or a slot. The one fence walker of kb."""
    inside = False
    for line in lines:
        if FENCE.match(line):
            inside = not inside
            yield True
        else:
            yield inside


def block_title(line: str) -> str | None:
    """The lower-cased title of an admonition opening at `line` ('' if untitled), else None."""
    match = ADMONITION.match(line.strip()) if not line.startswith(" ") else None
    if not match:
        return None
    return (match.group(2) or "").strip().lower()


def _indented(line: str) -> bool:
    return line.startswith(("    ", "\t"))


def _dedent(line: str) -> str:
    return line[4:] if line.startswith("    ") else line.lstrip("\t")


@dataclass
class SentenceBlock:
    """A block read as sentences, not as a list: a card's action ("Haz"), its limit ("Límite") or the
    legal lines of one country ("Legal ES"). `first` and `after` say where it sits, for the checks."""

    kind: str  # "action", "limit" or "legal"
    country: str  # the upper-cased code of a legal block ('' for the others, or when the title has none)
    line: int
    shown: str  # the title as written, for messages
    text: str  # plain text (a legal block keeps its paragraphs and list items one per line)
    items: int  # list items in it ('- …'): an action or a limit is a sentence, not a list
    first: bool  # nothing but the "Cuándo" block comes before it in its section
    after: str | None  # what comes right before it: "action", "limit", "legal", "prose", "block" or None


def sentence_kind(title: str) -> tuple[str, str] | None:
    """(kind, country) of a lower-cased admonition title that is a sentence block, else None."""
    if title == ACTION_BLOCK:
        return "action", ""
    if title in (LIMIT_BLOCK, "limite"):
        return "limit", ""
    word, _, country = title.partition(" ")
    if word == LEGAL_BLOCK:
        return "legal", country.strip().upper()
    return None


def _elements(body: list[tuple[int, str]]) -> Iterator[tuple[int, str | None, list[tuple[int, str]]]]:
    """(line, admonition title or None, lines) for every top-level piece of a body: each prose line on its
    own (title None, the line itself), each admonition with its dedented inner lines. Fenced code is prose:
    an example of the format inside ``` is not a block."""
    code = list(code_lines(line for _, line in body))
    i = 0
    while i < len(body):
        lineno, line = body[i]
        title = None if code[i] else block_title(line)
        i += 1
        if title is None:
            yield lineno, None, [(lineno, line)]
            continue
        inner: list[tuple[int, str]] = []
        while i < len(body) and (not body[i][1].strip() or _indented(body[i][1])):
            inner.append((body[i][0], _dedent(body[i][1])))
            i += 1
        yield lineno, title, inner


def split_body(section: Section) -> tuple[list[tuple[int, str]], dict[str, list[Phrase]], list[tuple[int, str]]]:
    """Split a section body into prose lines, phrases per block kind, and (line, kind) of each block.

    Sentence blocks (Haz, Límite, Legal XX) are fields of their own (`sentence_blocks`), not prose."""
    prose: list[tuple[int, str]] = []
    phrases: dict[str, list[Phrase]] = {kind: [] for kind in PHRASE_BLOCKS.values()}
    blocks: list[tuple[int, str]] = []
    for lineno, title, inner in _elements(section.body):
        if title is not None and sentence_kind(title) is not None:
            continue
        kind = PHRASE_BLOCKS.get(title) if title is not None else None
        if kind is None:
            prose.extend(inner)  # a prose line, or a note/example admonition: its text is prose
            continue
        blocks.append((lineno, kind))
        for inner_line, text in inner:
            item = LIST_ITEM.match(text)
            if item and item.group(1).strip():
                phrases[kind].append(Phrase(strip_markup(item.group(1)), inner_line))
    return prose, phrases, blocks


def _sentences_of(kind: str, inner: list[tuple[int, str]]) -> tuple[str, int]:
    """The plain text of a sentence block and how many list items it holds."""
    items = sum(1 for _, text in inner if LIST_ITEM.match(text))
    if kind == "legal":
        return prose_text(inner), items
    words = [m.group(1) if (m := LIST_ITEM.match(text)) else text for _, text in inner if text.strip()]
    return strip_markup(" ".join(words)), items


def sentence_blocks(section: Section) -> list[SentenceBlock]:
    """The Haz, Límite and Legal XX blocks of a section, in order, with where each one sits."""
    found: list[SentenceBlock] = []
    first = True
    after: str | None = None
    for lineno, title, inner in _elements(section.body):
        if title is None:
            if inner[0][1].strip():
                first, after = False, "prose"
            continue
        what = sentence_kind(title)
        if what is None:
            if PHRASE_BLOCKS.get(title) != "when":
                first, after = False, "block"
            continue
        kind, country = what
        text, items = _sentences_of(kind, inner)
        shown = dict(section.body)[lineno].strip().partition('"')[2].rstrip('"').strip()
        found.append(SentenceBlock(kind, country, lineno, shown, text, items, first, after))
        first, after = False, kind
    return found


def block_problems(section: Section) -> list[tuple[int, str]]:
    """(line, message) for phrase blocks that hold something other than a list, or nothing at all."""
    problems: list[tuple[int, str]] = []
    body = section.body
    for idx, (lineno, line) in enumerate(body):
        title = block_title(line)
        if title is None or title not in PHRASE_BLOCKS:
            continue
        shown = line.strip().split('"')[1].strip()
        items = 0
        for inner_line, text in body[idx + 1 :]:
            if text.strip() and not _indented(text):
                break
            if not text.strip():
                continue
            content = _dedent(text)
            item = LIST_ITEM.match(content)
            if item and item.group(1).strip():
                items += 1
            elif not content.startswith(" "):
                problems.append((inner_line, f"el bloque '{shown}' solo admite una lista de frases ('- frase')"))
        if items == 0:
            problems.append(
                (lineno, f"el bloque '{shown}' no tiene ninguna frase; añade al menos una línea '    - frase'")
            )
    return problems


_MARKUP = re.compile(r"[\[*_`<]")
"""A character some inline markup needs: text without any (most phrases and Cuándo lines) skips the rest."""


def strip_markup(text: str) -> str:
    """Markdown inline markup → plain text (links keep their words)."""
    if not _MARKUP.search(text):
        return re.sub(r"\s+", " ", text).strip()
    text = LINK.sub(r"\1", text)
    for _ in range(2):
        text = _EMPH.sub(r"\2", text)
    text = HTML.sub("", text)
    return re.sub(r"\s+", " ", text).strip()


def prose_text(lines: list[tuple[int, str]]) -> str:
    """Prose lines → plain text paragraphs; list items keep one per line; fenced code is left out."""
    out: list[str] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            out.append(strip_markup(" ".join(paragraph)))
            paragraph.clear()

    for (_, line), code in zip(lines, code_lines(line for _, line in lines)):
        if code:
            flush()
            continue  # code is an example for the site, not advice to read out during a call
        stripped = line.strip()
        item = LIST_ITEM.match(line)
        if not stripped or item or stripped.startswith(">"):
            flush()
            if item:
                out.append("• " + strip_markup(item.group(1)))
            elif stripped.startswith(">"):
                paragraph.append(stripped.lstrip("> "))
            continue
        if stripped.startswith("|") and set(stripped) <= set("|-: "):
            continue
        paragraph.append(stripped.strip("|"))
    flush()
    return "\n".join(p for p in out if p)
