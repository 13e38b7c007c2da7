"""Guides in `docs/` → cards: the single source of truth for the site, the panel, the API and the index.

    model.py   the vocabulary (FASES, Card, Guide, Problem)
    mkdocs.py  mkdocs.yml read once (markdown extensions, nav)
    parse.py   one file → Guide (front matter, sections, anchors, problems)
    body.py    a section's prose and its Decir / Evitar / Cuándo blocks
    cards.py   docs/ → guides → cards, parsed once

The format is documented for trainers in `docs/formadores.md`.
"""

from kb.content.body import FENCE, code_lines, prose_text, split_body, strip_markup
from kb.content.cards import (
    Docs,
    cards_of,
    current_ids,
    former_problems,
    guide_files,
    load_cards,
    load_docs,
    read_guides,
    renamed_ids,
)
from kb.content.mkdocs import GENERATED_PAGES, PHRASEBOOK_PAGE, MkdocsConfig, read_mkdocs
from kb.content.model import FASES, Card, ContentError, Guide, Phrase, Problem, Section
from kb.content.parse import read_guide

__all__ = [
    "FASES",
    "FENCE",
    "code_lines",
    "GENERATED_PAGES",
    "PHRASEBOOK_PAGE",
    "Card",
    "ContentError",
    "Docs",
    "Guide",
    "MkdocsConfig",
    "Phrase",
    "Problem",
    "Section",
    "cards_of",
    "current_ids",
    "former_problems",
    "renamed_ids",
    "guide_files",
    "load_cards",
    "load_docs",
    "prose_text",
    "read_guide",
    "read_guides",
    "read_mkdocs",
    "split_body",
    "strip_markup",
]
