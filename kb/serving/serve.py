"""`kb serve`: the agents' panel (Streamlit), the guides site and the HTTP API, in one warm process.

One panel is one Python process that loads the model and the index *before* it
listens: Streamlit runs in-process (`streamlit.web.bootstrap.run`) after `warm()` has
filled the very `st.cache_resource` entries the panel's script reads, so the first
agent's search does not pay the ~5–8 s model load, and `/_stcore/health` only answers
once the panel can really search (a load balancer or systemd waits for it).

`--replicas N` runs N such processes on consecutive ports under a small supervisor
(kb.serving.replicas) that restarts one that dies; nginx balances them (deploy/nginx/kb.conf).
The built site is served by a small static HTTP server on its own port because
Streamlit's static folder serves HTML as text/plain; in deployment nginx serves it.
Everything binds 127.0.0.1 unless KB_HOST says otherwise.
"""

from __future__ import annotations

import functools
import gc
import http.server
import logging
import os
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.config import Settings
from kb.errors import KbError, os_reason

if TYPE_CHECKING:
    from kb.api.server import ApiHandle

PANEL_SCRIPT = Path(__file__).resolve().parent.parent / "panel" / "main.py"
"""Shipped inside the package, so `kb serve` works from a normal (non-editable) install."""
WARM_QUERY = "el cliente está enfadado"
READY_TIMEOUT_S = 120.0


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


def start_site_server(settings: Settings) -> http.server.ThreadingHTTPServer:
    """Serve settings.site_dir on settings.host:settings.site_port in a daemon thread."""
    handler = functools.partial(_QuietHandler, directory=str(settings.site_dir))
    try:
        server = http.server.ThreadingHTTPServer((settings.host, settings.site_port), handler)
    except OSError as exc:
        raise KbError(
            f"No se puede abrir el puerto {settings.site_port} para el sitio ({os_reason(exc)}). "
            "Cierra el otro proceso o cambia KB_SITE_PORT."
        ) from None
    threading.Thread(target=server.serve_forever, name="kb-site", daemon=True).start()
    return server


def streamlit_options(settings: Settings, port: int | None = None) -> dict[str, Any]:
    """Streamlit's options for the panel, in one place for the in-process run and `streamlit run`."""
    return {
        "server.address": settings.host,
        "server.port": port or settings.panel_port,
        "server.headless": True,
        "browser.gatherUsageStats": False,
        "server.fileWatcherType": "none",
        "client.toolbarMode": "viewer",
        "runner.postScriptGC": False,  # a full GC after every rerun cost ~250 ms a search
    }


def streamlit_command(settings: Settings, port: int | None = None) -> list[str]:
    """`streamlit run` for the panel in a child process (the tests' cold panel; `kb serve` runs it in-process)."""
    flags = [
        arg
        for name, value in streamlit_options(settings, port).items()
        for arg in (f"--{name}", str(value).lower() if isinstance(value, bool) else str(value))
    ]
    return [sys.executable, "-m", "streamlit", "run", str(PANEL_SCRIPT), *flags]


def check_port_free(host: str, port: int, setting: str) -> None:
    """Fail in milliseconds, not after loading the model, when the port is taken."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise KbError(
                f"No se puede abrir el puerto {port} en {host} ({os_reason(exc)}). "
                f"Cierra el otro proceso o cambia {setting}."
            ) from None


def local_url(settings: Settings, port: int) -> str:
    """Where this machine reaches a server bound to settings.host (a wildcard is reached on loopback)."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{port}"


@contextmanager
def _no_missing_context_warning() -> Iterator[None]:
    """Calling the panel's cached functions outside a session logs a harmless warning per call."""
    log = logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def warm() -> Exception | None:
    """Load model, index and feedback store into the panel's own `st.cache_resource` entries.

    The panel's script calls `resources.searcher_or_problem()` on every run: calling it here,
    in the process Streamlit will run in (same environment, so the same settings and cache
    keys), makes the first session find everything cached. A missing index or a database
    that does not answer is not fatal: the panel starts and says so. Returns that problem."""
    import kb.panel.app  # noqa: F401 - the script's imports, paid here instead of by the first agent
    from kb.panel import resources

    with _no_missing_context_warning():
        searcher, problem = resources.searcher_or_problem()
    if searcher is not None:
        searcher.search(WARM_QUERY)  # the first inference allocates the engines' buffers
    with _no_missing_context_warning():
        store = resources.feedback_store()
    if not store.available():  # creates or upgrades the schema now, not on the first agent's search
        problem = problem or KbError(
            f"La base de valoraciones no responde ({store.where()}); el panel busca igual y lo dirá al guardar."
        )
    gc.collect()
    gc.freeze()  # index and searcher join the model outside the collector's reach (see resources._model)
    return problem


def notify_systemd(state: str) -> None:
    """sd_notify without a dependency: lets a `Type=notify` unit count as started only when ready."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(state.encode(), address)


def _announce_when_ready(url: str, say: Callable[[str], None], started: float) -> None:
    """Say «Panel listo» (and tell systemd) once the health check answers, not merely once loaded."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    say(f"Panel listo en {url} (arranque en {time.monotonic() - started:.1f} s)")
                    notify_systemd("READY=1")
                    return
        except OSError:
            time.sleep(0.1)
    say(f"El panel de {url} no responde tras {READY_TIMEOUT_S:.0f} s.")


def _run_streamlit(settings: Settings) -> None:
    """Streamlit's own `streamlit run` path, minus the CLI: blocks until SIGINT/SIGTERM stops it."""
    from streamlit import config as st_config
    from streamlit.web import bootstrap

    options = {**streamlit_options(settings), "logger.hideWelcomeMessage": True}  # we say «Panel listo»
    st_config._main_script_path = str(PANEL_SCRIPT)  # as streamlit.web.cli does, for config/secrets lookup
    bootstrap.load_config_options(options)
    bootstrap.run(str(PANEL_SCRIPT), False, [], options)


# ---------------------------------------------------------------- the HTTP API, in the panel's process


def start_api(settings: Settings, say: Callable[[str], None], *, site: bool) -> list[ApiHandle]:
    """The HTTP API on KB_API_PORT in threads of this process, sharing the warm model (one load per
    machine). With `site`, the same app also serves the built site on KB_SITE_PORT, so the site's
    search box reaches /api/search on its own origin (the engine's search instead of keywords).

    The API's searcher loads in the background: `warm()` already holds the model, so that is
    only the index (milliseconds) and one warm-up search. Meanwhile /api/ answers 503 «arrancando»
    with Retry-After, which the site's search box treats as «ask again later» while its built-in
    search answers (tests/test_site_search.py). A missing or damaged index becomes the API's 503
    with the reason, not a stop. Returns the running servers (a test stops them; `kb serve` does not)."""
    from kb.accounts.users_file import Accounts
    from kb.api import create_app
    from kb.api.server import SearcherSlot, start_api_thread
    from kb.feedback.store import FeedbackStore

    ports = [(settings.api_port, "KB_API_PORT")] + ([(settings.site_port, "KB_SITE_PORT")] if site else [])
    for port, name in ports:
        check_port_free(settings.host, port, name)
    slot = SearcherSlot(settings)
    slot.load_in_background()
    app = create_app(
        settings,
        slot,
        store=FeedbackStore(settings.database, retention_days=settings.retention_days, timeout_s=settings.db_timeout),
        accounts=Accounts(settings.users_file),
        site_dir=settings.site_dir if site else None,
    )
    handles = [start_api_thread(app, settings.host, port) for port, _ in ports]
    say(f"API HTTP en {local_url(settings, settings.api_port)}/api/")
    if site:
        say(f"Guías (sitio): {local_url(settings, settings.site_port)}")
    return handles


def require_trainer_when_exposed(settings: Settings) -> None:
    """Exposed beyond this machine, the trainers' page must have someone who can open it: refuse to
    start (with the command to run) rather than serve a panel nobody can administer."""
    from kb.accounts.identity import TRAINER
    from kb.accounts.users_file import Accounts
    from kb.errors import AccountsUnavailable

    if not settings.exposed:
        return
    try:
        has_trainer = Accounts(settings.users_file).has_role(TRAINER)
    except AccountsUnavailable:
        has_trainer = False
    if not has_trainer:
        raise KbError(
            f"kb escucha en {settings.host} (fuera de este equipo) y todavía no hay ninguna cuenta de "
            f"formador en {settings.users_file}. Créala antes con: kb users add NOMBRE --role formador"
        )


# =====================================================================================


def run_panel(settings: Settings, say: Callable[[str], None] = print, *, site: bool = True, api: bool = True) -> int:
    """One warm panel process (plus the site server and the API when asked); returns at SIGINT/SIGTERM."""
    started = time.monotonic()
    check_port_free(settings.host, settings.panel_port, "KB_PANEL_PORT")
    site_server = start_site_server(settings) if site and not api else None
    if site_server:
        say(f"Guías (sitio): {local_url(settings, settings.site_port)}")
    say(f"Cargando el modelo y el índice del panel ({settings.panel_port})…")
    try:
        problem = warm()
    except KeyboardInterrupt:  # Ctrl+C while loading: Streamlit's own handler is not installed yet
        if site_server:
            site_server.shutdown()
        return 0
    if problem is not None:
        say(f"Aviso: {problem}")
    if api:
        start_api(settings, say, site=site)
    url = local_url(settings, settings.panel_port)
    threading.Thread(target=_announce_when_ready, args=(url, say, started), name="kb-ready", daemon=True).start()
    try:
        _run_streamlit(settings)
    finally:
        if site_server:
            site_server.shutdown()
    return 0


def require_site(settings: Settings) -> None:
    if not (settings.site_dir / "index.html").is_file():
        raise KbError("No hay sitio construido; ejecuta 'kb build' primero (o 'make run').")


def serve(settings: Settings, say: Callable[[str], None] = print, *, panel_only: bool = False) -> int:
    """Run one warm panel (with the site and the API unless panel_only) until Ctrl+C/SIGTERM.

    Raises KbError when it cannot start. `--replicas` is kb.serving.replicas.supervise; the API alone is `kb api`."""
    require_trainer_when_exposed(settings)
    say(settings.access_line())
    if not panel_only:
        require_site(settings)
        say("Ctrl+C para parar.")
    return run_panel(settings, say, site=not panel_only, api=not panel_only)
