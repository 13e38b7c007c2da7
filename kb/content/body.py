"""A section's body: prose, phrase blocks (Decir / Evitar / Cuándo) and inline markup.

Why separate from reading files: the panel, the index and the checks all need "what
does this section say", and none of them should care how the YAML or headings were read.
"""

from __future__ import annotations

import re

from kb.content.model import PHRASE_BLOCKS, Phrase, Section

FENCE = re.compile(r"^\s*(```|~~~)")
# `!!!` is an admonition; `???` / `???+` the same block collapsible (pymdownx.details), which keeps
# long "Cuándo" lists folded on the site while the panel and the index read them alike.
ADMONITION = re.compile(r'^(?:!!!|\?\?\?\+?)\s+([\w-]+)(?:\s+"([^"]*)")?\s*$')
LIST_ITEM = re.compile(r"^\s{0,3}(?:[-*+]|\d+[.)])\s+(.*)$")
LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
"""A markdown link or image: group 1 is its text."""
_EMPH = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")
HTML = re.compile(r"<[^>]+>")
SLOT = re.compile(r"\[[^\[\]]*\]")
"""A slot the agent fills in a phrase: `[día]`, `[importe autorizado]`."""


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


def split_body(section: Section) -> tuple[list[tuple[int, str]], dict[str, list[Phrase]], list[tuple[int, str]]]:
    """Split a section body into prose lines, phrases per block kind, and (line, kind) of each block."""
    prose: list[tuple[int, str]] = []
    phrases: dict[str, list[Phrase]] = {kind: [] for kind in PHRASE_BLOCKS.values()}
    blocks: list[tuple[int, str]] = []
    body = section.body
    i = 0
    while i < len(body):
        lineno, line = body[i]
        title = block_title(line)
        if title is None:
            prose.append((lineno, line))
            i += 1
            continue
        kind = PHRASE_BLOCKS.get(title)
        i += 1
        inner: list[tuple[int, str]] = []
        while i < len(body) and (not body[i][1].strip() or _indented(body[i][1])):
            inner.append((body[i][0], _dedent(body[i][1])))
            i += 1
        if kind is None:
            prose.extend(inner)  # a note/example admonition: its text is prose
            continue
        blocks.append((lineno, kind))
        for inner_line, text in inner:
            item = LIST_ITEM.match(text)
            if item and item.group(1).strip():
                phrases[kind].append(Phrase(strip_markup(item.group(1)), inner_line))
    return prose, phrases, blocks


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
    in_fence = False

    def flush() -> None:
        if paragraph:
            out.append(strip_markup(" ".join(paragraph)))
            paragraph.clear()

    for _, line in lines:
        if FENCE.match(line):
            in_fence = not in_fence
            flush()
            continue
        if in_fence:
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
