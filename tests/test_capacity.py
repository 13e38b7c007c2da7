"""The capacity benchmark's agents against the real deployment: they must really search, and be answered.

benchmarks.capacity measures the server with agents that speak the panel's websocket protocol and the
API's HTTPS without a browser. Its figures are only worth something if those agents do what a browser
does, so here a few of them run briefly against the deployment of tests/test_deploy.py (PostgreSQL,
two replicas and `kb api` behind the shipped nginx config over HTTPS, sign-in on) on the two-guide
project: each search must be answered, the cards the panel drew (read from Streamlit's deltas) must be
the searcher's, and every answered search and acknowledged vote must land in PostgreSQL. Then the
same with PostgreSQL restarted and the replica most agents use killed mid-run.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from benchmarks.capacity import Point, Stack, check_stored, fault_events, measure, start_stack
from benchmarks.capacity_agents import Plan
from tests.conftest import SMALL, make_docs
from tests.pg import PostgresServer, postgres_server  # noqa: F401
from tests.support.parts import required
from tests.support.waits import CEILING

QUERIES = ("el cliente me grita y no me deja hablar", "quiere que le devolvamos el dinero")
"""Situations the two-guide project answers with confidence (so the panel draws cards and 👍 buttons)."""
AGENTS = 3
SEARCHES_EACH = 3


@pytest.fixture(scope="module")
def stack(postgres_server: PostgresServer, embedder, tmp_path_factory):  # noqa: F811 - fixture by name
    from kb.retrieval.build import build_index

    required("nginx", shutil.which("nginx") is not None)
    tmp = tmp_path_factory.mktemp("capacity")
    project = make_docs(tmp / "project", SMALL)
    build_index(project / "docs", tmp / "index", embedder, root=project)
    env = {"KB_HOME": str(project), "KB_DOCS": str(project / "docs"), "KB_INDEX": str(tmp / "index")}
    running = start_stack(tmp / "deploy", 2, env, postgres_server.fresh_database("capacity"), AGENTS, AGENTS)
    try:
        yield running
    finally:
        running.deploy.stop()


def test_protocol_agents_are_answered_with_the_searchers_cards_and_nothing_is_lost(stack: Stack, settings):
    from kb.search.searcher import Searcher

    plan = Plan(pause=(0.2, 1.0), searches_each=SEARCHES_EACH, queries=QUERIES, patience=CEILING)
    point = asyncio.run(measure(stack, Point(2, AGENTS, AGENTS), plan))
    panel, api = point.tallies
    for tally in (panel, api):
        assert tally.asked == AGENTS * SEARCHES_EACH, tally.kind
        assert (tally.errors, tally.lost) == (0, 0), tally.kind
        assert set(tally.answered) == set(tally.queries), tally.kind  # every search drew cards
        assert len(tally.times_ms) == tally.asked

    project = Path(stack.deploy.env["KB_HOME"])
    searcher = Searcher.load(
        settings.with_(root=project, docs_dir=project / "docs", index_dir=Path(stack.deploy.env["KB_INDEX"]))
    )
    for tally in (panel, api):
        for tag, shown in tally.answered.items():
            top = searcher.search(tally.queries[tag], 3).results[0].card
            assert top.heading.split(" › ")[-1] in shown, (tally.kind, tally.queries[tag], shown[:300])

    print(f"\nVotos confirmados: panel {len(panel.votes_acked)}, API {len(api.votes_acked)}")
    assert panel.votes_acked and api.votes_acked  # a vote share of ½ over 9 answers each (fixed seeds)
    assert panel.votes_refused == api.votes_refused == 0
    assert check_stored(stack, point, timeout=CEILING) == {
        "búsquedas del panel": 0,
        "búsquedas de la API": 0,
        "valoraciones": 0,
    }
    assert point.cpu["réplicas"] > 0 and point.cpu["api"] > 0  # the /proc figures the benchmark reports


def test_postgresql_restarted_and_a_replica_killed_lose_no_search_and_no_acknowledged_vote(
    stack: Stack,
    postgres_server: PostgresServer,  # noqa: F811 - fixture by name
):
    """The triggers are the agents' progress, not a clock: the restart after one answer of each kind, the
    kill after as many panel answers as panel agents (three quarters of their searches are still to come)."""
    stack.pg = postgres_server
    point = Point(2, AGENTS, AGENTS)

    def answered(panel: int, api: int = 0):
        return lambda t: len(t[0].answered) >= panel and len(t[1].answered) >= api

    events = fault_events(stack, point, answered(1, 1), answered(AGENTS))
    plan = Plan(pause=(0.2, 1.0), searches_each=4, queries=QUERIES, patience=CEILING, seed=7)
    asyncio.run(measure(stack, point, plan, events))
    panel, api = point.tallies
    print(
        f"\nCon fallos: panel {panel.asked} búsquedas, {panel.errors} cortadas, {panel.retried} repetidas, "
        f"{panel.reconnects} reconexiones; API {api.asked}, {api.errors} fallidas; votos confirmados "
        f"{len(panel.votes_acked)} + {len(api.votes_acked)}, rechazados {panel.votes_refused + api.votes_refused}"
    )
    assert panel.errors + panel.reconnects > 0  # the killed replica really had agents on it
    for tally in (panel, api):
        assert tally.lost == 0, tally.kind
        assert set(tally.answered) == set(tally.queries), tally.kind
    assert check_stored(stack, point, timeout=CEILING) == {
        "búsquedas del panel": 0,
        "búsquedas de la API": 0,
        "valoraciones": 0,
    }
