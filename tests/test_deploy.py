"""The deployment as IT runs it: PostgreSQL, two warm panel replicas and `kb api` behind deploy/nginx/kb.conf
over HTTPS, with sign-in on (KB_BEHIND_PROXY=1), and a real Chromium.

The real thing, on loopback: `kb serve --replicas 2 --panel-only` and `kb api` with KB_DATABASE_URL on a
throwaway PostgreSQL (tests/pg.py), nginx started from a temporary prefix with the shipped
kb.conf (ports and paths replaced by tests.support.localdeploy, a self-signed certificate made with
openssl), the guides site built into a temp folder and served by nginx under /manual/. Two browser
contexts (two agents) sign in, search and vote; the rows must land in PostgreSQL, the guide links must
open through nginx, and each agent must stay on one replica, websocket included (checked in nginx's
access log). Then personal data is typed into every box and API route, and every log the deployment
writes is searched for it.

A two-guide project keeps the index build to seconds. Without nginx, Chromium or PostgreSQL
the browser test is skipped saying why; under CI=true it fails instead.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from kb.accounts.identity import AGENT, TRAINER
from kb.accounts.users_file import Accounts
from kb.serving.replicas import Child
from kb.serving.serve import notify_systemd
from tests.conftest import ROOT, SMALL, build_site_into, make_docs
from tests.pg import PostgresServer, postgres_server  # noqa: F401
from tests.support import pii
from tests.support.localdeploy import NGINX_CONF, LocalDeployment, free_ports, render_nginx
from tests.support.parts import required
from tests.support.waits import CEILING_MS, wait_until
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD, SEARCH_BOX, VIEWPORT, search

AGENT_QUERIES = ("el cliente me grita por teléfono", "quiere que le devuelvan el dinero")
FIRST_SEARCH_BOUND_MS = 3_000
"""A cold panel (model loaded at the first Enter) takes several times this; BENCHMARKS.md has the
measured figure. On a busy machine the bound grows with a later, warm search in the same run."""
WARM_RATIO = 4


def small_project(tmp: Path) -> Path:
    """The two-guide project of conftest, with mkdocs.yml pointing back at this checkout (and the
    site's search script, which asks the API)."""
    root = make_docs(tmp, SMALL)
    shutil.copytree(ROOT / "docs" / "javascripts", root / "docs" / "javascripts")
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


def test_the_shipped_config_logs_no_query_string_and_serves_only_https():
    """Every log format leaves the query string out, every server has its own access log (none inherits
    nginx.conf's `combined`), and port 80 only redirects."""
    text = re.sub(r"#.*", "", NGINX_CONF.read_text(encoding="utf-8"))
    formats = re.findall(r"log_format\s+\w+((?:\s+'[^']*')+)\s*;", text)
    assert formats and not re.search(r"\$(request|request_uri|args|arg_\w+|query_string|http_referer)\b", str(formats))
    servers = text.split("server {")[1:]
    assert len(servers) == 2 and all("access_log /" in block for block in servers)
    assert all(re.search(r"access_log \S+ kb;", block) for block in servers)  # with the format above
    plain, tls = servers
    assert "listen 80;" in plain and "return 301 https://" in plain and "proxy_pass" not in plain
    assert "listen 443 ssl;" in tls and "ssl_certificate " in tls and "ssl_certificate_key " in tls
    assert "TLSv1 " not in tls and "TLSv1.1" not in tls


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


USERS = {"ana": TRAINER, "luis": AGENT, "marta": AGENT}


@pytest.fixture(scope="module")
def deployment(deploy_tools, postgres_server, embedder, settings, tmp_path_factory):  # noqa: F811 - fixture by name
    from kb.retrieval.build import build_index
    from kb.search.searcher import Searcher

    tmp = tmp_path_factory.mktemp("deploy")
    project = small_project(tmp / "project")
    site_dir, index_dir = tmp / "site", tmp / "index"
    build_index(project / "docs", index_dir, embedder, root=project)
    url = postgres_server.fresh_database("deploy")
    accounts = Accounts(tmp / "usuarios.json")
    for name, role in USERS.items():
        accounts.add(name, PASSWORD, role)
    (tmp / "nginx").mkdir()
    stack = LocalDeployment(prefix=tmp / "nginx", env={}, replicas=2, site_dir=site_dir, api=True)
    stack.env = stack.signed_in_env(
        url,
        tmp / "usuarios.json",
        KB_HOME=str(project),
        KB_DOCS=str(project / "docs"),
        KB_INDEX=str(index_dir),
        KB_SITE_DIR=str(site_dir),
    )
    stack.start_panels()
    build_site_into(settings.with_(root=project, docs_dir=project / "docs"), site_dir)  # while they load
    stack.start_nginx()
    try:
        try:
            print(f"\nRéplicas y API listas tras nginx en {stack.wait_ready():.1f} s")
        except AssertionError as exc:
            pytest.fail(f"{exc}\n{stack.log_text('panel')}\n{stack.log_text('api')}\n{stack.log_text('nginx')}")
        local = settings.with_(
            root=project, docs_dir=project / "docs", index_dir=index_dir, site_url=f"{stack.url}/manual/"
        )
        yield {
            "stack": stack,
            "db": url,
            "searcher": Searcher.load(local),
            "token": accounts.create_token("luis"),
            "pg_log": postgres_server.root / "server.log",
        }
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


def new_agent(browser):
    """A browser context of its own (cookies: its own replica) that trusts the deployment's certificate."""
    return browser.new_context(viewport=VIEWPORT, locale="es-ES", ignore_https_errors=True)


def sign_in(page, name: str) -> None:
    """Sign in and wait for the rerun it starts to end (a search clock armed during it would time that run)."""
    page.get_by_label("Usuario").fill(name)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    page.get_by_text(f"Sesión iniciada: {name}").wait_for()
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(state="attached")
    page.get_by_label(SEARCH_BOX).wait_for()


def replica_of(context, url: str) -> str:
    """Which replica nginx sends this browser context to (and, on its first request, its cookie)."""
    response = context.request.get(f"{url}/_stcore/health")
    assert response.ok, response.status
    return response.headers["x-kb-replica"]


def two_agents_on_two_replicas(browser, url: str) -> list:
    """Browser contexts until two land on different replicas; the others are closed."""
    first = new_agent(browser)
    where = replica_of(first, url)
    for _ in range(16):  # each new browser has even odds: failing 16 times is 1 in 65 536
        other = new_agent(browser)
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
        for number, (context, query, name) in enumerate(
            zip(contexts, AGENT_QUERIES, ("luis", "marta"), strict=True), 1
        ):
            page = context.new_page()
            page.set_default_timeout(CEILING_MS)
            page.goto(f"{url}/")
            sign_in(page, name)  # KB_BEHIND_PROXY=1: agents sign in too
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
        lines = [  # the site is nginx's, and its search box asks the API (not a replica)
            line
            for line in log.splitlines()
            if f"affinity={cookie} " in line and '"GET /manual/' not in line and " /api/" not in line
        ]
        assert {re.search(r"replica=(\S+)", line).group(1) for line in lines} == {replica}, lines
        assert any('"GET /_stcore/stream' in line and '" 101 ' in line for line in lines), lines


# ---------------------------------------------------------------- TLS, Host, and personal data in the logs


def test_plain_http_only_redirects_and_https_uses_the_certificate(deployment):
    stack: LocalDeployment = deployment["stack"]
    moved = httpx.get(f"{stack.http_url}/manual/?q=x")
    assert moved.status_code == 301 and moved.headers["location"] == f"{stack.url}/manual/?q=x"
    with pytest.raises(httpx.ConnectError):  # a certificate nobody vouched for is refused …
        httpx.get(f"{stack.url}/api/health")
    health = httpx.get(f"{stack.url}/api/health", verify=stack.tls())  # … and the deployment's own is accepted
    assert health.status_code == 200 and health.json()["token_required"] is True
    rebound = httpx.get(f"{stack.url}/api/health", verify=stack.tls(), headers={"Host": "rebind.attacker.example"})
    assert rebound.status_code == 400 and "KB_ALLOWED_HOSTS" in rebound.json()["detail"]


def test_the_logs_say_sign_in_is_on_and_why(deployment):
    stack: LocalDeployment = deployment["stack"]
    for name in ("panel", "api"):
        assert "inicio de sesión activado (KB_BEHIND_PROXY=1" in stack.logs[name].read_text(), name


def typed_in_the_panel(browser, url: str) -> None:
    """An agent searches for every value and leaves one 👎 with a comment holding them all."""
    context = new_agent(browser)
    page = context.new_page()
    page.set_default_timeout(CEILING_MS)
    page.goto(f"{url}/")
    sign_in(page, "luis")
    for kind, value in pii.VALUES.items():
        search(page, pii.sentence(kind, value))
    page.get_by_role("button", name="👎 No útil").first.click()
    page.get_by_label("¿Algún comentario? (opcional)").first.fill(" / ".join(pii.VALUES.values()))
    page.get_by_role("button", name="Enviar").first.click()
    page.get_by_text("Gracias, comentario guardado.").wait_for()
    context.close()


@pytest.mark.browser
def test_personal_data_typed_everywhere_reaches_no_log(deployment):
    from playwright.sync_api import sync_playwright

    stack: LocalDeployment = deployment["stack"]
    answers = pii.through_the_api(stack.url, stack.http_url, deployment["token"], stack.tls())
    n = len(pii.VALUES)
    assert answers == {
        "GET /api/search 200": n,
        "GET /api/search 401": n,
        "GET /api/search 301": n,
        "POST /api/search 200": n,
        "POST /api/search 401": n,
        "POST /api/suggest 200": n,
        "POST /api/feedback 201": n,
    }
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        typed_in_the_panel(browser, stack.url)
        wide = browser.new_context(viewport={"width": 1280, "height": 900}, ignore_https_errors=True)  # header box
        site_requests = pii.typed_in_the_site_box(wide, f"{stack.url}/manual/guias/reembolsos/", CEILING_MS)
        browser.close()
    assert site_requests and all(r.startswith("GET ") and r.endswith("/api/health") for r in site_requests)
    api_rows = "SELECT query FROM searches WHERE session = 'api'"
    wait_until(lambda: len(select(deployment["db"], api_rows)) >= 2 * n, "las búsquedas de la API en PostgreSQL")
    logs = {**stack.logs, "postgresql": deployment["pg_log"]}  # unbuffered: all written already
    found = pii.hits(logs)
    print(f"\nDatos personales: {n} valores por vía (API GET/POST/suggest/feedback, panel, buscador del sitio)")
    for name, path in logs.items():
        size = path.stat().st_size if path.is_file() else 0
        print(f"  {name:15s} {size:>9,d} bytes  valores encontrados: {len(found[name])}/{n} {found[name] or ''}")
    assert found == {name: [] for name in logs}
    access = logs["access"].read_text()  # the requests were logged: as paths
    for line in ('"GET /api/search HTTP/1.1" 401', '"POST /api/search HTTP/1.1" 200', '"GET /api/search HTTP/1.1" 301'):
        assert line in access, line
    assert not logs["default-access"].exists() or logs["default-access"].stat().st_size == 0
    from kb.feedback.redact import redact

    redacted = [value for value in pii.VALUES.values() if redact(value) != value]  # names and addresses are not
    stored = [q for (q,) in select(deployment["db"], api_rows)]  # logged for the report, as redacted as the panel's
    assert not [q for q in stored for value in redacted if pii.found_in(q, value)]
