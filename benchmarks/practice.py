"""The practice page (kb.site.practice): how the wrong options are kept from being right, and what it costs.

- where the content audit's duplicate card pairs fall among all pairs (what CLOSE_SHARE must cover);
- how many drills the guides give, and which rule turns away how many candidate wrong options;
- how strict SCENARIO_MARGIN is: the guides' own `situaciones` (real questions, not in the index)
  whose runner-up scores within it of the first card;
- the time the practice adds to a site build (engine and words), and the page's weight.

    python -m benchmarks.practice --out BENCHMARKS.md      # needs a built index (kb build --index-only)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.bench import machine
from benchmarks.sections import replace_section
from kb.config import Settings, load_settings
from kb.content import cards_of, read_guides
from kb.content.practice import practice_cards
from kb.site.build import build_site
from kb.site.closeness import ENGINE, Closeness
from kb.site.drills import CLOSE_SHARE, CONFUSED_SHARE, SITUATION_MARGIN, Chooser, related_cards
from kb.site.practice import Practice, build_practice, practice_markdown
from kb.trainers.scenarios import SCENARIO_MARGIN

SECTION = "## Práctica (página para nuevos)"
AUDIT_DUPLICATES = [
    # reviews/content-audit.md §5.2: card pairs that split the same queries (ids as of 4020775)
    ("guias/cliente-enfadado#reformular-lo-que-ha-contado", "guias/clientes-dificiles#preguntas-abiertas-y-parafraseo"),
    (
        "guias/cliente-enfadado#escuchar-para-entender-no-para-responder",
        "guias/clientes-dificiles#escuchar-cual-parece-ser-el-problema",
    ),
    ("guias/clientes-dificiles#llamada-de-seguimiento", "guias/fidelizar#comprobar-la-satisfaccion-despues"),
    ("guias/clientes-dificiles#honestidad-y-transparencia", "guias/fidelizar#admitir-que-el-cliente-tiene-razon"),
    (
        "guias/reglas-de-oro#no-siempre-tiene-razon-pero-siempre-tiene-sus-razones",
        "guias/cliente-sin-razon#no-siempre-tiene-razon",
    ),
    (
        "guias/cliente-enfadado#cuando-no-sabes-la-respuesta",
        "guias/reglas-de-oro#pedir-tiempo-y-volver-a-llamar-en-el-plazo",
    ),
    ("guias/cliente-enfadado#cumplir-siempre-lo-prometido", "guias/reglas-de-oro#si-se-dice-se-hace"),
    ("guias/reglas-de-oro#el-cliente-tiene-derecho-a-quejarse", "guias/escuchar-la-queja#derecho-a-ser-escuchado"),
    ("guias/clientes-dificiles#soluciones-no-excusas", "guias/cliente-enfadado#explicar-la-situacion-sin-excusas"),
    ("guias/clientes-dificiles#soluciones-no-excusas", "guias/cliente-enfadado#ofrecer-al-menos-dos-opciones"),
    ("guias/clientes-dificiles#hablar-con-suavidad", "guias/cliente-enfadado#mantener-la-calma"),
]


def audit_positions(close: Closeness) -> list[float]:
    """For each audited pair still in the guides: the share of all card pairs at least as close (%)."""
    n = len(close.ids)
    values = close.pairs[np.triu_indices(n, 1)]
    out = []
    for a, b in AUDIT_DUPLICATES:
        if a in close.position and b in close.position:
            out.append(100 * float((values >= close.similarity(a, b)).mean()))
    return out


def rule_counts(practice: Practice, docs: Path, root: Path) -> dict[str, int]:
    """Candidate wrong options turned away per rule over all drills (a candidate counts for its first rule)."""
    guides = [g for g in read_guides(docs, root) if g.ok]
    every = [c for g in guides for c in practice_cards(g)]
    related = related_cards(guides, [c for g in guides for c in cards_of(g)])
    chooser = Chooser(practice.close, every, {g.page: i for i, g in enumerate(practice.guides)}, related)
    counts = {"enlazadas o anidadas": 0, "texto cercano": 0, "el motor las confunde": 0, "cerca en la situación": 0}
    counts["aceptables"] = 0
    pos = practice.close.position
    share = practice.close.confusion()
    confused = np.maximum(share, share.T) >= CONFUSED_SHARE
    for drill in practice.drills:
        scores = practice.close.line_scores(drill.card, drill.situation) if drill.kind == "cuando" else None
        for other in every:
            if other.id == drill.card:
                continue
            a, b = pos[drill.card], pos[other.id]
            if other.id in related.get(drill.card, set()):
                counts["enlazadas o anidadas"] += 1
            elif practice.close.pairs[a, b] >= chooser.bar:
                counts["texto cercano"] += 1
            elif confused[a, b]:
                counts["el motor las confunde"] += 1
            elif scores is not None and scores[b] >= scores[a] - SITUATION_MARGIN:
                counts["cerca en la situación"] += 1
            else:
                counts["aceptables"] += 1
    return counts


def scenario_strictness(settings: Settings) -> tuple[int, int, int]:
    """(situaciones searched, first card of another guide, runner-up within SCENARIO_MARGIN of the first)."""
    from kb.search.searcher import Searcher

    searcher = Searcher.load(settings)
    guides = [g for g in read_guides(settings.docs_dir, settings.root) if g.ok]
    total = other = close = 0
    for guide in guides:
        for query in guide.situaciones:
            results = searcher.search(query, 2).results
            total += 1
            other += results[0].card.id.split("#")[0] != guide.page
            close += len(results) > 1 and results[0].score - results[1].score < SCENARIO_MARGIN
    return total, other, close


def timed(run: Callable[[], object], times: int = 3) -> float:
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def report(settings: Settings) -> str:
    docs, root = settings.docs_dir, settings.root
    practice = build_practice(docs, root, settings.index_dir)
    if practice.close.mode != ENGINE:
        sys.exit(f"Hace falta un índice de estas guías: {practice.close.reason}")
    positions = audit_positions(practice.close)
    rules = rule_counts(practice, docs, root)
    engine_s = timed(lambda: build_practice(docs, root, settings.index_dir))
    words_s = timed(lambda: build_practice(docs, root, root / "sin-indice-para-medir"))
    size = len(practice_markdown(practice).encode("utf-8"))
    with tempfile.TemporaryDirectory() as out:
        site_s = timed(lambda: build_site(settings.with_(site_dir=Path(out))))
    searched, other, near = scenario_strictness(settings)
    kinds = {k: sum(d.kind == k for d in practice.drills) for k in ("cuando", "escenario")}
    lines = [
        SECTION,
        "",
        f"Medido el {time.strftime('%Y-%m-%d %H:%M %Z')} con `python -m benchmarks.practice` ({_machine_state()}).",
        "",
        "| qué | valor |",
        "|---|---|",
        f"| ejercicios | {len(practice.drills)} ({kinds['cuando']} de líneas «Cuándo», {kinds['escenario']} escritos "
        f"por formación) de {len({d.card for d in practice.drills})} de {len(practice.cards)} tarjetas |",
        f"| umbral de texto (el {CLOSE_SHARE:.0%} de pares más cercanos) | coseno ≥ {practice.bar:.3f} |",
        f"| pares duplicados de la auditoría: su puesto entre todos los pares | {len(positions)} pares, "
        f"el más lejano en el {max(positions):.1f} % más cercano (mediana {statistics.median(positions):.1f} %) |",
        f"| situaciones de las guías (`situaciones`) con el segundo a menos de {SCENARIO_MARGIN} del primero | "
        f"{near} de {searched} ({near / searched:.0%}); primera tarjeta de otra guía: {other} |",
        f"| leer las guías y construir los ejercicios con el índice (mediana de 3) | {engine_s:.2f} s |",
        f"| lo mismo sin índice, por palabras (mediana de 3) | {words_s:.2f} s |",
        f"| sitio completo con la práctica (`kb build --site-only`, mediana de 3) | {site_s:.2f} s |",
        f"| peso de la página generada (markdown con los datos) | {size / 1024:.0f} KiB |",
        "",
        "Candidatas a opción incorrecta, sumadas sobre todos los ejercicios, por la primera regla que las descarta:",
        "",
        "| regla | candidatas |",
        "|---|---|",
        *[f"| {rule} | {n} |" for rule, n in rules.items()],
        "",
    ]
    return "\n".join(lines)


def _machine_state() -> str:
    """Which CPU and how busy it was: the times below only compare within one run."""
    info = machine()
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    busy = "equipo ocupado" if load >= cores else "sin otra carga notable"
    return f"{info['cpu']}, {info['núcleos']} núcleos; carga media al terminar: {load:.1f}, {busy}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=None, help="BENCHMARKS.md a actualizar (sin él, se imprime)")
    args = parser.parse_args(argv)
    text = report(load_settings())
    if args.out:
        replace_section(Path(args.out), SECTION, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
