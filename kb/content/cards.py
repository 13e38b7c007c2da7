"""The docs folder → guides → cards, parsed once per build.

>>> docs = load_docs(Path("docs"))       # raises ContentError listing every error
>>> docs.cards[0].id, docs.situaciones[:2]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kb.content.body import SentenceBlock, prose_text, sentence_blocks, split_body
from kb.content.mkdocs import MkdocsConfig, read_mkdocs
from kb.content.model import Card, ContentError, Guide, Problem, Section
from kb.content.parse import read_guide
from kb.content.rules import review_due


def section_card(guide: Guide, section: Section) -> Card | None:
    """The card of one section (None for the page title or a heading that only groups subsections)."""
    if section.level < 2:
        return None
    prose, phrases, _ = split_body(section)
    text = prose_text(prose)
    lead = sentence_blocks(section)
    action = next((b.text for b in lead if b.kind == "action"), "")
    if not text and not action and not phrases["say"] and not phrases["avoid"]:
        return None
    fase = section.fase
    node = section.parent
    while fase is None and node is not None:
        fase, node = node.fase, node.parent
    return Card(
        id=f"{guide.page}#{section.anchor}",
        title=str(guide.meta.get("title", guide.page)),
        heading=section.path,
        text=text,
        fase=fase or str(guide.meta.get("fase", "")),
        tags=[str(t) for t in guide.meta.get("tags", []) or []],
        say=[p.text for p in phrases["say"]],
        avoid=[p.text for p in phrases["avoid"]],
        path=f"{guide.site_path}#{section.anchor}",
        source=f"{guide.rel}:{section.line}",
        when=[p.text for p in phrases["when"]],
        review_due=review_due(guide),
        action=action,
        limit=next((b.text for b in lead if b.kind == "limit" and b.text), None),
        legal=_legal(lead),
        former=list(section.former),
    )


def _legal(lead: list[SentenceBlock]) -> dict[str, str]:
    """Country → legal lines in page order; a repeated country keeps its first block (`kb check` reports it)."""
    legal: dict[str, str] = {}
    for block in lead:
        if block.kind == "legal" and block.country and block.text:
            legal.setdefault(block.country, block.text)
    return legal


def cards_of(guide: Guide) -> list[Card]:
    """Every card of an indexed guide, in page order (none for trainer pages)."""
    if not guide.indexed:
        return []
    return [card for s in guide.sections if (card := section_card(guide, s)) is not None]


def guide_files(docs_dir: Path) -> list[Path]:
    """Every markdown file below docs/, in a stable order."""
    return sorted(p for p in docs_dir.rglob("*.md") if p.is_file() or p.is_symlink())


def read_guides(docs_dir: Path, root: Path | None = None, mkdocs: MkdocsConfig | None = None) -> list[Guide]:
    """Every guide below docs_dir, each with its own problems (nothing raised)."""
    root = root or docs_dir.parent
    mkdocs = mkdocs or read_mkdocs(root / "mkdocs.yml")
    return [read_guide(f, docs_dir, root, mkdocs) for f in guide_files(docs_dir)]


@dataclass
class Docs:
    """The result of one parse of docs/: what a build, a check or the site needs."""

    guides: list[Guide]
    cards: list[Card]

    @property
    def situaciones(self) -> list[str]:
        """Every `situaciones` entry of the indexed guides: real in-scope questions for calibration."""
        return [s for g in self.guides for s in g.situaciones]

    @property
    def renamed(self) -> dict[str, str]:
        """Former card id → the card it was merged into (see `current_ids`)."""
        return renamed_ids(self.cards)


def renamed_ids(cards: list[Card]) -> dict[str, str]:
    """Former card id → the card that now answers for it, from each card's `data-antes`."""
    return {old: card.id for card in cards for old in card.former}


def current_ids(ids: list[str], renamed: dict[str, str]) -> list[str]:
    """Labels, votes or learned searches written for merged cards, pointed at the card that replaced them
    (order kept, repeats dropped): a merge must not make old evidence count against the engine."""
    return list(dict.fromkeys(renamed.get(i, i) for i in ids))


def load_docs(docs_dir: Path, root: Path | None = None, mkdocs: MkdocsConfig | None = None) -> Docs:
    """Parse docs/ once; raises ContentError listing every error if any guide is broken."""
    if not docs_dir.is_dir():
        raise ContentError([Problem(str(docs_dir), 1, "no existe la carpeta de guías; revisa KB_DOCS")])
    root = root or docs_dir.parent
    mkdocs = mkdocs or read_mkdocs(root / "mkdocs.yml")
    guides = read_guides(docs_dir, root, mkdocs)
    errors = [p for g in guides for p in g.problems if p.severity == "error"]
    errors += mkdocs.nav_problems(root, docs_dir)
    if errors:
        raise ContentError(errors)
    cards = [card for g in guides for card in cards_of(g)]
    seen: dict[str, str] = {}
    duplicated = []
    for card in cards:
        if card.id in seen:
            file, _, line = card.source.rpartition(":")
            duplicated.append(Problem(file, int(line), f"id de tarjeta repetido '{card.id}' (ya en {seen[card.id]})"))
        seen[card.id] = card.source
    duplicated += former_problems(cards)
    if duplicated:
        raise ContentError(duplicated)
    return Docs(guides, cards)


def former_problems(cards: list[Card]) -> list[Problem]:
    """A `data-antes` id that is still a card, or that two cards claim, cannot say where old labels go."""
    live = {card.id: card.source for card in cards}
    problems: list[Problem] = []
    claimed: dict[str, str] = {}
    for card in cards:
        file, _, line = card.source.rpartition(":")
        for old in card.former:
            if old in live:
                problems.append(
                    Problem(file, int(line), f"'data-antes' nombra '{old}', que sigue existiendo ({live[old]})")
                )
            elif old in claimed:
                problems.append(Problem(file, int(line), f"'data-antes' nombra '{old}', que ya reclama {claimed[old]}"))
            claimed.setdefault(old, card.source)
    return problems


def load_cards(docs_dir: Path, root: Path | None = None) -> list[Card]:
    """All cards of all indexed guides (see load_docs)."""
    return load_docs(docs_dir, root).cards
