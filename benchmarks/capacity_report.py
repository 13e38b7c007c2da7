"""The «Capacidad» section of BENCHMARKS.md, in Spanish, from the capacity benchmark's points."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks.bench import machine, pct

if TYPE_CHECKING:
    from benchmarks.capacity import Point
    from benchmarks.capacity_agents import Tally

SECTION = "## Capacidad: agentes por núcleo, sin navegadores"
SERVER = ("réplicas", "api", "nginx")
"""The processes a deployment runs for kb; PostgreSQL is shown apart (it may live on another machine)."""


def latency(tally: Tally) -> str:
    t = sorted(tally.times_ms)
    return f"{pct(t, 50):.0f} / {pct(t, 95):.0f} ms" if t else "—"


def per_search(cpu_s: float, searches: int) -> float:
    return cpu_s / searches if searches else float("nan")


def agents_per_core(agents: int, cpu_s: float, seconds: float) -> float:
    """Agents ÷ cores the server kept busy for them (CPU seconds ÷ wall seconds), at the run's search rate."""
    return agents * seconds / cpu_s if cpu_s > 0 else float("nan")


def row(p: Point) -> str:
    panel, api = p.tallies
    server = sum(p.cpu[k] for k in SERVER)
    searches = len(panel.times_ms) + len(api.times_ms)
    errors = panel.errors + api.errors
    lost = panel.lost + api.lost
    return (
        f"| {p.replicas} | {p.panel} + {p.api} | {searches} | {errors} | {lost} | {latency(panel)} | {latency(api)} "
        f"| {server / p.seconds:.2f} ({p.cpu['réplicas'] / p.seconds:.2f} / {p.cpu['api'] / p.seconds:.2f} / "
        f"{p.cpu['nginx'] / p.seconds:.2f}) "
        f"| {per_search(p.cpu['réplicas'], len(panel.times_ms)):.2f} / "
        f"{per_search(p.cpu['api'], len(api.times_ms)):.2f} s "
        f"| **{agents_per_core(p.panel, p.cpu['réplicas'], p.seconds):.0f}** / "
        f"**{agents_per_core(p.api, p.cpu['api'], p.seconds):.0f}** "
        f"| {p.cpu['postgresql'] / p.seconds:.2f} | {p.cpu['clientes'] / p.seconds:.2f} "
        f"| {p.cpu['máquina'] / p.seconds:.2f} | {p.load[0]:.1f} → {p.load[1]:.1f} |"
    )


def planning_line(points: list[Point]) -> str:
    """The figure to plan with: the run with most agents (the idle cost spread widest), one replica first."""
    p = max(points, key=lambda q: (q.panel, -q.replicas))
    panel, api = p.tallies
    return (
        f"Para planificar (la medición con más agentes, {p.panel} + {p.api} sobre {p.replicas} réplica(s)): un núcleo "
        f"de servidor da para unos **{agents_per_core(p.panel, p.cpu['réplicas'], p.seconds):.0f} agentes de panel** "
        f"o **{agents_per_core(p.api, p.cpu['api'], p.seconds):.0f} integraciones por la API** que buscan cada "
        f"20–40 s; p95 de {latency(panel).split(' / ')[-1]} en el panel y {latency(api).split(' / ')[-1]} en la API."
    )


def fault_lines(fault: Point) -> list[str]:
    panel, api = fault.tallies
    votes = len(panel.votes_acked) + len(api.votes_acked)
    return [
        "### Con fallos: PostgreSQL reiniciado y una réplica matada",
        "",
        f"2 réplicas, {fault.panel} agentes de panel + {fault.api} de API durante {fault.seconds:.0f} s. A un tercio "
        "de la medición PostgreSQL se para (`pg_ctl stop -m fast`, que corta las conexiones) y vuelve a arrancar; a "
        "dos tercios, una vez guardado lo que se encoló mientras no estaba, la réplica con más agentes recibe SIGKILL "
        "(el supervisor de `kb serve` la rearranca). Una réplica matada con escrituras aún en cola las pierde "
        "(`kb/feedback/outbox.py` lo dice): esa combinación no se mide aquí. Un agente de panel cuya "
        "conexión se corta hace lo que el navegador: vuelve a conectar (nginx lo manda a la otra réplica), entra de "
        "nuevo y repite la búsqueda una vez; uno de API repite la llamada una vez.",
        "",
        f"- Búsquedas: {panel.asked} en el panel y {api.asked} por la API; respondidas a la primera "
        f"{panel.asked - panel.errors} y {api.asked - api.errors}, al repetir {panel.retried} y {api.retried}; "
        f"**sin respuesta: {panel.lost + api.lost}**. p50 / p95: panel {latency(panel)}, API {latency(api)}. "
        f"Conexiones del panel que se encontraron cerradas entre búsquedas y se reabrieron: {panel.reconnects}.",
        f"- Valoraciones confirmadas al agente: {len(panel.votes_acked)} en el panel y {len(api.votes_acked)} por la "
        f"API ({votes}); no confirmadas (la API respondió 503 o el panel avisó): "
        f"{panel.votes_refused + api.votes_refused}. "
        f"**Confirmadas que faltan en PostgreSQL: {fault.missing.get('valoraciones', 0)}**.",
        f"- Búsquedas respondidas que faltan en el registro de PostgreSQL (informe de formadores): "
        f"{fault.missing.get('búsquedas del panel', 0)} del panel, {fault.missing.get('búsquedas de la API', 0)} "
        "de la API.",
        "",
    ]


def section(points: list[Point], fault: Point | None) -> str:
    info = machine()
    lines = [
        SECTION,
        "",
        f"Medido con `python -m benchmarks.capacity` el {info['fecha']} en {info['cpu']}, {info['núcleos']} núcleos, "
        f"{info['memoria']}. El despliegue es el de `deploy/`: PostgreSQL, `kb serve --replicas N --panel-only` y "
        "`kb api` detrás de nginx con HTTPS e inicio de sesión (KB_BEHIND_PROXY=1). Sin navegadores: cada agente "
        "de panel habla el protocolo de Streamlit por websocket (`/_stcore/stream`: entra con su usuario, rellena "
        "la caja y pulsa «Buscar», espera al final de la ejecución) y cada agente de API llama a `POST /api/search` "
        "con su token. Cada agente busca cada 20–40 s (al azar) y vota 👍 en la mitad de las respuestas; los tiempos "
        "van de pulsar a tener los resultados. Los clientes corren en esta misma máquina, pero cuestan poco (columna "
        "«clientes»).",
        "",
        "«Núcleos servidor» es la CPU de réplicas (con su supervisor), API y nginx, leída en /proc, dividida por la "
        "duración: núcleos ocupados de media. «CPU por búsqueda» es la CPU de las réplicas entre las búsquedas del "
        "panel, y la de la API entre las suyas (incluye lo que gastan en reposo). «Agentes por núcleo» = agentes ÷ "
        "núcleos que ocupan = 1 ÷ (CPU por búsqueda × búsquedas por segundo de un agente), con el ritmo medido "
        "(una búsqueda cada ~30 s más su propio tiempo): cuántos agentes así llenarían un núcleo entero. Es una "
        "extrapolación lineal del coste medido, no una medición a núcleo lleno: para planificar, deja margen (las "
        "búsquedas que coinciden esperan su turno, y eso alarga el p95 antes de llenar el núcleo). PostgreSQL aparte.",
        "",
        "| réplicas | agentes panel + API | búsquedas | errores | sin respuesta | p50 / p95 panel | p50 / p95 API "
        "| núcleos servidor (réplicas / API / nginx) | CPU por búsqueda panel / API | agentes por núcleo panel / API "
        "| núcleos PostgreSQL | núcleos clientes | núcleos máquina | carga media |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *(row(p) for p in points),
        "",
        planning_line(points) if points else "",
        "",
    ]
    if fault is not None:
        lines += fault_lines(fault)
    return "\n".join(lines)
