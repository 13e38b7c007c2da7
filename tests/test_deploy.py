"""The deployment as IT runs it: PostgreSQL, two warm panel replicas behind deploy/nginx/kb.conf, a real Chromium.

The real thing, on loopback: `kb serve --replicas 2 --panel-only` with KB_DATABASE_URL on a
throwaway PostgreSQL (tests/pg.py), nginx started from a temporary prefix with the shipped
kb.conf (ports and paths replaced by tests.support.localdeploy), the guides site built into a temp
folder and served by nginx under /manual/. Two browser contexts (two agents) search and vote;
the rows must land in PostgreSQL, the guide links must open through nginx, and each agent
must stay on one replica, websocket included (checked in nginx's access log).

A two-guide project keeps the index build to seconds. Without nginx, Chromium or PostgreSQL
the browser test is skipped saying why; under CI=true it fails instead.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from kb.serving.replicas import Child
from kb.serving.serve import notify_systemd
from tests.conftest import ROOT, SMALL, build_site_into, make_docs
from tests.pg import PostgresServer, postgres_server  # noqa: F401
from tests.support.localdeploy import LocalDeployment, free_ports, render_nginx
from tests.support.waits import CEILING_MS, wait_until
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, SEARCH_BOX, VIEWPORT, search

AGENT_QUERIES = ("el cliente me grita por teléfono", "quiere que le devuelvan el dinero")
FIRST_SEARCH_BOUND_MS = 3_000
"""A cold panel (model loaded at the first Enter) takes several times this; BENCHMARKS.md has the
measured figure. On a busy machine the bound grows with a later, warm search in the same run."""
WARM_RATIO = 4


def required(what: str, present: bool) -> None:
    if present:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} is required under CI=true", pytrace=False)
    pytest.skip(f"{what} not available")


def small_project(tmp: Path) -> Path:
    """The two-guide project of conftest, with mkdocs.yml pointing back at this checkout."""
    root = make_docs(tmp, SMALL)
    config = root / "mkdocs.yml"
    config.write_text(
        config.read_text(encoding="utf-8")
        .replace("kb/site/hooks.py", str(ROOT / "kb" / "site" / "hooks.py"))
        .replace("custom_dir: overrides", f"custom_dir: {ROOT / 'overrides'}"),
        encoding="utf-8",
    )
    return root


# ---------------------------------------------------------------- cheap parts (no model, no browser)


def test_the_shipped_nginx_config_renders_and_nginx_accepts_it(tmp_path):
    required("nginx", shutil.which("nginx") is not None)
    (tmp_path / "site").mkdir()
    conf = render_nginx(
        tmp_path, listen=free_ports(1), panel_ports=[8601, 8602, 8603], api_port=8600, site_dir=tmp_path / "site"
    )
    text = (tmp_path / "kb.conf").read_text()
    assert text.count("max_fails=1") == 3 and "hash $kb_affinity consistent;" in text
    proc = subprocess.run(
        [shutil.which("nginx"), "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def test_rendering_fails_when_a_marked_line_is_gone(tmp_path, monkeypatch):
    import tests.support.localdeploy as localdeploy

    broken = tmp_path / "kb.conf"
    broken.write_text(localdeploy.NGINX_CONF.read_text().replace("listen 80;", "listen 8080;"))
    monkeypatch.setattr(localdeploy, "NGINX_CONF", broken)
    with pytest.raises(RuntimeError, match="listen 80"):
        render_nginx(tmp_path / "out", listen=1, panel_ports=[2], api_port=3, site_dir=tmp_path)


def test_the_supervisor_restarts_a_dead_replica_and_backs_off():
    said: list[str] = []
    child = Child("Réplica del panel 9999", [sys.executable, "-c", "import sys; sys.exit(3)"])
    child.check(said.append)  # starts it
    child.proc.wait(10)
    child.check(said.append)  # notices the death
    assert said == ["✘ Réplica del panel 9999 ha terminado (código 3); se reinicia en 2 s."]
    assert child.proc is None and child.next_start > time.monotonic() + 1
    child.next_start = 0
    child.check(said.append)
    child.proc.wait(10)
    child.check(said.append)
    assert said[-1].endswith("se reinicia en 4 s.") and child.restarts == 2


def test_ready_is_sent_to_systemd(tmp_path, monkeypatch):
    address = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        monkeypatch.setenv("NOTIFY_SOCKET", address)
        notify_systemd("READY=1")
        assert sock.recv(64) == b"READY=1"


# ---------------------------------------------------------------- the real thing


@pytest.fixture(scope="session")
def deploy_tools() -> None:
    """Checked before PostgreSQL starts and the model loads, so a skip costs nothing."""
    required("nginx", shutil.which("nginx") is not None)
    required(CHROMIUM, Path(CHROMIUM).is_file())


@pytest.fixture(scope="module")
def deployment(deploy_tools, postgres_server, embedder, settings, tmp_path_factory):  # noqa: F811 - fixture by name
    from kb.retrieval.build import build_index
    from kb.search.searcher import Searcher

    tmp = tmp_path_factory.mktemp("deploy")
    project = small_project(tmp / "project")
    site_dir, index_dir = tmp / "site", tmp / "index"
    build_index(project / "docs", index_dir, embedder, root=project)
    url = postgres_server.fresh_database("deploy")
    (tmp / "nginx").mkdir()
    stack = LocalDeployment(prefix=tmp / "nginx", env={}, replicas=2, site_dir=site_dir, listen=free_ports(1))
    stack.env = dict(
        os.environ,
        KB_HOME=str(project),
        KB_DOCS=str(project / "docs"),
        KB_INDEX=str(index_dir),
        KB_SITE_DIR=str(site_dir),
        KB_SITE_URL=f"{stack.url}/manual/",
        KB_DATABASE_URL=url,
        KB_FEEDBACK_DB=str(tmp / "no-se-usa.db"),
        KB_HOST="127.0.0.1",
        KB_USERS_FILE=str(tmp / "usuarios.json"),
    )
    stack.start_panels()
    build_site_into(settings.with_(root=project, docs_dir=project / "docs"), site_dir)  # while they load
    stack.start_nginx()
    try:
        try:
            print(f"\nRéplicas listas tras nginx en {stack.wait_ready():.1f} s")
        except AssertionError as exc:
            pytest.fail(f"{exc}\n{stack.log_text('panel')}\n{stack.log_text('nginx')}")
        local = settings.with_(
            root=project, docs_dir=project / "docs", index_dir=index_dir, site_url=f"{stack.url}/manual/"
        )
        yield {"stack": stack, "db": url, "searcher": Searcher.load(local)}
    finally:
        stack.stop()


def select(db: str, sql: str) -> list[tuple]:
    """The rows of one query on the deployment's PostgreSQL, on a connection of its own."""
    engine = sa.create_engine(db)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


def votes(db: str) -> list[tuple]:
    return select(db, "SELECT query, card_id, rank, vote FROM feedback")


def searched_queries(db: str) -> set[str]:
    return {q for (q,) in select(db, "SELECT query FROM searches")}


def replica_of(context, url: str) -> str:
    """Which replica nginx sends this browser context to (and, on its first request, its cookie)."""
    response = context.request.get(f"{url}/_stcore/health")
    assert response.ok, response.status
    return response.headers["x-kb-replica"]


def two_agents_on_two_replicas(browser, url: str) -> list:
    """Browser contexts until two land on different replicas; the others are closed."""
    first = browser.new_context(viewport=VIEWPORT, locale="es-ES")
    where = replica_of(first, url)
    for _ in range(16):  # each new browser has even odds: failing 16 times is 1 in 65 536
        other = browser.new_context(viewport=VIEWPORT, locale="es-ES")
        if replica_of(other, url) != where:
            return [first, other]
        assert replica_of(other, url) == where  # its cookie keeps it where it went
        other.close()
    pytest.fail("nginx manda todos los navegadores a la misma réplica")


@pytest.mark.browser
def test_two_agents_search_and_vote_through_nginx_into_postgresql(deployment):
    from playwright.sync_api import sync_playwright

    stack: LocalDeployment = deployment["stack"]
    url = stack.url
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        contexts = two_agents_on_two_replicas(browser, url)
        cookies = [next(c["value"] for c in ctx.cookies() if c["name"] == "kb_replica") for ctx in contexts]
        replicas = [replica_of(ctx, url) for ctx in contexts]
        first_ms: list[float] = []
        later_ms: list[float] = []
        for number, (context, query) in enumerate(zip(contexts, AGENT_QUERIES, strict=True), 1):
            page = context.new_page()
            page.set_default_timeout(CEILING_MS)
            page.goto(f"{url}/")
            page.get_by_label(SEARCH_BOX).wait_for()
            first_ms.append(search(page, query))
            top = deployment["searcher"].search(query, 3).results[0]
            page.get_by_text(top.card.heading.split(" › ")[-1]).first.wait_for()
            page.get_by_role("button", name="👍").first.click()
            with context.expect_page() as popup:
                page.get_by_role("link", name=re.compile("Ver guía completa")).first.click()
            guide = popup.value
            guide.wait_for_load_state()
            anchor = top.card.path.split("#", 1)[1]
            assert guide.url == f"{url}/manual/{top.card.path}"
            assert guide.locator(f'[id="{anchor}"]').count() == 1
            wait_until(lambda n=number: len(votes(deployment["db"])) >= n, f"el voto {number} en PostgreSQL")
            later_ms.append(search(page, AGENT_QUERIES[number % 2]))  # the same panel, warm by now
        guide_page = contexts[0].request.get(f"{url}/manual/guias/reembolsos/")  # from nginx, not a replica
        assert guide_page.ok and "Dos opciones al menos" in guide_page.text()
        assert "x-kb-replica" not in guide_page.headers
        for context in contexts:
            context.close()  # nginx logs a websocket when it closes
        browser.close()
    print(f"\nPrimera búsqueda de cada agente a través de nginx: {', '.join(f'{t:.0f} ms' for t in first_ms)}")
    bound = max(FIRST_SEARCH_BOUND_MS, WARM_RATIO * max(later_ms))
    assert max(first_ms) <= bound, f"el panel no estaba caliente al primer Enter (después: {later_ms} ms)"

    expected = {(q, deployment["searcher"].search(q, 3).results[0].card.id, 1, 1) for q in AGENT_QUERIES}
    assert set(votes(deployment["db"])) == expected
    assert set(AGENT_QUERIES) <= searched_queries(deployment["db"])

    log = (stack.prefix / "access.log").read_text()
    assert replicas[0] != replicas[1]
    for cookie, replica in zip(cookies, replicas, strict=True):
        lines = [
            line for line in log.splitlines() if f"affinity={cookie} " in line and '"GET /manual/' not in line
        ]  # the site is nginx's
        assert {re.search(r"replica=(\S+)", line).group(1) for line in lines} == {replica}, lines
        assert any('"GET /_stcore/stream' in line and '" 101 ' in line for line in lines), lines
