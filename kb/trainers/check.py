"""`kb check`: everything a trainer can break in docs/, reported as `file:line: message`.

    >>> problems = lint(settings)                 # list[Problem], errors and warnings
    >>> misses = golden(settings)                 # list[GoldenMiss]

`lint` covers what kb.content already rejects (YAML, schema, fases, phrase blocks,
duplicate headings, missing nav pages) plus what only matters for quality: section
length, broken internal links, near-duplicate sections, guides without
`situaciones`, the card format (Haz, Límite, Legal XX and their sign-off:
kb.content.card_rules), guides that changed after their review (git) and practice scenarios without
one clear answer (kb.trainers.scenarios).
`golden` proves search still finds each guide from its own `situaciones`. Both run in `make test` on the real content.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from datetime import date
from itertools import count
from pathlib import Path

import numpy as np

from kb.config import Settings
from kb.content import (
    GENERATED_PAGES,
    Card,
    Guide,
    MkdocsConfig,
    Problem,
    cards_of,
    code_lines,
    former_problems,
    load_docs,
    read_guide,
    read_guides,
    read_mkdocs,
    split_body,
)
from kb.content.card_rules import card_format_problems, signoff_problems
from kb.content.rules import changed_since_review, legal_changed_since_signoff, legal_signoff
from kb.embedding.encoders import Encoder
from kb.retrieval.calibration import OUTSIDE_FILE, numbered_questions
from kb.search.searcher import Searcher
from kb.trainers.history import last_change, text_on
from kb.trainers.measures import first_hit
from kb.trainers.scenarios import guides_index, scenario_problems
from kb.trainers.spelling import SpellingUnavailable, unknown_words

MIN_WORDS = 40
MAX_WORDS = 250
MAX_WORDS_ERROR = 400
NEAR_DUPLICATE = 0.95
"""Cosine of two cards' text vectors above which they are reported as near-duplicates.
Measured on the real guides with the default model: the closest distinct pair is 0.87
(two cards on follow-up calls); a copied section with a few words changed scores above 0.98."""
GOLDEN_TOP = 3

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_CODE_SPAN = re.compile(r"`[^`]*`")


@dataclass
class GoldenMiss:
    guide: str
    line: int
    query: str
    got: list[str]
    rank: int | None  # rank of the first card of the expected guide (None: not in the top 20)

    def __str__(self) -> str:
        where = f"puesto {self.rank}" if self.rank else "fuera de los 20 primeros"
        return (
            f"{self.guide}:{self.line}: la situación «{self.query}» no encuentra su guía entre los "
            f"{GOLDEN_TOP} primeros ({where}); salen: {', '.join(self.got)}"
        )


def _words(card: Card) -> int:
    return len(" ".join([card.action, card.limit or "", card.text, *card.say, *card.avoid]).split())


def _section_problems(guide: Guide) -> list[Problem]:
    problems = []
    cards = {c.id: c for c in cards_of(guide)}
    for section in guide.sections:
        if section.level < 2:
            continue
        prose, phrases, _ = split_body(section)
        has_own = any(line.strip() for _, line in prose) or any(phrases.values())
        if not has_own and not section.children:
            problems.append(
                Problem(
                    guide.rel,
                    section.line,
                    f"la sección '{section.heading}' está vacía; escribe su contenido o bórrala",
                )
            )
            continue
        card = cards.get(f"{guide.page}#{section.anchor}")
        if card is None:
            continue
        n = _words(card)
        if n > MAX_WORDS_ERROR:
            problems.append(
                Problem(
                    guide.rel,
                    section.line,
                    f"la sección '{section.heading}' tiene {n} palabras "
                    f"(máximo {MAX_WORDS_ERROR}); divídela en dos ideas",
                )
            )
        elif n > MAX_WORDS:
            problems.append(
                Problem(
                    guide.rel,
                    section.line,
                    f"la sección '{section.heading}' tiene {n} palabras; "
                    f"en el panel se lee mejor por debajo de {MAX_WORDS}",
                    "warning",
                )
            )
        elif n < MIN_WORDS:
            problems.append(
                Problem(
                    guide.rel,
                    section.line,
                    f"la sección '{section.heading}' tiene solo {n} "
                    f"palabras; una tarjeta útil suele tener al menos {MIN_WORDS}",
                    "warning",
                )
            )
    return problems


def _link_problems(guides: list[Guide], docs_dir: Path) -> list[Problem]:
    anchors = {g.file.resolve(): {s.anchor for s in g.sections} for g in guides}
    generated = {(docs_dir / page).resolve() for page in GENERATED_PAGES}
    problems = []
    for guide in guides:
        body = guide.lines[guide.body_start - 1 :]
        for lineno, line, code in zip(count(guide.body_start), body, code_lines(body)):
            if code:
                continue
            for target in _LINK.findall(_CODE_SPAN.sub("", line)):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
                    continue  # http:, mailto: … external links are not ours to check
                path, _, anchor = target.partition("#")
                file = (guide.file.parent / path).resolve() if path else guide.file.resolve()
                if file in generated:
                    continue
                if not file.is_file():
                    problems.append(
                        Problem(guide.rel, lineno, f"enlace roto: '{target}' apunta a un archivo que no existe")
                    )
                elif anchor and file in anchors and anchor not in anchors[file]:
                    problems.append(
                        Problem(
                            guide.rel,
                            lineno,
                            f"enlace roto: la sección '#{anchor}' no existe en {file.relative_to(docs_dir.resolve())}",
                        )
                    )
    return problems


def near_duplicates(
    cards: list[Card], embedder: Encoder, threshold: float = NEAR_DUPLICATE
) -> list[tuple[Card, Card, float]]:
    """Pairs of cards whose text vectors are closer than `threshold`, most similar first."""
    if len(cards) < 2:
        return []
    vectors = embedder.encode_passages([c.embedding_text() for c in cards])
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -1)
    i, j = np.where(np.triu(sims) > threshold)
    pairs = [(cards[a], cards[b], float(sims[a, b])) for a, b in zip(i, j)]
    return sorted(pairs, key=lambda p: -p[2])


def _when_lines(guides: list[Guide]) -> frozenset[tuple[str, int]]:
    """(file, line) of every «Cuándo» item: written in the chat register (kb.trainers.spelling)."""
    return frozenset(
        (g.rel, phrase.line) for g in guides for section in g.sections for phrase in split_body(section)[1]["when"]
    )


def spelling_problems(guides: list[Guide]) -> list[Problem]:
    """Words hunspell (es_ES + kb/data/palabras.txt) does not know, as warnings at their line."""
    indexed = [g for g in guides if g.indexed]
    texts = [(g.rel, n, line) for g in indexed for n, line in enumerate(g.lines[g.body_start - 1 :], g.body_start)]
    try:
        unknown = unknown_words(texts, chat_lines=_when_lines(indexed))
    except SpellingUnavailable as exc:
        where = guides[0].rel if guides else "docs"
        return [Problem(where, 1, f"no se ha revisado la ortografía: {exc}", "warning")]
    return [
        Problem(
            file,
            line,
            f"palabra desconocida «{word}»: corrígela o, si es correcta, añádela a kb/data/palabras.txt",
            "warning",
        )
        for file, line, word in unknown
    ]


def outside_problems(guides: list[Guide], docs_dir: Path, root: Path) -> list[Problem]:
    """A question in docs/fuera-de-alcance.txt that is also a Cuándo line: search would answer it
    with that card and flag it as out of scope at once, so one of the two places is wrong."""
    path = docs_dir / OUTSIDE_FILE
    owner = {w.strip().lower(): c.source for g in guides for c in cards_of(g) for w in c.when}
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    return [
        Problem(
            rel,
            lineno,
            f"esta pregunta también es una línea «Cuándo» de {owner[question.lower()]}: "
            "si la guía la responde, bórrala de aquí; si no, quítala de la guía",
        )
        for lineno, question in numbered_questions(path)
        if question.lower() in owner
    ]


def _review_history(guide: Guide, root: Path, today: date, mkdocs: MkdocsConfig) -> list[Problem]:
    """Warnings when git shows the guide, or its legal lines, changed after they were reviewed (nothing
    without git)."""
    if not guide.indexed and "revisado_legal" not in guide.meta:
        return []
    change = last_change(guide.file, root, today)
    if change is None:
        return []
    problems = changed_since_review(guide, *change)
    signed = legal_signoff(guide)
    if signed is not None and change[0] > signed[1]:
        before = text_on(guide.file, root, signed[1])
        if before is not None and legal_content(_guide_from_text(before, guide, mkdocs)) != legal_content(guide):
            problems += legal_changed_since_signoff(guide, change[1])
    return problems


def legal_content(guide: Guide) -> tuple[str, dict[tuple[str, str], str]]:
    """What a legal sign-off covers: the sources (`fuentes_legales`) and each card's lines per country."""
    lines = {(card.id, country): text for card in cards_of(guide) for country, text in card.legal.items()}
    return repr(guide.meta.get("fuentes_legales")), lines


def _guide_from_text(text: str, guide: Guide, mkdocs: MkdocsConfig) -> Guide:
    """An earlier version of `guide`, parsed at the same page path so that its card ids match."""
    with tempfile.TemporaryDirectory(prefix="kb-revision-") as tmp:
        docs_dir = Path(tmp) / "docs"
        file = docs_dir / f"{guide.page}.md"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text, encoding="utf-8")
        return read_guide(file, docs_dir, Path(tmp), mkdocs)


def lint(settings: Settings, *, embedder: Encoder | None = None) -> list[Problem]:
    """Every problem in settings.docs_dir, errors and warnings, in file and line order.

    `embedder` enables the near-duplicate check and the engine's check of the practice scenarios (they need
    the model); without it those checks are skipped."""
    docs_dir, root = settings.docs_dir, settings.root
    if not docs_dir.is_dir():
        return [Problem(str(docs_dir), 1, "no existe la carpeta de guías; revisa KB_DOCS")]
    mkdocs = read_mkdocs(settings.mkdocs_yml)
    guides = read_guides(docs_dir, root, mkdocs)
    problems = [p for g in guides for p in g.problems]
    problems += mkdocs.nav_problems(root, docs_dir)
    problems += _link_problems(guides, docs_dir)
    clean = [g for g in guides if g.ok]
    today = date.today()
    for guide in clean:
        problems += _section_problems(guide)
        problems += card_format_problems(guide) + signoff_problems(guide, today)
        problems += _review_history(guide, root, today, mkdocs)
        if guide.indexed and isinstance(guide.meta.get("situaciones"), list) and not guide.meta["situaciones"]:
            problems.append(
                Problem(
                    guide.rel,
                    guide.meta_lines.get("situaciones", 1),
                    "la guía no tiene 'situaciones': añade de 5 a 10 frases como las que escribiría un agente",
                )
            )
    cards = [c for g in clean for c in cards_of(g)]
    problems += former_problems(cards)
    problems += spelling_problems(clean)
    problems += outside_problems(clean, docs_dir, root)
    problems += scenario_problems(guides, settings, embedder)
    if embedder is not None:
        for a, b, sim in near_duplicates(cards, embedder):
            file, _, line = a.source.rpartition(":")
            problems.append(
                Problem(
                    file,
                    int(line),
                    f"la sección '{a.heading}' es casi idéntica a '{b.heading}' "
                    f"({b.source}, similitud {sim:.2f}); fusiónalas o diferéncialas",
                    "warning",
                )
            )
    return sorted(problems, key=lambda p: (p.path, p.line, p.message))


def _situacion_line(guide: Guide, text: str) -> int:
    for n, line in enumerate(guide.lines[: guide.body_start], 1):
        if text in line:
            return n
    return guide.meta_lines.get("situaciones", 1)


def golden(settings: Settings, embedder: Encoder) -> list[GoldenMiss]:
    """Each `situaciones` entry must find a card of its own guide in the top 3 (docs as they are now).

    Raises ContentError when the guides are broken (lint reports the same problems first)."""
    docs = load_docs(settings.docs_dir, settings.root)
    index = guides_index(settings, embedder, docs)
    searcher = Searcher(index, embedder, settings)
    misses = []
    for guide in docs.guides:
        for query in guide.situaciones:
            results = searcher.search(str(query), 20).results
            pages = [r.card.id.split("#")[0] for r in results]
            rank = first_hit(pages, {guide.page})
            if rank is None or rank > GOLDEN_TOP:
                misses.append(
                    GoldenMiss(
                        guide.rel,
                        _situacion_line(guide, str(query)),
                        str(query),
                        [r.card.id for r in results[:GOLDEN_TOP]],
                        rank,
                    )
                )
    return misses
