"""`kb serve`: the agents' panel (Streamlit) and the guides site, both offline.

The built site is served by a small static HTTP server on its own port because
Streamlit's static folder serves HTML as text/plain. Both bind 127.0.0.1 unless
KB_HOST says otherwise (see README, "Exponer el panel en la red").
"""

from __future__ import annotations

import functools
import http.server
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kb.config import Settings
from kb.errors import KbError

PANEL_SCRIPT = Path(__file__).resolve().parent / "panel" / "main.py"
"""Shipped inside the package, so `kb serve` works from a normal (non-editable) install."""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


def start_site_server(settings: Settings) -> http.server.ThreadingHTTPServer:
    """Serve settings.site_dir on settings.host:settings.site_port in a daemon thread."""
    handler = functools.partial(_QuietHandler, directory=str(settings.site_dir))
    server = http.server.ThreadingHTTPServer((settings.host, settings.site_port), handler)
    threading.Thread(target=server.serve_forever, name="kb-site", daemon=True).start()
    return server


def streamlit_command(settings: Settings, port: int | None = None) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(PANEL_SCRIPT),
        "--server.address", settings.host,
        "--server.port", str(port or settings.panel_port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--client.toolbarMode", "viewer",
        "--runner.postScriptGC", "false",  # a full GC after every rerun cost ~250 ms a search
    ]


def serve(settings: Settings, say: Callable[[str], None] = print) -> int:
    """Run panel and site until Ctrl+C; returns the panel's exit code. Raises KbError when it cannot start."""
    if not (settings.site_dir / "index.html").is_file():
        raise KbError("No hay sitio construido; ejecuta 'kb build' primero (o 'make run').")
    try:
        server = start_site_server(settings)
    except OSError as exc:
        raise KbError(f"No se puede abrir el puerto {settings.site_port} para el sitio ({exc.strerror}). "
                      "Cierra el otro proceso o cambia KB_SITE_PORT.") from None
    say(f"Panel de agentes: http://{settings.host}:{settings.panel_port}")
    say(f"Guías (sitio):    http://{settings.host}:{settings.site_port}")
    say("Ctrl+C para parar.")
    try:
        return subprocess.call(streamlit_command(settings), cwd=settings.root)
    except KeyboardInterrupt:
        return 0
    finally:
        server.shutdown()
