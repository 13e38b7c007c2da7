"""Commands that make or check things: build, check, preview, serve."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from kb.cli.common import settings_of
from kb.config import Settings
from kb.errors import UsageError
from kb.retrieval.build import BuildReport


def build_index_now(settings: Settings, *, quiet: bool = False) -> BuildReport:
    """Build the index with a progress bar when stderr is a terminal."""
    from kb.embedding.encoders import load_embedder
    from kb.retrieval.build import build_index

    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if quiet or not sys.stderr.isatty():
            return
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, desc="Vectorizando tarjetas", unit="tarjeta", file=sys.stderr)
        bar.update(done - bar.n)

    def waiting() -> None:
        click.echo("Otra construcción del índice está en curso; esperando a que termine…", err=True)

    from kb.trainers.learning import learned_for

    learned = learned_for(settings, lambda message: click.echo(message, err=True))
    try:
        return build_index(
            settings.docs_dir,
            settings.index_dir,
            load_embedder(settings.model),
            root=settings.root,
            progress=progress,
            on_wait=waiting,
            learned=learned,
        )
    finally:
        if bar is not None:
            bar.close()


def _built(report: BuildReport) -> str:
    if report.unchanged:
        return f"Índice al día: {report.cards} tarjetas, nada que cambiar ({report.seconds:.2f} s)."
    return (
        f"Índice construido: {report.cards} tarjetas ({report.embedded} vectorizadas, "
        f"{report.reused} reutilizadas) en {report.seconds:.2f} s. Umbral de confianza: {report.threshold:.3f}."
    )


@click.command()
@click.option("--index-only", is_flag=True, help="Solo el índice de búsqueda.")
@click.option("--site-only", is_flag=True, help="Solo el sitio estático (mkdocs --strict).")
@click.option("-q", "--quiet", is_flag=True, help="Sin mensajes salvo errores.")
@click.pass_context
def build(ctx: click.Context, index_only: bool, site_only: bool, quiet: bool) -> None:
    """Construye el índice (incremental) y el sitio."""
    from kb.site.build import build_site

    if index_only and site_only:
        raise UsageError("Usa --index-only o --site-only, no los dos.")
    settings = settings_of(ctx)
    if not site_only:
        report = build_index_now(settings, quiet=quiet)
        if not quiet:
            click.echo(_built(report))
    if not index_only:
        seconds = build_site(settings)
        if not quiet:
            from kb.site.practice import summary

            click.echo(f"Sitio construido en {settings.site_dir} ({seconds:.1f} s).")
            click.echo(summary(settings.site_dir))


@click.command()
@click.option("--golden", "run_golden", is_flag=True, help="Comprueba además que cada situación encuentra su guía.")
@click.option(
    "--docs",
    "docs_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Carpeta de guías (por defecto la configurada).",
)
@click.option("--no-model", is_flag=True, help="Sin cargar el modelo: omite la detección de secciones casi iguales.")
@click.pass_context
def check(ctx: click.Context, run_golden: bool, docs_dir: Path | None, no_model: bool) -> None:
    """Revisa las guías: cabeceras, fases, frases, enlaces, longitudes, duplicados y situaciones."""
    from kb.embedding.encoders import load_embedder
    from kb.trainers.check import GoldenMiss, golden, lint

    settings = settings_of(ctx)
    if docs_dir is not None:
        settings = settings.with_(docs_dir=docs_dir.resolve())
    embedder = load_embedder(settings.model) if run_golden or not no_model else None
    problems = lint(settings, embedder=None if no_model else embedder)
    for problem in problems:
        click.echo(str(problem))
    errors = sum(p.severity == "error" for p in problems)
    misses: list[GoldenMiss] = golden(settings, embedder) if run_golden and not errors and embedder else []
    for miss in misses:
        click.echo(str(miss))
    summary = f"{errors} errores, {len(problems) - errors} avisos"
    summary += learned_summary(settings)
    if run_golden:
        summary += f", {len(misses)} situaciones que no encuentran su guía"
    if errors or misses:
        click.secho(f"✘ {summary}.", fg="red")
        sys.exit(1)
    click.secho(f"✔ {summary}.", fg="green")


def learned_summary(settings: Settings) -> str:
    """What the centre's accepted searches add to the guides (kb.trainers.learning), and any that name a card
    no longer in them (a renamed or removed section: re-decide it with `kb learn`)."""
    from kb.content import load_cards, renamed_ids
    from kb.trainers.learning import learned_for

    learned = learned_for(settings, lambda message: click.echo(message, err=True))
    if not learned:
        return ""
    cards = load_cards(settings.docs_dir, settings.root)
    ids = {c.id for c in cards} | set(renamed_ids(cards))  # a merged card keeps what it was taught
    for card_id in sorted(set(learned) - ids):
        click.echo(f"aviso: {len(learned[card_id])} situaciones aprendidas son de «{card_id}», que ya no existe")
    total = sum(len(v) for v in learned.values())
    return f", {total} situaciones aprendidas de las búsquedas en {len(learned)} tarjetas"


@click.command()
@click.pass_context
def preview(ctx: click.Context) -> None:
    """Sitio en vivo (mkdocs serve) e índice que se reconstruye solo al guardar una guía."""
    from kb.embedding.encoders import load_embedder
    from kb.site.build import start_live_site, watch

    settings = settings_of(ctx)
    server = start_live_site(settings)
    click.echo(
        f"Vista previa de las guías: http://{settings.host}:{settings.site_port}  "
        "(el panel, con 'make run' en otra terminal)"
    )

    def report(message: str, build: BuildReport | None) -> None:
        click.secho(message, fg="green" if build else "red", err=build is None)

    try:
        watch(settings, load_embedder(settings.model), report)
    except KeyboardInterrupt:
        pass
    finally:
        server.terminate()
        server.wait(timeout=10)


@click.command()
@click.option("--host", default=None, help="Dirección (por defecto KB_HOST o 127.0.0.1).")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Puerto del panel, o del primero con --replicas (por defecto KB_PANEL_PORT).",
)
@click.option(
    "--replicas",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Procesos de panel en puertos consecutivos; se reinician solos si uno cae.",
)
@click.option(
    "--panel-only",
    is_flag=True,
    help="Solo el panel, sin sitio ni API (despliegue: nginx sirve el sitio; systemd, kb-panel@).",
)
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, replicas: int, panel_only: bool) -> None:
    """Arranca el panel (Streamlit) ya cargado, el sitio de guías y, con --replicas, varios paneles."""
    settings = settings_of(ctx)
    if host:
        settings = settings.with_(host=host)
    if port:
        settings = settings.with_(panel_port=port)
    if replicas > 1:
        from kb.serving.replicas import supervise

        sys.exit(supervise(settings, replicas, say=click.echo, site=not panel_only))
    from kb.serving.serve import serve as run

    sys.exit(run(settings, say=click.echo, panel_only=panel_only))


COMMANDS = (build, check, preview, serve)
