"""`kb serve --replicas N`: N warm panel processes on consecutive ports, kept alive.

Why processes and not threads: Streamlit runs every session's script in the process
that holds it, so one process is one core's worth of searching (the GIL); N processes
use N cores, and nginx spreads agents over them (deploy/nginx/kb.conf). Each replica
is `kb serve --panel-only --port P` and loads the model once. The supervisor itself
never imports the model (it stays a few MB): it serves the site, restarts a replica
that dies (with back-off, saying so) and stops them all on Ctrl+C or SIGTERM.
In production systemd plays this role instead (deploy/systemd/kb-panel@.service).
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from kb.config import Settings
from kb.errors import KbError
from kb.serving.serve import check_port_free, local_url, require_site, require_trainer_when_exposed, start_site_server

STOP_GRACE_S = 15.0
POLL_S = 0.5
HEALTHY_AFTER_S = 60.0
"""A replica that ran this long before dying is restarted at once; a crash loop backs off up to 30 s."""


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM it if the supervisor dies (even by SIGKILL), so none is orphaned."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class Child:
    """One supervised process: what it is, how to start it and its restart state."""

    name: str
    command: list[str]
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    failures: int = 0
    next_start: float = 0.0
    restarts: int = 0

    def start(self) -> None:
        # Own session: Ctrl+C reaches only the supervisor, which then stops the children in order.
        self.proc = subprocess.Popen(self.command, start_new_session=True, preexec_fn=_die_with_parent)
        self.started = time.monotonic()

    def check(self, say: Callable[[str], None]) -> None:
        """Start it when due; notice a death and schedule the restart."""
        now = time.monotonic()
        if self.proc is None:
            if now >= self.next_start:
                self.start()
            return
        code = self.proc.poll()
        if code is None:
            return
        self.failures = 0 if now - self.started > HEALTHY_AFTER_S else self.failures + 1
        delay = min(30.0, 2.0**self.failures) if self.failures else 0.0
        self.proc, self.next_start, self.restarts = None, now + delay, self.restarts + 1
        say(f"✘ {self.name} ha terminado (código {code}); se reinicia en {delay:.0f} s.")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()

    def wait(self, deadline: float) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def child_command(settings: Settings, *args: str) -> list[str]:
    return [sys.executable, "-m", "kb.cli", "serve", "--host", settings.host, *args]


def plan(settings: Settings, replicas: int, *, api: bool = True) -> list[Child]:
    """The panel replicas on KB_PANEL_PORT, +1, …; and `kb api` on KB_API_PORT when asked."""
    ports = [settings.panel_port + i for i in range(replicas)]
    children = [
        Child(f"Réplica del panel {port}", child_command(settings, "--panel-only", "--port", str(port)))
        for port in ports
    ]
    if api:
        if settings.api_port in ports:
            raise KbError(f"KB_API_PORT ({settings.api_port}) cae entre los puertos de las réplicas; cámbialo.")
        children.append(Child("API", [sys.executable, "-m", "kb.cli", "api"]))
    return children


def supervise(settings: Settings, replicas: int, say: Callable[[str], None] = print, *, site: bool = True) -> int:
    """Run and watch the replicas until SIGINT/SIGTERM; returns 0 after stopping them all."""
    require_trainer_when_exposed(settings)
    say(settings.access_line())
    if site:
        require_site(settings)
    children = plan(settings, replicas, api=site)  # --panel-only: panels only
    for i in range(replicas):
        check_port_free(settings.host, settings.panel_port + i, "KB_PANEL_PORT")
    site_server = start_site_server(settings) if site else None
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    last = settings.panel_port + replicas - 1
    say(
        f"{replicas} réplicas del panel en {local_url(settings, settings.panel_port)} … :{last} "
        "(cada una dice «Panel listo» al terminar de cargar)."
    )
    if site_server:
        say(f"Guías (sitio): {local_url(settings, settings.site_port)}")
    say("Ctrl+C para parar.")
    try:
        while not stop.is_set():
            for child in children:
                child.check(say)
            stop.wait(POLL_S)
    finally:
        say("Parando las réplicas…")
        for child in children:
            child.stop()
        deadline = time.monotonic() + STOP_GRACE_S
        for child in children:
            child.wait(deadline)
        if site_server:
            site_server.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
