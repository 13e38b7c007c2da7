"""Commands that read: search, export, eval, report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from kb.cli.common import settings_of
from kb.config import COUNTRIES, Settings
from kb.content import FASES, Card
from kb.errors import QueryError, UsageError
from kb.search.searcher import SearchResponse, card_json

FOLDER = click.Path(path_type=Path)
"""A folder of evaluation files (checked when read, with a Spanish message naming it)."""


def _print_lead(card: Card, settings: Settings) -> None:
    """What to do now, its limit and the configured country's legal lines: first and whole, never cut."""
    if card.action:
        click.secho(f"   ▶ Haz: {card.action}", bold=True)
    if card.limit:
        click.secho(f"   ⚠ Límite: {card.limit}", fg="yellow")
    legal = card.legal_for(settings.country)
    if legal:
        click.secho(f"   ⚖ Ley en {COUNTRIES[settings.country]}: {' '.join(legal.splitlines())}", fg="cyan")


def _print_human(response: SearchResponse, settings: Settings) -> None:
    for notice in response.notices:
        click.secho(notice, fg="yellow")
    if response.low_confidence:
        click.secho("No encuentro nada fiable para eso en la base de conocimiento.", fg="yellow", bold=True)
        if response.outside_note:
            click.echo(response.outside_note)
        if response.results:
            click.echo("Lo más parecido, con poca confianza:")
    for result in response.results:
        card = result.card
        click.echo()
        click.secho(f"{result.rank}. {card.heading}", bold=True)
        click.echo(f"   {card.title} · fase: {FASES.get(card.fase, card.fase)} · puntuación {result.score:.2f}")
        _print_lead(card, settings)
        text = card.text if len(card.text) <= 400 else card.text[:400].rsplit(" ", 1)[0] + "…"
        for line in text.splitlines():
            click.echo(f"   {line}")
        for phrase in card.say:
            click.secho(f"   ✔ Decir: {phrase}", fg="green")
        for phrase in card.avoid:
            click.secho(f"   ✘ Evitar: {phrase}", fg="red")
        click.echo(f"   Ver guía: {settings.url_for(card.path)}")


@click.command()
@click.argument("query", required=False, metavar="[CONSULTA]")
@click.option("-k", "k", default=3, show_default=True, type=click.IntRange(1, 50), help="Número de resultados.")
@click.option("--fase", type=click.Choice(list(FASES)), help="Solo tarjetas de esta fase.")
@click.option("--tag", "tags", multiple=True, help="Solo tarjetas con esta etiqueta (repetible).")
@click.option("--json", "as_json", is_flag=True, help="Salida JSON (un objeto).")
@click.option("--batch", is_flag=True, help="Una consulta por línea en stdin; una línea JSON por consulta en stdout.")
@click.pass_context
def search(
    ctx: click.Context, query: str | None, k: int, fase: str | None, tags: tuple[str, ...], as_json: bool, batch: bool
) -> None:
    """Busca qué hacer y qué decir para una situación.

    Con --json: {"query", "low_confidence", "results": [{"id", "title", "heading", "action",
    "text", "url", "score", "fase", "tags", "say", "avoid"}]} ("limit" y "legal", del país de
    KB_COUNTRY, si la tarjeta los tiene) y, si la consulta se parece más a una pregunta que las
    guías no responden, "outside" con esa pregunta.
    """
    from kb.search.searcher import Searcher, clean_query

    settings = settings_of(ctx)
    if batch and query:
        raise UsageError("Con --batch las consultas se leen de la entrada estándar, no como argumento.")
    if not batch and query is None:
        raise UsageError('Falta la consulta. Ejemplo: kb search "el cliente me grita y no me deja hablar"')
    if not batch:
        clean_query(query)  # fail fast on a bad query before loading the model (~5 s)
    searcher = Searcher.load(settings)
    if batch:
        stdin = getattr(sys.stdin, "buffer", None) or sys.stdin  # bytes: bad UTF-8 must not stop a batch
        for raw in stdin:
            line = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
            line = line.rstrip("\r\n")
            try:
                out = searcher.search(line, k, fase=fase, tags=list(tags)).to_dict(settings)
            except QueryError as exc:
                out = {"query": line.strip(), "low_confidence": True, "results": [], "error": exc.message}
            click.echo(json.dumps(out, ensure_ascii=False))
            sys.stdout.flush()
        return
    response = searcher.search(str(query), k, fase=fase, tags=list(tags))
    if as_json:
        click.echo(json.dumps(response.to_dict(settings), ensure_ascii=False, indent=2))
    else:
        _print_human(response, settings)


@click.command()
@click.pass_context
def export(ctx: click.Context) -> None:
    """Todas las tarjetas como líneas JSON (mismos campos que la búsqueda, sin 'score')."""
    from dataclasses import replace

    from kb.content import load_cards
    from kb.trainers.learning import learned_for

    settings = settings_of(ctx)
    learned = learned_for(settings, lambda message: click.echo(message, err=True))
    for card in load_cards(settings.docs_dir, settings.root):
        card = replace(card, learned=learned.get(card.id, []))  # what the centre's searches teach it
        click.echo(json.dumps(card_json(card, settings), ensure_ascii=False))


@click.command(name="eval")
@click.option("--data", "data_dir", type=FOLDER, help="Carpeta de evaluación (por defecto tests/data/eval).")
@click.option("--real", "real_dir", type=FOLDER, help="Carpeta del registro real (por defecto tests/data/real).")
@click.option("--model", "models", multiple=True, help="Modelo(s) a evaluar (por defecto el configurado).")
@click.option("--json", "as_json", is_flag=True, help="Resultados en JSON.")
@click.option("--misses", is_flag=True, help="Lista las consultas que fallan.")
@click.pass_context
def eval_(
    ctx: click.Context,
    data_dir: Path | None,
    real_dir: Path | None,
    models: tuple[str, ...],
    as_json: bool,
    misses: bool,
) -> None:
    """Mide la calidad: hit@1, hit@3, MRR y fuera de alcance, frente a BM25."""
    from kb.trainers.evaluate import format_report, load_eval_set, run_sets

    settings = settings_of(ctx)
    sets = {"eval": load_eval_set(data_dir or settings.root / "tests" / "data" / "eval")}
    real_dir = real_dir or settings.root / "tests" / "data" / "real"
    if real_dir.is_dir():
        sets["real"] = load_eval_set(real_dir)
    reports = run_sets(settings, sets, list(models) or [settings.model])
    if as_json:
        click.echo(json.dumps({name: [r.to_dict() for r in rs] for name, rs in reports.items()}, ensure_ascii=False))
        return
    click.echo(format_report(reports["eval"], show_misses=misses))
    if "real" in reports:
        click.echo("\n## Registro real: situaciones con palabras de clientes y agentes reales\n")
        click.echo(format_report(reports["real"], show_misses=misses))


@click.command()
@click.option(
    "--db", "db_path", type=click.Path(path_type=Path), default=None, help="Base de datos (por defecto KB_FEEDBACK_DB)."
)
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), default=None, help="Además, guarda un CSV.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 1000), help="Filas por tabla.")
@click.pass_context
def report(ctx: click.Context, db_path: Path | None, csv_path: Path | None, limit: int) -> None:
    """Informe para formadores: consultas frecuentes, huecos de contenido y tarjetas con más 👎."""
    from datetime import date

    from kb.content import cards_of, read_guides, renamed_ids
    from kb.content.rules import overdue_guides
    from kb.feedback.report import compute_report

    settings = settings_of(ctx)
    guides = read_guides(settings.docs_dir, settings.root)
    renamed = renamed_ids([card for g in guides if g.ok for card in cards_of(g)])
    result = compute_report(db_path or settings.database, limit, renamed=renamed)
    result.overdue = [
        (g.rel, str(g.meta.get("responsable", "")), due.isoformat()) for g, due in overdue_guides(guides, date.today())
    ]
    click.echo(result.to_markdown())
    if csv_path:
        csv_path.write_text(result.to_csv(), encoding="utf-8")
        click.echo(f"CSV guardado en {csv_path}")


COMMANDS = (search, export, eval_, report)
