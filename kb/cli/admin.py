"""Commands for whoever runs kb: local accounts (`kb users`) and retention (`kb purge`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import click

from kb.accounts.identity import ROLES
from kb.accounts.users_file import Accounts
from kb.cli.common import settings_of
from kb.errors import UsageError


@click.group()
def users() -> None:
    """Cuentas locales (agente o formador) en KB_USERS_FILE, con contraseñas cifradas con argon2."""


def _accounts(ctx: click.Context) -> Accounts:
    return Accounts(settings_of(ctx).users_file)


@users.command("add")
@click.argument("name", metavar="NOMBRE")
@click.option("--role", type=click.Choice(ROLES), required=True, help="Papel de la cuenta.")
@click.pass_context
def users_add(ctx: click.Context, name: str, role: str) -> None:
    """Crea una cuenta; la contraseña se pide dos veces (nunca va en la línea de órdenes)."""
    password = click.prompt("Contraseña", hide_input=True, confirmation_prompt="Repite la contraseña")
    user = _accounts(ctx).add(name, password, role)
    settings = settings_of(ctx)
    click.echo(f"Cuenta «{user.name}» creada con el papel {user.role} en {settings.users_file}.")


@users.command("list")
@click.pass_context
def users_list(ctx: click.Context) -> None:
    """Lista las cuentas (nombre, papel y fecha de alta)."""
    accounts = _accounts(ctx).list()
    if not accounts:
        click.echo("No hay cuentas todavía. Crea la primera con: kb users add NOMBRE --role formador")
    for user in accounts:
        click.echo(f"{user.name}\t{user.role}\t{user.created:%Y-%m-%d}")


@users.command("remove")
@click.argument("name", metavar="NOMBRE")
@click.pass_context
def users_remove(ctx: click.Context, name: str) -> None:
    """Borra una cuenta y sus tokens de la API."""
    _accounts(ctx).remove(name)
    click.echo(f"Cuenta «{name}» borrada.")


@users.command("token")
@click.argument("name", metavar="NOMBRE")
@click.pass_context
def users_token(ctx: click.Context, name: str) -> None:
    """Crea un token para la API (se muestra una sola vez; se guarda cifrado)."""
    token = _accounts(ctx).create_token(name)
    click.echo(token)
    click.echo("Guárdalo ahora: no se puede volver a mostrar. Úsalo como «Authorization: Bearer …».", err=True)
    days = settings_of(ctx).token_days
    if days:
        until = datetime.now(UTC) + timedelta(days=days)
        click.echo(
            f"Caduca el {until:%Y-%m-%d} ({days} días, KB_TOKEN_DAYS); antes, si lo revocas con «kb users revoke».",
            err=True,
        )


@users.command("revoke")
@click.argument("name", metavar="NOMBRE")
@click.pass_context
def users_revoke(ctx: click.Context, name: str) -> None:
    """Revoca todos los tokens de la API de una cuenta (la cuenta sigue; su contraseña también)."""
    count = _accounts(ctx).revoke_tokens(name)
    if count == 0:
        click.echo(f"«{name}» no tenía tokens de la API.")
        return
    what = "1 token revocado" if count == 1 else f"{count} tokens revocados"
    click.echo(f"{what.capitalize()} de «{name}»: la API los rechaza desde ya.")


def _before(value: str | None, retention_days: int) -> datetime:
    if value is None and retention_days == 0:
        raise UsageError(
            "KB_RETENTION_DAYS=0 significa «sin límite»: no se borra nada por antigüedad. "
            "Para borrar, indica la fecha: kb purge --before AAAA-MM-DD."
        )
    if value is None:
        return datetime.now(UTC) - timedelta(days=retention_days)
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--before espera una fecha AAAA-MM-DD, no «{value}».") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@click.command()
@click.option(
    "--before",
    default=None,
    help="Borra lo anterior a esta fecha (AAAA-MM-DD). Por defecto, lo que supera KB_RETENTION_DAYS.",
)
@click.pass_context
def purge(ctx: click.Context, before: str | None) -> None:
    """Borra búsquedas y valoraciones antiguas (retención de datos)."""
    from kb.feedback.store import FeedbackStore

    settings = settings_of(ctx)
    cutoff = _before(before, settings.retention_days)
    store = FeedbackStore(settings.database, timeout_s=settings.db_timeout)
    deleted = store.purge(cutoff)
    store.record_audit("kb purge", "purga", f"{deleted} filas anteriores a {cutoff:%Y-%m-%d}")
    click.echo(f"Borradas {deleted} filas anteriores al {cutoff:%Y-%m-%d}.")


@click.command()
@click.option("--accept", "to_accept", multiple=True, metavar="CLAVE", help="Acepta esta sugerencia (repetible).")
@click.option("--reject", "to_reject", multiple=True, metavar="CLAVE", help="Rechaza esta sugerencia (repetible).")
@click.option("--quien", default=None, help="Quién decide (por defecto, el usuario del sistema).")
@click.pass_context
def learn(ctx: click.Context, to_accept: tuple[str, ...], to_reject: tuple[str, ...], quien: str | None) -> None:
    """Búsquedas con 👍 que pueden enseñar una situación a su tarjeta: listar, aceptar, rechazar."""
    import getpass

    from kb.content import load_cards
    from kb.feedback.store import FeedbackStore
    from kb.trainers.learning import accepted, candidates, decide

    settings = settings_of(ctx)
    store = FeedbackStore(settings.database)
    found = {s.key: s for s in candidates(store, load_cards(settings.docs_dir, settings.root))}
    unknown = [key for key in (*to_accept, *to_reject) if key not in found]
    if unknown:
        raise UsageError(f"No hay ninguna sugerencia pendiente con la clave {', '.join(unknown)}: mira 'kb learn'.")
    who = quien or getpass.getuser()
    for keys, accept, verdict in ((to_accept, True, "aceptada"), (to_reject, False, "rechazada")):
        for key in keys:
            s = found.pop(key)
            decide(store, s.card_id, s.query, accept=accept, who=who, evidence=s.evidence)
            click.echo(f"{verdict.capitalize()}: «{s.query}» → {s.card_id}")
    if to_accept or to_reject:
        click.echo("Entran en el índice con la próxima construcción: kb build --index-only.")
        return
    learned = accepted(store)
    click.echo(f"{sum(map(len, learned.values()))} situaciones aceptadas en {len(learned)} tarjetas.")
    if not found:
        click.echo("Ninguna búsqueda nueva que revisar.")
    for s in found.values():
        click.echo(f"{s.key}  {s.card_id}\n          «{s.query}» · {s.evidence}")


COMMANDS = (users, purge, learn)
