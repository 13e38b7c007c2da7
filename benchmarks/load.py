"""`make bench`, load part: K simulated agents against 1 and 2 panel replicas behind nginx.

Each agent is a Playwright browser context (own cookies, so nginx's affinity spreads them) in one
shared Chromium, searching every 5–10 s; Enter → end of the rerun is timed in the page (the clock of
tests/test_browser.py). The deployment is tests.support.localdeploy's: `kb serve --replicas N --panel-only`
behind deploy/nginx/kb.conf. The clients share the cores with the server, so the browser's CPU is
measured from /proc and reported beside the latencies; so is the warm start. Writes the «Carga»
section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.bench import machine, pct
from benchmarks.sections import replace_section
from kb.config import load_settings
from tests.support.chromium import ARM_CLOCK, CHROMIUM, CHROMIUM_ARGS
from tests.support.localdeploy import LocalDeployment, cpu_seconds, free_ports, machine_cpu_seconds, rss_mb, tree
from tests.support.waits import stop_process, wait_http

LOAD_ARGS = [*CHROMIUM_ARGS, "--disable-renderer-backgrounding", "--disable-background-timer-throttling"]
"""Many contexts in one browser: none may be throttled as a background tab."""
SEARCH_BOX = "¿Qué está pasando en la llamada?"
SECTION = "## Carga: agentes simultáneos"
QUERIES = [
    "el cliente me grita y no me deja hablar",
    "dice que le hemos mentido",
    "quiere hablar con mi jefe",
    "amenaza con ponerlo en twitter",
    "quiere que le devolvamos el dinero",
    "dice que es la tercera vez que llama",
    "me dice que somos unos incompetentes",
    "no le hemos devuelto la llamada",
    "cómo termino la llamada",
    "le prometieron algo que no podemos cumplir",
    "está llorando",
    "me amenaza con denunciarnos",
]


@dataclass
class Point:
    """One measurement: `agents` agents on `replicas` replicas for `seconds`."""

    replicas: int
    agents: int
    seconds: float
    times_ms: list[float] = field(default_factory=list)
    errors: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    rss: list[float] = field(default_factory=list)


async def search_once(page: Any, query: str, timeout_ms: float = 30_000) -> float:
    box = page.get_by_label(SEARCH_BOX)
    await box.fill(query)
    await box.focus()
    await page.evaluate(ARM_CLOCK)
    await box.press("Enter")
    await page.wait_for_function("() => window.__kbClock.done()", timeout=timeout_ms, polling=50)
    return float(await page.evaluate("() => window.__kbClock.end - window.__kbClock.start"))


async def agent(page: Any, point: Point, until: float, rng: random.Random) -> None:
    """Search every 5–10 s until `until` (a search started before it is waited for and counted)."""
    await asyncio.sleep(rng.uniform(0, 5))
    while time.monotonic() < until:
        try:
            point.times_ms.append(await search_once(page, rng.choice(QUERIES)))
        except Exception:  # noqa: BLE001 - a timeout or a broken page is one error, the agent goes on
            point.errors += 1
        await asyncio.sleep(rng.uniform(5, 10))


async def open_agents(browser: Any, url: str, count: int) -> list[Any]:
    """`count` agents with the panel loaded, a few at a time (not measured)."""
    pages: list[Any] = []
    for start in range(0, count, 5):
        batch = []
        for _ in range(min(5, count - start)):
            context = await browser.new_context(
                viewport={"width": 900, "height": 1000}, locale="es-ES", ignore_https_errors=True
            )  # the deployment's self-signed certificate
            batch.append(await context.new_page())
        await asyncio.gather(*(p.goto(url) for p in batch))
        await asyncio.gather(*(p.get_by_label(SEARCH_BOX).wait_for(timeout=120_000) for p in batch))
        pages += batch
    return pages


async def measure(browser: Any, stack: LocalDeployment, agents: int, seconds: float, seed: int) -> Point:
    point = Point(stack.replicas, agents, seconds)
    pages = await open_agents(browser, f"{stack.url}/", agents)
    servers = [pid for p in stack.replica_pids() for pid in tree(p)]
    nginx = tree(stack.nginx.pid) if stack.nginx else []

    def sample() -> dict[str, float]:
        mine = set(tree(os.getpid())) - set(servers) - set(nginx)
        return {
            "máquina": machine_cpu_seconds(),
            "clientes": cpu_seconds(list(mine)),
            "réplicas": cpu_seconds(servers),
            "nginx": cpu_seconds(nginx),
        }

    before, started = sample(), time.monotonic()
    rng = random.Random(seed)
    await asyncio.gather(*(agent(p, point, started + seconds, random.Random(rng.random())) for p in pages))
    after, elapsed = sample(), time.monotonic() - started
    point.cpu = {k: (after[k] - before[k]) / elapsed for k in after}  # cores busy on average
    point.rss = [rss_mb(pid) for pid in stack.replica_pids()]
    for page in pages:
        await page.context.close()
    return point


async def run_points(stack: LocalDeployment, agent_counts: list[int], seconds: float) -> list[Point]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=LOAD_ARGS)
        points = []
        for i, count in enumerate(agent_counts):
            print(f"  {stack.replicas} réplica(s), {count} agentes…", file=sys.stderr, flush=True)
            points.append(await measure(browser, stack, count, seconds, seed=i))
        await browser.close()
    return points


def deployment(replicas: int, tmp: Path) -> LocalDeployment:
    settings = load_settings()
    prefix = tmp / f"r{replicas}"
    prefix.mkdir()
    stack = LocalDeployment(prefix=prefix, env={}, replicas=replicas, site_dir=settings.site_dir, listen=free_ports(1))
    stack.env = dict(
        os.environ,
        KB_FEEDBACK_DB=str(tmp / f"feedback-{replicas}.db"),
        KB_HOST="127.0.0.1",
        KB_SITE_URL=f"{stack.url}/manual/",
    )
    return stack


def warm_start(tmp: Path, after_s: float = 15.0) -> dict[str, float]:
    """`kb serve --panel-only`: seconds to «Panel listo», RSS, and a first search `after_s` after the start."""
    from playwright.sync_api import sync_playwright

    port = free_ports(1)
    env = dict(os.environ, KB_FEEDBACK_DB=str(tmp / "warm.db"), KB_HOST="127.0.0.1")
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kb.cli", "serve", "--panel-only", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ready = wait_http(f"http://127.0.0.1:{port}/_stcore/health", proc=proc)
        idle_rss = rss_mb(proc.pid)
        time.sleep(max(0.0, after_s - (time.monotonic() - started)))
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=LOAD_ARGS)
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_label(SEARCH_BOX).wait_for(timeout=60_000)
            opened = time.monotonic() - started
            first, second = (search_sync(page, q) for q in QUERIES[:2])
            browser.close()
        return {
            "ready_s": ready,
            "opened_s": opened,
            "first_ms": first,
            "second_ms": second,
            "idle_rss": idle_rss,
            "rss": rss_mb(proc.pid),
        }
    finally:
        stop_process(proc)


def search_sync(page: Any, query: str) -> float:
    box = page.get_by_label(SEARCH_BOX)
    box.fill(query)
    box.focus()
    page.evaluate(ARM_CLOCK)
    box.press("Enter")
    page.wait_for_function("() => window.__kbClock.done()", timeout=60_000, polling=50)
    return float(page.evaluate("() => window.__kbClock.end - window.__kbClock.start"))


def section(points: list[Point], warm: dict[str, float], load: tuple[float, float]) -> str:
    """The «Carga» section of BENCHMARKS.md, in Spanish, with the machine it was measured on."""
    info = machine()
    lines = [
        SECTION,
        "",
        f"Medido con `python -m benchmarks.load` el {info['fecha']} en {info['cpu']}, {info['núcleos']} núcleos, "
        f"{info['memoria']}; carga media de la máquina (otros procesos incluidos) {load[0]:.1f} al empezar y "
        f"{load[1]:.1f} al terminar.",
        "",
        "### Arranque en caliente (`kb serve --panel-only`, un proceso)",
        "",
        f"- «Panel listo» (modelo, índice y base cargados; `/_stcore/health` responde) a los {warm['ready_s']:.1f} s.",
        f"- Panel abierto en el navegador a los {warm['opened_s']:.1f} s; primera búsqueda (Enter → resultados): "
        f"**{warm['first_ms']:.0f} ms**; la segunda, {warm['second_ms']:.0f} ms.",
        f"- Memoria del proceso: {warm['idle_rss']:.0f} MiB al estar listo, {warm['rss']:.0f} MiB tras buscar.",
        "",
        "### Agentes simultáneos detrás de nginx",
        "",
        "Cada agente es un contexto de Chromium (un navegador con sus cookies) que busca cada 5–10 s; "
        "todos comparten un Chromium en esta misma máquina. «CPU» son núcleos ocupados de media durante la "
        "medición: los clientes (Chromium y el programa que los maneja), las réplicas, nginx y la máquina entera "
        "(otros procesos incluidos).",
        "",
        "| réplicas | agentes | búsquedas | errores | p50 | p95 | CPU clientes | CPU réplicas | CPU nginx "
        "| CPU máquina | memoria por réplica |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in points:
        t = sorted(p.times_ms)
        p50, p95 = (f"{pct(t, q):.0f} ms" if t else "—" for q in (50, 95))
        lines.append(
            f"| {p.replicas} | {p.agents} | {len(t)} | {p.errors} | {p50} | {p95} | "
            f"{p.cpu['clientes']:.2f} | {p.cpu['réplicas']:.2f} | {p.cpu['nginx']:.2f} | "
            f"{p.cpu['máquina']:.2f} de {info['núcleos']} | {' / '.join(f'{r:.0f}' for r in p.rss)} MiB |"
        )
    busiest = max(points, key=lambda p: p.cpu["clientes"])
    share = busiest.cpu["clientes"] / max(busiest.cpu["máquina"], 1e-9)
    lines += [
        "",
        f"Los clientes simulados son parte de la carga: con {busiest.agents} agentes y "
        f"{busiest.replicas} réplica(s) usaron {busiest.cpu['clientes']:.2f} núcleos, el {share:.0%} de la CPU "
        "ocupada de la máquina. En un centro real cada agente tiene su propio PC, así que aquí los tiempos "
        "incluyen la espera por CPU que causan los propios navegadores; lo que mide el servidor es la columna "
        "«CPU réplicas».",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Agentes simultáneos contra 1 y 2 réplicas; escribe BENCHMARKS.md")
    parser.add_argument("--out", default="BENCHMARKS.md")
    parser.add_argument("--agents", default="10,25,50")
    parser.add_argument("--replicas", default="1,2")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    load_start = os.getloadavg()[0]
    points: list[Point] = []
    with tempfile.TemporaryDirectory(prefix="kb-bench-load-") as folder:
        tmp = Path(folder)
        print("Arranque en caliente…", file=sys.stderr, flush=True)
        warm = warm_start(tmp)
        for replicas in (int(r) for r in args.replicas.split(",")):
            stack = deployment(replicas, tmp)
            try:
                stack.start_panels()
                stack.start_nginx()
                stack.wait_ready()
                points += asyncio.run(run_points(stack, [int(a) for a in args.agents.split(",")], args.seconds))
            finally:
                stack.stop()
    replace_section(Path(args.out), SECTION, section(points, warm, (load_start, os.getloadavg()[0])))
    print(f"Escrito {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
