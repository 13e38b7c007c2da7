"""The learning curve: what accepted searches (kb.trainers.learning) teach, measured as a centre lives it.

In a contact centre the same situations come back in new words. The real-wording set's dev split
holds pairs of items that describe one situation in different real wording, from different
sources (`pair`). For a share of the pairs (0, 25, 50, 100 %, nested, fixed order) one item is
«accepted» for its labelled best card, exactly as a trainer's click would store it, and the index
is built with it (`build_index(learned=...)` through `memory_index`); the other item of every pair
is searched. Alongside: the dev items in no pair, which nothing taught and which must not drop,
and the same 100 % taught with the whole search instead of its nearest sentence.

    python -m benchmarks.learning --out BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.bench import machine
from benchmarks.sections import replace_section
from kb.config import load_settings
from kb.embedding.encoders import load_embedder
from kb.retrieval.build import memory_index
from kb.search.searcher import Searcher
from kb.trainers import learning
from kb.trainers.measures import first_hit

SECTION = "## Aprender de las búsquedas (curva de aprendizaje)"
SHARES = (0.0, 0.25, 0.5, 1.0)
SEED = 0


def pairs(rows: list[dict]) -> list[tuple[dict, dict]]:
    """(taught, searched) for each dev pair with both items in scope, in a fixed shuffled order."""
    by_pair: dict[str, list[dict]] = {}
    for row in rows:
        if row["split"] == "dev" and row["pair"] and row["expected"]:
            by_pair.setdefault(row["pair"], []).append(row)
    found = [tuple(sorted(items, key=lambda r: r["id"])) for items in by_pair.values() if len(items) == 2]
    random.Random(SEED).shuffle(found)
    return [(a, b) for a, b in found]


def hits(searcher: Searcher, rows: list[dict]) -> tuple[float, float]:
    """hit@1 and hit@3 of `rows` (their `expected` cards)."""
    if not rows:
        return 0.0, 0.0
    ranks = []
    for row in rows:
        ids = [r.card.id for r in searcher.search(row["query"], 10).results]
        ranks.append(first_hit(ids, row["expected"]))
    return (sum(r == 1 for r in ranks) / len(ranks), sum(bool(r and r <= 3) for r in ranks) / len(ranks))


def measure(build: Callable[[dict[str, list[str]]], Searcher], rows: list[dict]) -> list[str]:
    """The table's rows: one per share of the pairs taught, plus the whole-search variant."""
    taught_pairs = pairs(rows)
    unrelated = [r for r in rows if r["split"] == "dev" and r["expected"] and not r["pair"]]
    searched = [b for _, b in taught_pairs]
    out = []
    for share in SHARES:
        n = round(share * len(taught_pairs))
        learned: dict[str, list[str]] = {}
        for a, _ in taught_pairs[:n]:
            learned.setdefault(a["best"][0], []).append(a["query"])
        searcher = build(learned)
        h1, h3 = hits(searcher, searched)
        taught = hits(searcher, [b for _, b in taught_pairs[:n]])
        u1, u3 = hits(searcher, unrelated)
        out.append(
            f"| {share:.0%} ({n} de {len(taught_pairs)}) | {h1:.3f} / {h3:.3f} | "
            + (f"{taught[0]:.3f} / {taught[1]:.3f}" if n else "–")
            + f" | {u1:.3f} / {u3:.3f} |"
        )
    return out


def whole_searches(build: Callable[[dict[str, list[str]]], Searcher], rows: list[dict]) -> str:
    """100 % taught, each search learned whole instead of through its nearest sentence."""
    original = learning.clause
    learning.clause = lambda query, lines, encoder: query  # type: ignore[assignment]
    try:
        return measure(build, rows)[-1].replace("| 100%", "| 100 %, la búsqueda entera", 1)
    finally:
        learning.clause = original


def section(table: list[str], whole: str, rows: list[dict], seconds: float) -> str:
    info = machine()
    n_pairs = len(pairs(rows))
    unrelated = sum(1 for r in rows if r["split"] == "dev" and r["expected"] and not r["pair"])
    return "\n".join(
        [
            SECTION,
            "",
            f"Medido con `python -m benchmarks.learning` el {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
            f"en {info.get('cpu', '?')} ({seconds:.0f} s). Pares de `tests/data/real` (partición dev): "
            f"{n_pairs} pares de situaciones iguales con palabras y fuentes distintas. De cada par, una se "
            "acepta para su mejor tarjeta (como el clic de un formador) y se busca la otra; "
            f"«no relacionadas» son las {unrelated} situaciones de dev que no están en ningún par.",
            "",
            "| pares enseñados | la otra de cada par: hit@1 / hit@3 "
            "| la otra, solo en los pares enseñados | no relacionadas |",
            "|---|---|---|---|",
            *table,
            whole,
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Curva de aprendizaje de las búsquedas aceptadas; BENCHMARKS.md")
    parser.add_argument("--out", default=None, help="Escribe la sección en este archivo (si no, la imprime).")
    args = parser.parse_args(argv)
    settings = load_settings()
    rows = [
        json.loads(line)
        for file in sorted((settings.root / "tests" / "data" / "real").glob("*.jsonl"))
        for line in file.read_text(encoding="utf-8").splitlines()
    ]
    embedder = load_embedder(settings.model)

    def build(learned: dict[str, list[str]]) -> Searcher:
        index = memory_index(settings.docs_dir, embedder, settings.root, learned=learned)
        return Searcher(index, embedder, settings)

    started = time.perf_counter()
    table = measure(build, rows)
    whole = whole_searches(build, rows)
    text = section(table, whole, rows, time.perf_counter() - started)
    if args.out:
        replace_section(Path(args.out), SECTION, text)
        print(f"Escrito {args.out}", file=sys.stderr)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
