"""`make bench`, hostile pastes: an agent's ordinary search while four long pastes run through the API.

A real `kb api` in its own process (so the clients' threads do not share its interpreter), on a
loopback port. Four clients at once each send 10,000 characters (random letters: a tracking code or
base64; or random eight-letter words: the worst text per character that the cuts leave), and a fifth
searches «el cliente me grita…» again and again until they are done. Issue 30's bar: that search
answers in ≤ 1.5 s. `--root` runs the server of another checkout (an older commit) with the same
client, for before/after figures in one session.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import string
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.bench import machine, pct
from benchmarks.sections import replace_section
from tests.support.waits import free_port, stop_process, wait_http

SECTION = "## Pegados hostiles (búsqueda normal con cuatro textos de 10.000 caracteres a la vez, API)"
NORMAL = "el cliente me grita y no me deja hablar"
PASTES = 4
BAR_S = 1.5


def paste(kind: str, seed: int, chars: int = 10_000) -> str:
    """10,000 characters nobody can read: one run of random letters, or random eight-letter words."""
    rng = random.Random(seed)
    if kind == "letras":
        return "".join(rng.choice(string.ascii_lowercase) for _ in range(chars))
    words = " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(8)) for _ in range(chars // 9 + 1))
    return words[:chars]


def start_api(root: Path, index: Path, tmp: Path) -> tuple[subprocess.Popen, str]:
    """`kb api` of the checkout at `root`, serving `index`; returns once /api/health answers."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(root),
        "KB_HOME": str(root),
        "KB_INDEX": str(index),
        "KB_FEEDBACK_DB": str(tmp / "fb.db"),
        "KB_API_PORT": str(port),
        "KB_HOST": "127.0.0.1",
    }
    log = tmp / "api.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kb.cli", "api"], cwd=root, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/api/health", proc=proc, log=log)
    return proc, base


def timed_search(base: str, query: str, timeout: float = 900) -> float:
    import httpx

    started = time.perf_counter()
    httpx.get(base + "/api/search", params={"q": query}, timeout=timeout).raise_for_status()
    return time.perf_counter() - started


def scenario(base: str, kind: str) -> dict[str, Any]:
    """Normal searches while PASTES pastes of `kind` run; the pastes' own times too."""
    pastes: list[float] = []
    lock = threading.Lock()

    def hostile(seed: int) -> None:
        took = timed_search(base, paste(kind, seed))
        with lock:
            pastes.append(took)

    threads = [threading.Thread(target=hostile, args=(seed,)) for seed in range(PASTES)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # the pastes reach the server first, as in the probe (cpu_dos.py)
    normal = [timed_search(base, NORMAL)]
    while any(t.is_alive() for t in threads) or len(normal) < 3:
        normal.append(timed_search(base, NORMAL))
    for thread in threads:
        thread.join()
    return {"kind": kind, "normal": normal, "pastes": pastes}


def run(root: Path, index: Path, kinds: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kb-hostile-") as tmp:
        proc, base = start_api(root, index, Path(tmp))
        try:
            for _ in range(5):
                timed_search(base, NORMAL)
            alone = [timed_search(base, NORMAL) for _ in range(20)]
            scenarios = [scenario(base, kind) for kind in kinds]
        finally:
            stop_process(proc, grace=60)
    commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return {
        "root": str(root),
        "commit": commit.stdout.strip() or "?",
        "load": os.getloadavg(),
        "alone": alone,
        "scenarios": scenarios,
    }


def summary(result: dict[str, Any]) -> list[str]:
    """Table rows (markdown) for one run."""
    alone = result["alone"]
    rows = [f"| {result['label']} | sola | | {pct(alone, 50):.2f} s | {max(alone):.2f} s | {len(alone)} | |"]
    for s in result["scenarios"]:
        rows.append(
            f"| {result['label']} | con 4 × {s['kind']} | {s['normal'][0]:.2f} s | {pct(s['normal'], 50):.2f} s "
            f"| {max(s['normal']):.2f} s | {len(s['normal'])} | {min(s['pastes']):.1f}–{max(s['pastes']):.1f} s |"
        )
    return rows


def section(results: list[dict[str, Any]]) -> str:
    info = machine()
    lines = [
        SECTION,
        "",
        f"`python -m benchmarks.hostile` en {info['cpu']}, {info['núcleos']} núcleos, {info['fecha']}. "
        f"Un `kb api` real; cuatro clientes envían a la vez 10.000 caracteres a `/api/search` (letras al azar sin "
        f"espacios, o palabras de ocho letras al azar) y un quinto busca «{NORMAL}» una y otra vez hasta que "
        f"terminan. Objetivo: la búsqueda normal en ≤ {BAR_S} s.",
        "",
        "| versión | búsqueda normal | la primera (0,5 s después de los pegados) | p50 | máximo | búsquedas | "
        "cada pegado |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        lines += summary(result)
    loads = ", ".join(f"{r['label']}: {r['load'][0]:.1f}" for r in results)
    lines += ["", f"Carga media del equipo (1 min) al terminar cada versión: {loads}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Búsqueda normal mientras cuatro pegados hostiles usan la API")
    parser.add_argument("--out", default=None, help="BENCHMARKS.md: sustituye o añade la sección")
    parser.add_argument("--root", action="append", default=[], help="checkout(s) a medir (por defecto este)")
    parser.add_argument("--label", action="append", default=[], help="nombre de cada checkout en la tabla")
    parser.add_argument("--index", default=None, help="índice que sirven todos (por defecto KB_INDEX o index/)")
    parser.add_argument("--json", default=None, help="guarda también las cifras en bruto")
    parser.add_argument("--from-json", default=None, help="no mide: escribe la sección de un --json anterior")
    parser.add_argument("--kinds", default="letras,palabras", help="pegados: letras, palabras o ambos")
    args = parser.parse_args(argv)
    here = Path(__file__).resolve().parent.parent
    roots = [Path(r).resolve() for r in args.root] or [here]
    labels = args.label or [p.name for p in roots]
    index = Path(args.index or os.environ.get("KB_INDEX") or here / "index").resolve()
    results = json.loads(Path(args.from_json).read_text(encoding="utf-8")) if args.from_json else []
    for root, label in zip(roots, labels) if not args.from_json else ():
        print(f"Midiendo {label} ({root})…", file=sys.stderr)
        results.append({**run(root, index, args.kinds.split(",")), "label": label})
    text = section(results)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    if args.out:
        replace_section(Path(args.out), SECTION, text)
    worst = max(max(s["normal"]) for s in results[0]["scenarios"])  # the first checkout: this one by default
    return 0 if worst <= BAR_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
