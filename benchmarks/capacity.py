"""`make bench`, capacity part: how many agents one core serves, measured on the server alone.

The deployment is the shipped one (tests.support.localdeploy): PostgreSQL, `kb serve --replicas N
--panel-only` and `kb api` behind deploy/nginx/kb.conf over HTTPS, sign-in on (KB_BEHIND_PROXY=1). The
agents speak the panel's websocket protocol and the API's HTTPS without a browser
(benchmarks.capacity_agents), so the clients cost little and the CPU figures are the server's, read
from /proc. A fault run restarts PostgreSQL and kills one replica mid-run and counts what was lost.
Writes the «Capacidad» section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa

from benchmarks.capacity_agents import Event, PanelAgent, Plan, Tally, Trigger, open_all, run_agents
from benchmarks.capacity_report import SECTION, section
from benchmarks.sections import replace_section
from kb.accounts.identity import AGENT, TRAINER
from kb.accounts.users_file import Accounts
from tests.pg import PostgresServer, start_server
from tests.support.localdeploy import LocalDeployment, cpu_seconds, machine_cpu_seconds, tree
from tests.support.waits import wait_until

PASSWORD = "clave-de-carga-2026"  # pragma: allowlist secret (accounts made in a throwaway users file)
TAG = re.compile(r"caso ([pa]\d+x\d+n\d+)")


@dataclass
class Point:
    """One run: `panel` + `api` agents on `replicas` replicas for `seconds`, and what the server spent."""

    replicas: int
    panel: int
    api: int
    seconds: float = 0.0
    tallies: tuple[Tally, Tally] = field(default_factory=lambda: (Tally("panel"), Tally("api")))
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds during the run, by process group
    load: tuple[float, float] = (0.0, 0.0)
    missing: dict[str, int] = field(default_factory=dict)  # acknowledged but not in the database


@dataclass
class Stack:
    """A running deployment with its accounts: panel users and one API token per API agent."""

    deploy: LocalDeployment
    db: str
    users: list[str]
    tokens: list[str]
    pg: PostgresServer | None = None
    placement: list[int] = field(default_factory=list)  # the replica port of each panel agent of the last run


def make_accounts(path: Path, panel: int, api: int) -> tuple[list[str], list[str]]:
    """`agente1…` for the panel (one account each, as in a contact centre) and `integracion1…` with a token;
    plus the trainer account kb refuses to start without when published."""
    accounts = Accounts(path)
    accounts.add("formadora", PASSWORD, TRAINER)
    users = [f"agente{i}" for i in range(1, panel + 1)]
    for name in users:
        accounts.add(name, PASSWORD, AGENT)
    tokens = []
    for i in range(1, api + 1):
        accounts.add(f"integracion{i}", PASSWORD, AGENT)
        tokens.append(accounts.create_token(f"integracion{i}"))
    return users, tokens


def start_stack(prefix: Path, replicas: int, env: dict[str, str], db: str, panel: int, api: int) -> Stack:
    """The deployment of tests/test_deploy.py (PostgreSQL at `db`, sign-in on), started and ready."""
    prefix.mkdir(parents=True, exist_ok=True)
    users, tokens = make_accounts(prefix / "usuarios.json", panel, api)
    deploy = LocalDeployment(prefix=prefix / "nginx", env={}, replicas=replicas, api=True)
    deploy.prefix.mkdir(exist_ok=True)
    deploy.site_dir = deploy.site_dir or deploy.prefix / "site"
    deploy.env = deploy.signed_in_env(db, prefix / "usuarios.json", **env)
    deploy.start_panels()
    deploy.start_nginx()
    try:
        deploy.wait_ready()
    except BaseException:
        deploy.stop()
        raise
    return Stack(deploy, db, users, tokens)


def server_cpu(stack: Stack) -> dict[str, float]:
    """CPU seconds so far of replicas (with their supervisor), API, nginx, PostgreSQL, this process, the machine."""
    d = stack.deploy
    groups = {
        "réplicas": tree(d.panel.pid) if d.panel else [],
        "api": tree(d.api_proc.pid) if d.api_proc else [],
        "nginx": tree(d.nginx.pid) if d.nginx else [],
        "postgresql": postgres_pids(stack.pg),
        "clientes": [os.getpid()],
    }
    out = {name: cpu_seconds(pids) for name, pids in groups.items()}
    out["máquina"] = machine_cpu_seconds()
    return out


def postgres_pids(pg: PostgresServer | None) -> list[int]:
    try:
        return pg.pids() if pg else []
    except (OSError, ValueError, IndexError):  # between stop and start in the fault run
        return []


async def replica_cookie(client: httpx.AsyncClient) -> tuple[str, int]:
    """nginx's affinity cookie, from a first request as a browser opening the panel gets it, and its replica's port."""
    client.cookies.clear()  # each agent is a browser of its own
    response = await client.get("/_stcore/health")
    response.raise_for_status()
    return response.cookies["kb_replica"], int(response.headers["x-kb-replica"].rsplit(":", 1)[1])


async def measure(stack: Stack, point: Point, plan: Plan, events: list[Event] | None = None) -> Point:
    """Open the agents (not measured), run them under `plan`, and keep latencies and CPU."""
    d = stack.deploy
    context = d.tls()
    async with httpx.AsyncClient(base_url=d.url, verify=context) as browserish:
        cookies = [await replica_cookie(browserish) for _ in range(point.panel)]
    stack.placement = [port for _, port in cookies]
    agents = [
        PanelAgent(d.url, context, c, u, PASSWORD, plan.patience)
        for (c, _), u in zip(cookies, stack.users, strict=False)
    ]
    await open_all(agents)
    clients = [
        httpx.AsyncClient(
            base_url=d.url, verify=context, headers={"Authorization": f"Bearer {t}"}, timeout=plan.patience
        )
        for t in stack.tokens[: point.api]
    ]
    load, before, started = os.getloadavg()[0], server_cpu(stack), time.monotonic()
    plan.until = min(plan.until, started + point.seconds) if plan.searches_each is None else plan.until
    try:
        await run_agents(agents, clients, plan, point.tallies, events)
    finally:
        after, point.seconds = server_cpu(stack), time.monotonic() - started
        for agent in agents:
            if agent.client is not None:
                await agent.client.close()
        for client in clients:
            await client.aclose()
    point.cpu = {name: after[name] - before[name] for name in after}
    point.load = (load, os.getloadavg()[0])
    return point


def stored_tags(db: str) -> tuple[set[str], set[str]]:
    """Tags of the searches and of the votes in the deployment's database."""
    engine = sa.create_engine(db)
    try:
        with engine.connect() as conn:
            searches = {m for (q,) in conn.execute(sa.text("SELECT query FROM searches")) for m in TAG.findall(q)}
            votes = {m for (q,) in conn.execute(sa.text("SELECT query FROM feedback")) for m in TAG.findall(q)}
    finally:
        engine.dispose()
    return searches, votes


def acknowledged(point: Point) -> dict[str, set[str]]:
    """The tags the deployment answered or confirmed so far (a copy, safe to read from another thread)."""
    panel, api = point.tallies
    return {
        "búsquedas del panel": {t.removeprefix("caso ") for t in list(panel.answered)},
        "búsquedas de la API": {t.removeprefix("caso ") for t in list(api.answered)},
        "valoraciones": {t.removeprefix("caso ") for t in [*panel.votes_acked, *api.votes_acked]},
    }


def missing(db: str, wanted: dict[str, set[str]], timeout: float = 90.0) -> dict[str, int]:
    """How many of `wanted` are not in the database, once the writers had up to `timeout` s to store them."""

    def count() -> dict[str, int]:
        searches, votes = stored_tags(db)
        return {kind: len(tags - (votes if kind == "valoraciones" else searches)) for kind, tags in wanted.items()}

    try:
        wait_until(lambda: not any(count().values()), "las búsquedas y valoraciones en PostgreSQL", ceiling=timeout)
    except AssertionError:
        pass  # counted below
    return count()


def check_stored(stack: Stack, point: Point, timeout: float = 90.0) -> dict[str, int]:
    """Answered searches and acknowledged votes of the run missing from the database."""
    point.missing = missing(stack.db, acknowledged(point), timeout)
    return point.missing


def replica_pid(stack: Stack, port: int) -> int:
    """The process of the replica listening on `port` (its command line says `--port P`)."""
    for pid in stack.deploy.replica_pids():
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"--port" in args and args[args.index(b"--port") + 1] == str(port).encode():
            return pid
    raise RuntimeError(f"no hay réplica en el puerto {port}")


def fault_events(stack: Stack, point: Point, restart_at: Trigger, kill_at: Trigger) -> list[Event]:
    """PostgreSQL restarted (a fast stop cuts every connection), then the replica most panel agents use killed,
    once the writes queued while PostgreSQL was away are stored (a killed process loses its queue:
    kb.feedback.outbox says so; that case is not what this run measures)."""
    assert stack.pg is not None
    pg = stack.pg
    restarted = asyncio.Event()

    async def restart_pg() -> None:
        print("    reinicio de PostgreSQL", file=sys.stderr, flush=True)
        await asyncio.to_thread(pg.stop, "fast")
        await asyncio.to_thread(pg.start)
        restarted.set()

    async def kill_replica() -> None:
        await restarted.wait()
        await asyncio.to_thread(missing, stack.db, acknowledged(point))
        port = max(set(stack.placement), key=stack.placement.count)
        victim = replica_pid(stack, port)
        print(f"    réplica {port} (pid {victim}) matada con SIGKILL", file=sys.stderr, flush=True)
        os.kill(victim, signal.SIGKILL)

    return [(restart_at, restart_pg), (kill_at, kill_replica)]


def run_points(tmp: Path, pg: PostgresServer, replicas: int, counts: list[int], seconds: float) -> list[Point]:
    most = max(counts)
    stack = start_stack(tmp / f"r{replicas}", replicas, {}, pg.fresh_database(f"cap{replicas}"), most, most)
    stack.pg = pg
    points = []
    try:
        for i, n in enumerate(counts):
            print(f"  {replicas} réplica(s), {n} agentes de panel + {n} de API…", file=sys.stderr, flush=True)
            point = asyncio.run(measure(stack, Point(replicas, n, n, seconds), Plan(seed=replicas * 100 + i)))
            check_stored(stack, point)
            points.append(point)
    finally:
        stack.deploy.stop()
    return points


def fault_run(tmp: Path, pg: PostgresServer, n: int, seconds: float) -> Point:
    stack = start_stack(tmp / "fallos", 2, {}, pg.fresh_database("capfallos"), n, n)
    stack.pg = pg
    print(f"  fallos: 2 réplicas, {n} + {n} agentes…", file=sys.stderr, flush=True)
    try:
        point = Point(2, n, n, seconds)
        asyncio.run(measure(stack, point, Plan(seed=999), fault_events(stack, point, seconds / 3, 2 * seconds / 3)))
        check_stored(stack, point)
    finally:
        stack.deploy.stop()
    return point


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Capacidad del servidor sin navegadores; escribe BENCHMARKS.md")
    parser.add_argument("--out", default="BENCHMARKS.md")
    parser.add_argument("--agents", default="5,10,20,60", help="agentes de panel (y otros tantos de API) por medición")
    parser.add_argument("--replicas", default="1,2")
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--fault-agents", type=int, default=10)
    parser.add_argument("--fault-seconds", type=float, default=120.0)
    args = parser.parse_args(argv)
    counts = [int(a) for a in args.agents.split(",")]
    with tempfile.TemporaryDirectory(prefix="kb-bench-capacity-") as folder:
        pg = start_server()
        try:
            points = [
                p for r in args.replicas.split(",") for p in run_points(Path(folder), pg, int(r), counts, args.seconds)
            ]
            fault = fault_run(Path(folder), pg, args.fault_agents, args.fault_seconds) if args.fault_agents else None
        finally:
            pg.stop("immediate")
            shutil.rmtree(pg.root, ignore_errors=True)
    replace_section(Path(args.out), SECTION, section(points, fault))
    print(f"Escrito {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
