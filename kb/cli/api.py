"""Commands around the HTTP API: `kb api` (serve it) and `kb replay` (play a transcript against it)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import click

from kb.cli.common import settings_of
from kb.content import FASES
from kb.errors import KbError, QueryError, os_reason
from kb.search.conversation import parse_transcript


@click.command(name="api")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Puerto (por defecto KB_API_PORT).")
@click.pass_context
def api(ctx: click.Context, port: int | None) -> None:
    """Sirve la API HTTP (y el sitio construido, con la búsqueda del motor) hasta Ctrl+C."""
    from kb.api.server import run_api

    settings = settings_of(ctx)
    run_api(settings.with_(api_port=port) if port else settings, say=click.echo)


@click.command()
@click.argument("file", type=click.Path(path_type=Path), metavar="ARCHIVO")
@click.option("--url", default=None, help="Dirección de la API (por defecto http://KB_HOST:KB_API_PORT).")
@click.option("--token", default=None, envvar="KB_API_TOKEN", help="Token de API si el servidor lo pide.")
@click.option("-k", "k", default=3, show_default=True, type=click.IntRange(1, 50), help="Tarjetas por turno.")
@click.pass_context
def replay(ctx: click.Context, file: Path, url: str | None, token: str | None, k: int) -> None:
    """Reproduce una transcripción (una línea «cliente: …» / «agente: …» por turno) contra la API,
    turno a turno, mostrando la fase y las sugerencias nuevas."""
    import httpx

    settings = settings_of(ctx)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise QueryError(f"No se puede leer la transcripción {file}: {os_reason(exc)}.") from None
    turns = parse_transcript(text)
    from kb.serving.serve import local_url

    # 0.0.0.0 is where the API listens, not a name it answers to (kb.api checks the Host header).
    base = (url or local_url(settings, settings.api_port)).rstrip("/")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    conversation_id = f"replay-{uuid.uuid4().hex[:8]}"
    sent: list[dict[str, str]] = []
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        for number, turn in enumerate(turns, 1):
            sent.append({"speaker": turn.speaker, "text": turn.text})
            click.secho(f"{number}. {turn.speaker}: {turn.text}", bold=turn.speaker == "cliente")
            if not any(t["speaker"] == "cliente" for t in sent):
                continue
            body = {"conversation_id": conversation_id, "turns": sent, "k": k}
            out = _post(client, base, "/api/suggest", body)
            click.secho(
                f"   fase: {FASES.get(out['fase'], out['fase'])}"
                + (" · poca confianza" if out.get("low_confidence") else ""),
                fg="cyan",
            )
            titles = {r["id"]: r["heading"] for r in out["results"]}
            for card_id in out["new"]:
                click.secho(f"   + {titles.get(card_id, card_id)}  ({card_id})", fg="green")


def _post(client: Any, base: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST and return the JSON, or raise a KbError with the API's own Spanish detail."""
    import httpx

    try:
        response = client.post(path, json=body)
    except httpx.HTTPError as exc:
        raise KbError(
            f"No se puede conectar con la API en {base} ({exc.__class__.__name__}). "
            "¿Está en marcha 'kb api'? Revisa --url."
        ) from None
    try:
        data: dict[str, Any] = response.json()
    except json.JSONDecodeError:
        data = {}
    if response.status_code != 200:
        raise KbError(f"La API respondió {response.status_code}: {data.get('detail', response.text[:200])}")
    return data


COMMANDS = (api, replay)
