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

import click

from kb.config import Settings


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass


def start_site_server(settings: Settings) -> http.server.ThreadingHTTPServer:
    """Serve settings.site_dir on settings.host:settings.site_port in a daemon thread."""
    handler = functools.partial(_QuietHandler, directory=str(settings.site_dir))
    server = http.server.ThreadingHTTPServer((settings.host, settings.site_port), handler)
    threading.Thread(target=server.serve_forever, name="kb-site", daemon=True).start()
    return server


def streamlit_command(settings: Settings, port: int | None = None) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(settings.root / "app.py"),
        "--server.address", settings.host,
        "--server.port", str(port or settings.panel_port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--client.toolbarMode", "viewer",
        "--runner.postScriptGC", "false",  # a full GC after every rerun cost ~250 ms a search
    ]


def serve(settings: Settings) -> int:
    if not (settings.site_dir / "index.html").is_file():
        click.secho("No hay sitio construido; ejecuta 'kb build' primero (o 'make run').", fg="red", err=True)
        return 1
    try:
        server = start_site_server(settings)
    except OSError as exc:
        click.secho(
            f"No se puede abrir el puerto {settings.site_port} para el sitio ({exc.strerror}). "
            "Cierra el otro proceso o cambia KB_SITE_PORT.", fg="red", err=True,
        )
        return 1
    click.echo(f"Panel de agentes: http://{settings.host}:{settings.panel_port}")
    click.echo(f"Guías (sitio):    http://{settings.host}:{settings.site_port}")
    click.echo("Ctrl+C para parar.")
    try:
        return subprocess.call(streamlit_command(settings))
    except KeyboardInterrupt:
        return 0
    finally:
        server.shutdown()
