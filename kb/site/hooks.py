"""mkdocs hooks: the phrasebook page ("Chuleta de frases") and the practice page («Práctica»,
kb.site.practice), generated at every build, and the guides as the configured country reads them.

The phrasebook is never written by hand and never stored in docs/: it is built from the same
`Decir`/`Evitar` blocks that the panel shows, through kb.content, so the site,
the panel and the index cannot disagree about a phrase. Of the `Legal XX` blocks, a page keeps only
the country of KB_COUNTRY (like the panel and the API), titled with its name, and its footer lists
that country's sources (`fuentes_legales`). A page that held a card since merged into another
(`data-antes`) sends a visitor who arrives at the old anchor on to that card (overrides/main.html).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from kb.config import COUNTRIES, load_settings
from kb.content import FASES, PHRASEBOOK_PAGE, Card, Guide, cards_of, read_guides, renamed_ids
from kb.content.body import SLOT, code_lines
from kb.errors import KbError
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


def moved_anchors(cards: list[Card]) -> dict[str, dict[str, str]]:
    """Page of a merged card's old id → {its old anchor: the site path of the card that took it in}.

    Why: a bookmark or a link pasted in a chat still names the old section; the page that held it sends
    the reader on to the card that now answers for it instead of leaving them at the top of the page."""
    by_id = {card.id: card for card in cards}
    moved: dict[str, dict[str, str]] = {}
    for old, new in renamed_ids(cards).items():
        page, _, anchor = old.partition("#")
        moved.setdefault(page, {})[anchor] = by_id[new].path
    return moved


def relative_href(from_url: str, site_path: str) -> str:
    """`site_path` ("guias/x/#a") as a link from the page at `from_url` ("guias/y/"), like mkdocs writes them."""
    from mkdocs.utils import get_relative_url

    target, _, anchor = site_path.partition("#")
    if target == from_url:
        return f"#{anchor}"
    return f"{get_relative_url(target, from_url)}#{anchor}"


def on_files(files, config):
    """Add the generated phrasebook and practice page to the build (mkdocs calls this before the nav)."""
    docs_dir = Path(config["docs_dir"])
    root = Path(config["config_file_path"]).parent
    guides = read_guides(docs_dir, root)
    cards = phrasebook_cards(docs_dir, root, guides)
    config["extra"]["kb_moved"] = moved_anchors(cards)
    _generate(files, config, PAGE, phrasebook_markdown(cards, docs_dir))
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

_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+\1")


def _mark_slots(text: str) -> str:
    """Wrap every `[slot]` that is not a link (`[x](...)`, `[x][ref]`, `[x]:`) in a span."""
    out: list[str] = []
    last = 0
    for code in _INLINE_CODE.finditer(text):
        out.append(SLOT.sub(r'<span class="kb-slot">[\1]</span>', text[last : code.start()]))
        out.append(code.group(0))
        last = code.end()
    out.append(SLOT.sub(r'<span class="kb-slot">[\1]</span>', text[last:]))
    return "".join(out)


def highlight_slots(markdown: str) -> str:
    """Markdown with slots wrapped in `<span class="kb-slot">`, code blocks and inline code untouched."""
    lines = markdown.split("\n")
    for i, (line, code) in enumerate(zip(lines, code_lines(lines))):
        if not code and "[" in line:
            lines[i] = _mark_slots(line)
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Legal lines: the configured country's only

_LEGAL_TITLE = re.compile(r'^(?P<open>(?:!!!|\?\?\?\+?)\s+[\w-]+)\s+"[Ll]egal(?:\s+(?P<code>[^"]*?))?\s*"\s*$')
_SOURCE = re.compile(r"^(?P<title>.*?)\s+[—–-]\s+(?P<url>https?://\S+)\s*$")


def _block_end(lines: list[str], start: int) -> int:
    """Index after the last indented line of the admonition opened at `start` (blank lines after it excluded)."""
    end = last = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith(("    ", "\t"))):
        end += 1
        if lines[end - 1].strip():
            last = end
    return last


def country_legal(markdown: str, country: str) -> str:
    """Markdown with only `country`'s Legal blocks, each titled «Ley en <país>»; code blocks untouched."""
    lines = markdown.split("\n")
    code = list(code_lines(lines))
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        match = None if code[i] else _LEGAL_TITLE.match(line)
        if match is None:
            out.append(line)
            i += 1
            continue
        end = _block_end(lines, i)
        if (match.group("code") or "").strip().upper() == country:
            out.append(f'{match.group("open")} "Ley en {COUNTRIES.get(country, country)}"')
            out.extend(lines[i + 1 : end])
        i = end
    return "\n".join(out)


def legal_sources(meta: dict, country: str) -> list[dict[str, str]]:
    """The front matter's sources for `country` as {title, url} (the footer links them)."""
    sources = meta.get("fuentes_legales")
    if not isinstance(sources, dict):
        return []
    items = next((v for k, v in sources.items() if str(k).upper() == country), None)
    found = [_SOURCE.match(i) for i in items or [] if isinstance(i, str)]
    return [{"title": m.group("title"), "url": m.group("url")} for m in found if m]


def on_config(config):
    """Read KB_COUNTRY once per build; an unknown country stops the build with kb's Spanish message."""
    from mkdocs.exceptions import PluginError

    try:
        settings = load_settings(Path(config["config_file_path"]).parent)
    except KbError as exc:
        raise PluginError(str(exc)) from None
    config["extra"]["kb_country"] = settings.country
    return config


def on_page_markdown(markdown, page, config, files):
    """Legal lines of the configured country on every page; slots only on guide pages and the phrasebook
    (trainer pages show them as written, in code)."""
    country = config["extra"].get("kb_country", "ES")
    markdown = country_legal(markdown, country)
    page.meta["kb_fuentes"] = legal_sources(page.meta, country)
    page.meta["kb_pais"] = COUNTRIES.get(country, country)
    src = page.file.src_uri
    moved = config["extra"].get("kb_moved", {}).get(src.removesuffix(".md"), {})
    page.meta["kb_antes"] = {anchor: relative_href(page.url, path) for anchor, path in moved.items()}
    if src.startswith("guias/") or src == "index.md":
        return highlight_slots(strip_scenarios(markdown))
    if src == PAGE:
        return highlight_slots(markdown)
    return markdown
