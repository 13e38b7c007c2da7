"""`kb check`: everything a trainer can break in docs/, reported as `file:line: message`.

    >>> problems = lint(settings)                 # list[Problem], errors and warnings
    >>> misses = golden(settings)                 # list[GoldenMiss]

`lint` covers what kb.content already rejects (YAML, schema, fases, phrase blocks,
duplicate headings, missing nav pages) plus what only matters for quality: section
length, broken internal links, near-duplicate sections and guides without
`situaciones`. `golden` proves search still finds each guide from its own
`situaciones`. Both run in `make test` on the real content.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np

from kb.config import Settings
from kb.content import (
    Card,
    FENCE,
    ContentError,
    Guide,
    Problem,
    check_nav,
    read_guides,
    split_body,
)

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
        return (f"{self.guide}:{self.line}: la situación «{self.query}» no encuentra su guía entre los "
                f"{GOLDEN_TOP} primeros ({where}); salen: {', '.join(self.got)}")


def _words(card: Card) -> int:
    return len(" ".join([card.text, *card.say, *card.avoid]).split())


def _section_problems(guide: Guide) -> list[Problem]:
    problems = []
    cards = {c.id: c for c in guide.cards()}
    for section in guide.sections:
        if section.level < 2:
            continue
        prose, phrases, _ = split_body(section)
        has_own = any(line.strip() for _, line in prose) or any(phrases.values())
        if not has_own and not section.children:
            problems.append(Problem(guide.rel, section.line, f"la sección '{section.heading}' está vacía; "
                                    "escribe su contenido o bórrala"))
            continue
        card = cards.get(f"{guide.page}#{section.anchor}")
        if card is None:
            continue
        n = _words(card)
        if n > MAX_WORDS_ERROR:
            problems.append(Problem(guide.rel, section.line, f"la sección '{section.heading}' tiene {n} palabras "
                                    f"(máximo {MAX_WORDS_ERROR}); divídela en dos ideas"))
        elif n > MAX_WORDS:
            problems.append(Problem(guide.rel, section.line, f"la sección '{section.heading}' tiene {n} palabras; "
                                    f"en el panel se lee mejor por debajo de {MAX_WORDS}", "warning"))
        elif n < MIN_WORDS:
            problems.append(Problem(guide.rel, section.line, f"la sección '{section.heading}' tiene solo {n} "
                                    f"palabras; una tarjeta útil suele tener al menos {MIN_WORDS}", "warning"))
    return problems


def _link_problems(guides: list[Guide], docs_dir: Path) -> list[Problem]:
    anchors = {g.file.resolve(): {s.anchor for s in g.sections} for g in guides}
    generated = {(docs_dir / "chuleta.md").resolve()}
    problems = []
    for guide in guides:
        in_fence = False
        for lineno in range(guide.body_start, len(guide.lines) + 1):
            line = guide.lines[lineno - 1]
            if FENCE.match(line):
                in_fence = not in_fence
            if in_fence:
                continue
            for target in _LINK.findall(_CODE_SPAN.sub("", line)):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
                    continue  # http:, mailto: … external links are not ours to check
                path, _, anchor = target.partition("#")
                file = (guide.file.parent / path).resolve() if path else guide.file.resolve()
                if file in generated:
                    continue
                if not file.is_file():
                    problems.append(Problem(guide.rel, lineno, f"enlace roto: '{target}' apunta a un archivo que no existe"))
                elif anchor and file in anchors and anchor not in anchors[file]:
                    problems.append(Problem(guide.rel, lineno, f"enlace roto: la sección '#{anchor}' no existe en "
                                            f"{file.relative_to(docs_dir.resolve())}"))
    return problems


def near_duplicates(cards: list[Card], embedder, threshold: float = NEAR_DUPLICATE) -> list[tuple[Card, Card, float]]:
    """Pairs of cards whose text vectors are closer than `threshold`, most similar first."""
    if len(cards) < 2:
        return []
    vectors = embedder.encode_passages([c.embedding_text() for c in cards])
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -1)
    i, j = np.where(np.triu(sims) > threshold)
    pairs = [(cards[a], cards[b], float(sims[a, b])) for a, b in zip(i, j)]
    return sorted(pairs, key=lambda p: -p[2])


def lint(settings: Settings, *, embedder=None) -> list[Problem]:
    """Every problem in settings.docs_dir, errors and warnings, in file and line order.

    `embedder` enables the near-duplicate check (it needs the model); without it that check is skipped."""
    docs_dir, root = settings.docs_dir, settings.root
    if not docs_dir.is_dir():
        return [Problem(str(docs_dir), 1, "no existe la carpeta de guías; revisa KB_DOCS")]
    guides = read_guides(docs_dir, root)
    problems = [p for g in guides for p in g.problems]
    problems += check_nav(root, docs_dir)
    problems += _link_problems(guides, docs_dir)
    clean = [g for g in guides if not any(p.severity == "error" for p in g.problems)]
    for guide in clean:
        problems += _section_problems(guide)
        if guide.indexed and isinstance(guide.meta.get("situaciones"), list) and not guide.meta["situaciones"]:
            problems.append(Problem(guide.rel, guide.meta_lines.get("situaciones", 1),
                                    "la guía no tiene 'situaciones': añade de 5 a 10 frases como las que escribiría "
                                    "un agente"))
    if embedder is not None:
        cards = [c for g in clean for c in g.cards()]
        for a, b, sim in near_duplicates(cards, embedder):
            file, _, line = a.source.rpartition(":")
            problems.append(Problem(file, int(line), f"la sección '{a.heading}' es casi idéntica a '{b.heading}' "
                                    f"({b.source}, similitud {sim:.2f}); fusiónalas o diferéncialas", "warning"))
    return sorted(problems, key=lambda p: (p.path, p.line, p.message))


def _situacion_line(guide: Guide, text: str) -> int:
    for n, line in enumerate(guide.lines[: guide.body_start], 1):
        if text in line:
            return n
    return guide.meta_lines.get("situaciones", 1)


def golden(settings: Settings, embedder) -> list[GoldenMiss]:
    """Each `situaciones` entry must find a card of its own guide in the top 3 (docs as they are now)."""
    from kb.index import memory_index
    from kb.search import Searcher

    index = memory_index(settings.docs_dir, embedder, settings.root)
    searcher = Searcher(index, embedder, settings)
    misses = []
    for guide in read_guides(settings.docs_dir, settings.root):
        if not guide.indexed:
            continue
        for query in guide.meta.get("situaciones") or []:
            results = searcher.search(str(query), 20).results
            pages = [r.card.id.split("#")[0] for r in results]
            rank = next((i + 1 for i, p in enumerate(pages) if p == guide.page), None)
            if rank is None or rank > GOLDEN_TOP:
                misses.append(GoldenMiss(guide.rel, _situacion_line(guide, str(query)), str(query),
                                         [r.card.id for r in results[:GOLDEN_TOP]], rank))
    return misses


@click.command()
@click.option("--golden", "run_golden", is_flag=True, help="Comprueba además que cada situación encuentra su guía.")
@click.option("--docs", "docs_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Carpeta de guías (por defecto la configurada).")
@click.option("--no-model", is_flag=True, help="Sin cargar el modelo: omite la detección de secciones casi iguales.")
@click.pass_context
def check_command(ctx: click.Context, run_golden: bool, docs_dir: Path | None, no_model: bool) -> None:
    """Revisa las guías: cabeceras, fases, frases, enlaces, longitudes, duplicados y situaciones."""
    settings: Settings = ctx.obj["settings"]
    if docs_dir is not None:
        settings = settings.with_(docs_dir=docs_dir.resolve())
    embedder = None
    if run_golden or not no_model:
        from kb.embedding import ModelError, load_embedder

        try:
            embedder = load_embedder(settings.model)
        except ModelError as exc:
            click.secho(str(exc), fg="red", err=True)
            sys.exit(1)
    problems = lint(settings, embedder=None if no_model else embedder)
    for problem in problems:
        click.echo(str(problem))
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    misses: list[GoldenMiss] = []
    if run_golden and not errors and embedder is not None:
        try:
            misses = golden(settings, embedder)
        except ContentError as exc:  # pragma: no cover - lint reports the same problems first
            for problem in exc.problems:
                click.echo(str(problem))
            sys.exit(1)
        for miss in misses:
            click.echo(str(miss))
    summary = f"{errors} errores, {warnings} avisos"
    if run_golden:
        summary += f", {len(misses)} situaciones que no encuentran su guía"
    if errors or misses:
        click.secho(f"✘ {summary}.", fg="red")
        sys.exit(1)
    click.secho(f"✔ {summary}.", fg="green")
