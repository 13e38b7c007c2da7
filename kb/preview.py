"""`kb preview` (`make preview`): live site for the trainer, and an index that follows their edits.

mkdocs serve reloads the page on every save; meanwhile this loop watches docs/ and
rebuilds the index incrementally (only edited sections are embedded again), so the
panel — which reloads the index by itself when a build lands — answers with the new
content within seconds. A broken guide prints file:line and keeps the previous index.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import click

from kb.config import Settings
from kb.content import ContentError


def watch(settings: Settings, embedder, *, interval: float = 1.0, once: bool = False) -> None:
    """Rebuild the index whenever the docs fingerprint changes (polling: no extra dependency)."""
    from kb.index import BuildBusy, build_index, docs_fingerprint

    last = None
    while True:
        current = docs_fingerprint(settings.docs_dir)
        if current != last:
            last = current
            try:
                report = build_index(settings.docs_dir, settings.index_dir, embedder, root=settings.root)
            except ContentError as exc:
                for problem in exc.problems:
                    click.echo(str(problem), err=True)
                click.secho("Las guías tienen errores: el índice anterior sigue en uso.", fg="red", err=True)
            except BuildBusy as exc:
                click.secho(str(exc), fg="yellow", err=True)
                last = None  # try again on the next tick
            else:
                if not report.unchanged:
                    click.secho(f"Índice actualizado: {report.cards} tarjetas ({report.embedded} vectorizadas) "
                                f"en {report.seconds:.1f} s", fg="green")
        if once:
            return
        time.sleep(interval)


@click.command()
@click.pass_context
def preview_command(ctx: click.Context) -> None:
    """Sitio en vivo (mkdocs serve) e índice que se reconstruye solo al guardar una guía."""
    from kb.embedding import ModelError, load_embedder

    settings: Settings = ctx.obj["settings"]
    address = f"{settings.host}:{settings.site_port}"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    server = subprocess.Popen(
        [sys.executable, "-m", "mkdocs", "serve", "-a", address, "-f", str(settings.mkdocs_yml)],
        cwd=settings.root, env=env,
    )
    click.echo(f"Vista previa de las guías: http://{address}  (el panel, con 'make run' en otra terminal)")
    try:
        embedder = load_embedder(settings.model)
        watch(settings, embedder)
    except ModelError as exc:
        click.secho(str(exc), fg="red", err=True)
    except KeyboardInterrupt:
        pass
    finally:
        server.terminate()
        server.wait(timeout=10)
