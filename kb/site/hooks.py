"""mkdocs hooks: the phrasebook page ("Chuleta de frases") and the practice page («Práctica», kb.site.practice),
generated at every build.

Never written by hand and never stored in docs/: it is built from the same
`Decir`/`Evitar` blocks that the panel shows, through kb.content, so the site,
the panel and the index cannot disagree about a phrase.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from kb.content import FASES, PHRASEBOOK_PAGE, Card, Guide, cards_of, read_guides
from kb.site.practice import PAGE as PRACTICE_PAGE
from kb.site.practice import build_practice, practice_markdown, strip_scenarios

PAGE = PHRASEBOOK_PAGE
_log = logging.getLogger("mkdocs.hooks.kb")


def phrasebook_cards(docs_dir: Path, root: Path, guides: list[Guide] | None = None) -> list[Card]:
    """Cards of every indexed guide that parses cleanly (broken guides are `kb check`'s job); `guides`:
    docs_dir already read."""
    cards: list[Card] = []
    for guide in read_guides(docs_dir, root) if guides is None else guides:
        if guide.ok:
            cards.extend(cards_of(guide))
    return cards


def _link(card: Card) -> str:
    page = card.id.split("#", 1)[0]
    anchor = card.path.split("#", 1)[1]
    section = card.heading.split(" › ")[-1]
    return f"[{section}]({page}.md#{anchor})"


def phrasebook_markdown(cards: list[Card], docs_dir: Path) -> str:
    """Every phrase exactly once, grouped by fase (in call order), each linking to its section."""
    seen: set[tuple[str, str]] = set()
    groups: dict[str, dict[str, list[str]]] = {f: {"say": [], "avoid": []} for f in FASES}
    for card in cards:
        for kind in ("say", "avoid"):
            for phrase in getattr(card, kind):
                key = (kind, phrase)
                if key in seen or card.fase not in groups:
                    continue
                seen.add(key)
                groups[card.fase][kind].append(f"- {phrase} — {_link(card)}")
    lines = [
        "---",
        "title: Chuleta de frases",
        "description: Todas las frases para decir y para evitar, agrupadas por fase de la llamada.",
        "---",
        "",
        "Todas las frases de las guías en una sola página, en el orden en que suele ir una llamada. "
        "Cada frase enlaza con el apartado que explica cuándo usarla. "
        "Esta página se genera sola a partir de las guías: para cambiar una frase, edita su guía.",
        "",
    ]
    for fase, label in FASES.items():
        say, avoid = groups[fase]["say"], groups[fase]["avoid"]
        if not say and not avoid:
            continue
        lines += [f"## {label}", ""]
        for kind, title, items in (("tip", "Decir", say), ("danger", "Evitar", avoid)):
            if items:
                lines.append(f'!!! {kind} "{title}"')
                lines += ["    " + item for item in items]
                lines.append("")
    return "\n".join(lines) + "\n"


def _generate(files, config, page: str, content: str) -> None:
    from mkdocs.structure.files import File

    existing = files.get_file_from_path(page)
    if existing is not None:
        files.remove(existing)
    files.append(File.generated(config, page, content=content))


def on_files(files, config):
    """Add the generated phrasebook and practice page to the build (mkdocs calls this before the nav)."""
    docs_dir = Path(config["docs_dir"])
    root = Path(config["config_file_path"]).parent
    guides = read_guides(docs_dir, root)
    _generate(files, config, PAGE, phrasebook_markdown(phrasebook_cards(docs_dir, root, guides), docs_dir))
    practice = build_practice(docs_dir, root, _index_dir(root), guides)
    _log.info("Práctica: %d ejercicios; %s.", len(practice.drills), practice.close.reason)
    _generate(files, config, PRACTICE_PAGE, practice_markdown(practice))
    return files


def _index_dir(root: Path) -> Path:
    """The index the practice page reads its vectors from: the one `kb build` writes (KB_INDEX, kb.toml)."""
    from kb.config import load_settings
    from kb.errors import KbError

    try:
        return load_settings(root).index_dir
    except KbError:
        return root / "index"


# ---------------------------------------------------------------------------
# Slots: `[día]`, `[importe autorizado]`… highlighted on guide pages and in the phrasebook

_FENCE_LINE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+\1")
_SLOT = re.compile(r"(?<![\\!\]])\[([^\[\]()\n]+)\](?![(\[:])")


def _mark_slots(text: str) -> str:
    """Wrap every `[slot]` that is not a link (`[x](...)`, `[x][ref]`, `[x]:`) in a span."""
    out: list[str] = []
    last = 0
    for code in _INLINE_CODE.finditer(text):
        out.append(_SLOT.sub(r'<span class="kb-slot">[\1]</span>', text[last : code.start()]))
        out.append(code.group(0))
        last = code.end()
    out.append(_SLOT.sub(r'<span class="kb-slot">[\1]</span>', text[last:]))
    return "".join(out)


def highlight_slots(markdown: str) -> str:
    """Markdown with slots wrapped in `<span class="kb-slot">`, code blocks and inline code untouched."""
    lines = markdown.split("\n")
    in_fence = False
    for i, line in enumerate(lines):
        if _FENCE_LINE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence and "[" in line:
            lines[i] = _mark_slots(line)
    return "\n".join(lines)


def on_page_markdown(markdown, page, config, files):
    """Slots only on guide pages and the phrasebook (trainer pages show them as written, in code)."""
    src = page.file.src_uri
    if src.startswith("guias/") or src == "index.md":
        return highlight_slots(strip_scenarios(markdown))
    if src == PAGE:
        return highlight_slots(markdown)
    return markdown
