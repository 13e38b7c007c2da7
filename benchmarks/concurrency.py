"""`make bench`, concurrency: many threads searching, many writers voting, and the HTTP API under load.

Part of benchmarks.bench; every figure is measured here and now.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kb.config import Settings
from tests.support.waits import free_port


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


def _in_threads(worker: Callable[[int], list[float]], threads: int) -> tuple[list[float], int, float]:
    """Run worker(0..threads-1) at once; (all timings in ms, errors, wall seconds)."""
    times: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def guarded(n: int) -> None:
        try:
            local = worker(n)
        except BaseException as exc:  # noqa: BLE001 - counted and reported
            errors.append(exc)
            return
        with lock:
            times.extend(local)

    started = time.perf_counter()
    pool = [threading.Thread(target=guarded, args=(n,)) for n in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    return times, len(errors), time.perf_counter() - started


def bench_threads(searcher: Any, queries: list[str], threads: int = 20, per_thread: int = 200) -> dict[str, Any]:
    """Searches from many threads of one process (the panel's sessions are threads)."""

    def worker(offset: int) -> list[float]:
        local = []
        for i in range(per_thread):
            t = time.perf_counter()
            searcher.search(queries[(offset * 7 + i) % len(queries)], 3)
            local.append((time.perf_counter() - t) * 1000)
        return local

    times, errors, wall = _in_threads(worker, threads)
    return {
        "threads": threads,
        "per_thread": per_thread,
        "n": len(times),
        "errors": errors,
        "p50": pct(times, 50),
        "p95": pct(times, 95),
        "qps": len(times) / wall,
    }


def bench_feedback(threads: int = 16, per_thread: int = 500) -> dict:
    from kb.feedback.store import FeedbackStore

    tmp = Path(tempfile.mkdtemp(prefix="kb-fb-"))
    try:
        store = FeedbackStore(tmp / "feedback.db")
        store.connect().close()

        def worker(n: int) -> list[float]:
            for i in range(per_thread):
                store.record_vote(f"consulta {n}-{i}", "guia#seccion", 1, 0.5, 1 if i % 2 else -1)
            return []

        _, _, wall = _in_threads(worker, threads)
        rows = len(store.rows("feedback"))
        return {"expected": threads * per_thread, "rows": rows, "seconds": wall}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


LONG_MESSAGE = (
    "Buenos días. Les escribo porque el mes pasado compré un aspirador en su tienda y desde entonces he tenido "
    "que llamar cuatro veces. La primera vez me dijeron que era normal, la segunda que me llamarían en dos días, "
    "y nadie llamó. La tercera vez me pasaron de un departamento a otro durante media hora. "
) * 10 + "Ya no sé qué más hacer: estoy harto, nadie me escucha y quiero que alguien se haga responsable de una vez."


def bench_api(settings: Settings, searcher: Any, queries: list[str], rounds: int = 200) -> dict[str, Any]:
    """The HTTP API on a loopback port (a real uvicorn): /api/search with 1 and 20 concurrent clients,
    and /api/suggest on a ~3,000-character message (first time and again, when its sentences are cached)."""
    import httpx

    from kb.api import create_app
    from kb.api.server import start_api_thread

    port = free_port()
    handle = start_api_thread(create_app(settings, lambda: searcher), "127.0.0.1", port)
    base = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {}
    try:
        for clients in (1, 20):
            per_client = max(1, rounds // clients)

            def worker(n: int, per_client: int = per_client) -> list[float]:
                local = []
                with httpx.Client(base_url=base, timeout=60) as client:
                    for i in range(per_client):
                        t = time.perf_counter()
                        client.get("/api/search", params={"q": queries[(n * 13 + i) % len(queries)]}).raise_for_status()
                        local.append((time.perf_counter() - t) * 1000)
                return local

            times, errors, wall = _in_threads(worker, clients)
            out[f"search_{clients}"] = {
                "n": len(times),
                "errors": errors,
                "p50": pct(times, 50),
                "p95": pct(times, 95),
                "qps": len(times) / wall,
            }
        body = {"conversation_id": "bench", "turns": [{"speaker": "cliente", "text": LONG_MESSAGE[:3000]}], "k": 3}
        with httpx.Client(base_url=base, timeout=120) as client:
            for label in ("suggest_cold", "suggest_warm"):
                t = time.perf_counter()
                client.post("/api/suggest", json=body).raise_for_status()
                out[label] = (time.perf_counter() - t) * 1000
        out["suggest_chars"] = len(LONG_MESSAGE[:3000])
    finally:
        handle.stop()
    return out


def api_section(api: dict[str, Any]) -> list[str]:
    """The BENCHMARKS.md lines for bench_api."""
    rows = [
        f"| {n} | {api[f'search_{n}']['n']} | {api[f'search_{n}']['errors']} | {api[f'search_{n}']['p50']:.1f} ms "
        f"| {api[f'search_{n}']['p95']:.1f} ms | {api[f'search_{n}']['qps']:.0f} |"
        for n in (1, 20)
    ]
    return [
        "## API HTTP (uvicorn en 127.0.0.1, clientes httpx en el mismo equipo)",
        "",
        "| clientes a la vez | peticiones | errores | p50 | p95 | peticiones/s |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"- `/api/suggest` con un mensaje de {api['suggest_chars']:,} caracteres: {api['suggest_cold']:.0f} ms la "
        f"primera vez, {api['suggest_warm']:.0f} ms al repetirlo (frases ya vectorizadas en memoria).",
        "",
    ]
