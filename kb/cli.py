"""The `kb` command line. Every command is a thin wrapper over a Python function.

Output contract (other tools rely on it): see `kb search --help`. User mistakes
(empty query, broken guide, missing index) print a Spanish message and exit with
a non-zero code, never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from kb.config import ConfigError, Settings, load_settings
from kb.content import FASES, ContentError

EXIT_USAGE = 2
EXIT_INDEX = 3


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]


def _fail(message: str, code: int = 1) -> None:
    click.secho(message, fg="red", err=True)
    sys.exit(code)


def _content_failure(exc: ContentError) -> None:
    for problem in exc.problems:
        click.echo(str(problem), err=True)
    _fail(
        f"No se ha construido el índice: {len(exc.problems)} problema(s) en las guías. "
        "El índice anterior sigue en uso. Corrige los errores de arriba y vuelve a ejecutar 'kb build'."
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kb", message="kb %(version)s")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Base de conocimiento de atención al cliente: construir, buscar, comprobar."""
    try:
        ctx.obj = {"settings": load_settings()}
    except ConfigError as exc:
        _fail(f"Configuración no válida: {exc}", EXIT_USAGE)


# ---------------------------------------------------------------- build


def run_index_build(settings: Settings, *, quiet: bool = False) -> None:
    """Build the index with a progress bar in a terminal; exits with a message on failure."""
    from kb.embedding import ModelError, load_embedder
    from kb.index import BuildBusy, build_index

    bar = None

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

    try:
        embedder = load_embedder(settings.model)
        report = build_index(
            settings.docs_dir, settings.index_dir, embedder, root=settings.root, progress=progress, on_wait=waiting
        )
    except ContentError as exc:
        _content_failure(exc)
    except ModelError as exc:
        _fail(str(exc))
    except BuildBusy as exc:
        _fail(str(exc))
    finally:
        if bar is not None:
            bar.close()
    if not quiet:
        if report.unchanged:
            click.echo(f"Índice al día: {report.cards} tarjetas, nada que cambiar ({report.seconds:.2f} s).")
        else:
            click.echo(
                f"Índice construido: {report.cards} tarjetas ({report.embedded} vectorizadas, "
                f"{report.reused} reutilizadas) en {report.seconds:.2f} s. "
                f"Umbral de confianza: {report.threshold:.3f}."
            )


def run_site_build(settings: Settings, *, quiet: bool = False) -> None:
    from kb.site import SiteBuildError, build_site

    try:
        seconds = build_site(settings)
    except SiteBuildError as exc:
        _fail(str(exc))
    if not quiet:
        click.echo(f"Sitio construido en {settings.site_dir} ({seconds:.1f} s).")


@main.command()
@click.option("--index-only", is_flag=True, help="Solo el índice de búsqueda.")
@click.option("--site-only", is_flag=True, help="Solo el sitio estático (mkdocs --strict).")
@click.option("-q", "--quiet", is_flag=True, help="Sin mensajes salvo errores.")
@click.pass_context
def build(ctx: click.Context, index_only: bool, site_only: bool, quiet: bool) -> None:
    """Construye el índice (incremental) y el sitio."""
    if index_only and site_only:
        _fail("Usa --index-only o --site-only, no los dos.", EXIT_USAGE)
    settings = _settings(ctx)
    if not site_only:
        run_index_build(settings, quiet=quiet)
    if not index_only:
        run_site_build(settings, quiet=quiet)


# ---------------------------------------------------------------- search


def load_searcher(settings: Settings):
    """Searcher or a clean exit with the Spanish reason (missing, stale or damaged index, model)."""
    from kb.embedding import ModelError
    from kb.index import IndexError_
    from kb.search import Searcher

    try:
        return Searcher.load(settings)
    except IndexError_ as exc:
        _fail(exc.message, EXIT_INDEX)
    except ModelError as exc:
        _fail(str(exc), EXIT_INDEX)


def _print_human(response, settings: Settings) -> None:
    for notice in response.notices:
        click.secho(notice, fg="yellow")
    if response.low_confidence:
        click.secho("No encuentro nada fiable para eso en la base de conocimiento.", fg="yellow", bold=True)
        if response.results:
            click.echo("Lo más parecido, con poca confianza:")
    for result in response.results:
        card = result.card
        click.echo()
        click.secho(f"{result.rank}. {card.heading}", bold=True)
        click.echo(f"   {card.title} · fase: {FASES.get(card.fase, card.fase)} · puntuación {result.score:.2f}")
        text = card.text if len(card.text) <= 400 else card.text[:400].rsplit(" ", 1)[0] + "…"
        for line in text.splitlines():
            click.echo(f"   {line}")
        for phrase in card.say:
            click.secho(f"   ✔ Decir: {phrase}", fg="green")
        for phrase in card.avoid:
            click.secho(f"   ✘ Evitar: {phrase}", fg="red")
        click.echo(f"   Ver guía: {settings.site_url}{card.path}")


@main.command()
@click.argument("query", required=False)
@click.option("-k", "k", default=3, show_default=True, type=click.IntRange(1, 50), help="Número de resultados.")
@click.option("--fase", type=click.Choice(list(FASES)), help="Solo tarjetas de esta fase.")
@click.option("--tag", "tags", multiple=True, help="Solo tarjetas con esta etiqueta (repetible).")
@click.option("--json", "as_json", is_flag=True, help="Salida JSON (un objeto).")
@click.option("--batch", is_flag=True, help="Una consulta por línea en stdin; una línea JSON por consulta en stdout.")
@click.pass_context
def search(ctx, query, k, fase, tags, as_json, batch) -> None:
    """Busca qué hacer y qué decir para una situación.

    JSON: {"query", "low_confidence", "results": [{"id", "title", "heading", "text",
    "url", "score", "fase", "tags", "say", "avoid"}]}
    """
    from kb.search import QueryError

    settings = _settings(ctx)
    if batch and query:
        _fail("Con --batch las consultas se leen de la entrada estándar, no como argumento.", EXIT_USAGE)
    if not batch and query is None:
        _fail('Falta la consulta. Ejemplo: kb search "el cliente me grita y no me deja hablar"', EXIT_USAGE)
    if not batch:
        from kb.search import clean_query

        try:
            clean_query(query)  # fail fast on a bad query before loading the model (~5 s)
        except QueryError as exc:
            _fail(str(exc), EXIT_USAGE)
    searcher = load_searcher(settings)
    if batch:
        stdin = getattr(sys.stdin, "buffer", None) or sys.stdin  # bytes: bad UTF-8 must not stop a batch
        for raw in stdin:
            line = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
            line = line.rstrip("\r\n")
            try:
                out = searcher.search(line, k, fase=fase, tags=list(tags)).to_dict(settings.site_url)
            except QueryError as exc:
                out = {"query": line.strip(), "low_confidence": True, "results": [], "error": str(exc)}
            click.echo(json.dumps(out, ensure_ascii=False))
            sys.stdout.flush()
        return
    response = searcher.search(query, k, fase=fase, tags=list(tags))
    if as_json:
        click.echo(json.dumps(response.to_dict(settings.site_url), ensure_ascii=False, indent=2))
    else:
        _print_human(response, settings)


@main.command()
@click.pass_context
def export(ctx) -> None:
    """Todas las tarjetas como líneas JSON (mismos campos que la búsqueda, sin 'score')."""
    from kb.content import load_cards

    settings = _settings(ctx)
    try:
        cards = load_cards(settings.docs_dir, settings.root)
    except ContentError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        _fail("No se pueden exportar las tarjetas: corrige los errores de arriba.")
    for card in cards:
        row = {
            "id": card.id, "title": card.title, "heading": card.heading, "text": card.text,
            "url": settings.site_url + card.path, "fase": card.fase, "tags": card.tags,
            "say": card.say, "avoid": card.avoid,
        }
        click.echo(json.dumps(row, ensure_ascii=False))


@main.command(name="eval")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Carpeta con los .jsonl de evaluación (por defecto tests/data/eval).")
@click.option("--model", "models", multiple=True, help="Modelo(s) a evaluar (por defecto el configurado).")
@click.option("--json", "as_json", is_flag=True, help="Resultados en JSON.")
@click.option("--misses", is_flag=True, help="Lista las consultas que fallan.")
@click.pass_context
def eval_(ctx, data_dir, models, as_json, misses) -> None:
    """Mide la calidad: hit@1, hit@3, MRR y fuera de alcance, frente a BM25."""
    from kb.evaluate import format_report, load_eval_set, run_eval

    settings = _settings(ctx)
    data_dir = data_dir or settings.root / "tests" / "data" / "eval"
    try:
        queries = load_eval_set(data_dir)
    except ValueError as exc:
        _fail(str(exc), EXIT_USAGE)
    try:
        reports = run_eval(settings, queries, list(models) or [settings.model])
    except ContentError as exc:
        _content_failure(exc)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in reports], ensure_ascii=False, indent=2))
    else:
        click.echo(format_report(reports, show_misses=misses))


# ---------------------------------------------------------------- serve


@main.command()
@click.option("--host", default=None, help="Dirección (por defecto KB_HOST o 127.0.0.1).")
@click.pass_context
def serve(ctx, host) -> None:
    """Arranca el panel (Streamlit) y el sitio de guías."""
    from kb.serve import serve as run

    settings = _settings(ctx)
    if host:
        settings = settings.with_(host=host)
    sys.exit(run(settings))


def _register_commands() -> None:
    """Commands that live in their own modules: check (trainers), report (feedback), preview."""
    from kb.check import check_command
    from kb.preview import preview_command
    from kb.report import report_command

    main.add_command(check_command, "check")
    main.add_command(report_command, "report")
    main.add_command(preview_command, "preview")


_register_commands()

if __name__ == "__main__":
    main()
