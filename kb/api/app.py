"""Routes of the HTTP API (see kb.api). Thin: every answer comes from kb.search / kb.conversation.

Endpoints are plain `def`: FastAPI runs them in its thread pool, which is what the CPU-bound
embedding needs; the Searcher is thread-safe.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field

from kb.accounts import Accounts
from kb.config import Settings
from kb.content import FASES
from kb.conversation import SuggestionMemory, Turn, suggest
from kb.errors import AuthError, IndexStale, KbError, QueryError
from kb.feedback import FeedbackStore
from kb.identity import User
from kb.redact import redact
from kb.retrieval.store import check_docs
from kb.search import MAX_K, Searcher
from kb.text import MAX_QUERY_CHARS

from .errors import BodyLimit, Loading, install_handlers, retry_after, status_for

DESCRIPTION = """
Busca en la base de conocimiento de atención al cliente qué hacer y qué decir en una situación.

* Las respuestas de `/api/search` son idénticas a `kb search --json`.
* Todos los errores son JSON `{"detail": "…"}` en español.
* Si el servidor escucha fuera de esta máquina (`KB_HOST`), todas las rutas menos `/api/health`
  piden la cabecera `Authorization: Bearer <token>` (un token de cuenta de `KB_USERS_FILE`).
"""

bearer = HTTPBearer(auto_error=False, description="Token de API (solo si el servidor está expuesto en la red).")


class TurnIn(BaseModel):
    speaker: Literal["cliente", "agente"] = Field(description="Quién habla.")
    text: str = Field(max_length=MAX_QUERY_CHARS, description="Lo que ha dicho (hasta 10.000 caracteres).")


class SuggestIn(BaseModel):
    conversation_id: str = Field(min_length=1, max_length=200, description="Identificador de la conversación.")
    turns: list[TurnIn] = Field(min_length=1, max_length=200, description="Los turnos hasta ahora, en orden.")
    k: int = Field(3, ge=1, le=MAX_K, description="Número de tarjetas.")


class FeedbackIn(BaseModel):
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="La consulta que se valoró.")
    card_id: str = Field(min_length=1, max_length=300, description="Id de la tarjeta valorada.")
    rank: int = Field(ge=1, le=MAX_K, description="Posición en la que salió (1 = primera).")
    vote: Literal[1, -1] = Field(description="1 = útil, -1 = no útil.")
    comment: str | None = Field(None, max_length=1000, description="Comentario opcional.")
    score: float = Field(0.0, ge=-10, le=10, description="Puntuación con la que salió (opcional).")


def site_origin(site_url: str) -> str:
    """The origin (scheme://host:port) of the site, the only one allowed by CORS."""
    parts = urlsplit(site_url)
    return f"{parts.scheme}://{parts.netloc}"


def create_app(
    settings: Settings,
    searcher: Callable[[], Searcher],
    *,
    store: FeedbackStore | None = None,
    accounts: Accounts | None = None,
    site_dir: Path | None = None,
) -> FastAPI:
    """The API app. `searcher()` returns the loaded Searcher or raises a KbError (kb.api.Loading
    while it loads); with `site_dir`, the built site is served at / from the same origin."""
    # fastapi-offline serves Swagger UI's files itself: the docs page works with no internet access.
    app = FastAPIOffline(
        title="API de la base de conocimiento",
        description=DESCRIPTION,
        version="1",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
        static_url="/api/docs-static",
    )
    install_handlers(app)
    app.add_middleware(BodyLimit)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[site_origin(settings.site_url)],
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type"],
    )
    memory = SuggestionMemory()
    state: dict[str, Any] = {"store": store, "accounts": accounts}

    def user(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> User | None:
        """On loopback nobody needs a token; exposed on the network every call does. The caller
        is kept in `request.state.user` (the feedback's session names it)."""
        request.state.user = None
        if not settings.exposed:
            return None
        if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
            raise AuthError("Falta el token de acceso: envía la cabecera «Authorization: Bearer <token>».")
        accounts_ = state["accounts"] = state["accounts"] or Accounts(settings.users_file)
        found = accounts_.user_for_token(credentials.credentials)
        if found is None:
            raise AuthError("Token no válido.")
        request.state.user = found
        return found

    api = APIRouter(prefix="/api", dependencies=[Depends(user)])

    @app.get(
        "/api/health",
        summary="Estado del servicio",
        tags=["estado"],
        responses={503: {"description": "Arrancando o con un problema en el índice"}},
    )
    def health() -> JSONResponse:
        """`ok` con el número de tarjetas, el modelo y el índice en uso, y `stale` (con `detail`) si las
        guías cambiaron desde la última construcción o si hay una construcción nueva que no se puede usar
        (la búsqueda sigue respondiendo con el índice cargado); si no, 503 y el motivo."""
        try:
            loaded = searcher()
        except KbError as exc:
            status = "arrancando" if isinstance(exc, Loading) else "error"
            return JSONResponse({"status": status, "detail": exc.message}, status_code=503, headers=retry_after(exc))
        body: dict[str, Any] = {
            "status": "ok",
            "cards": len(loaded.cards),
            "model": loaded.embedder.model_id,
            "engine": getattr(loaded.embedder, "engine", ""),
            "built_with": loaded.index.manifest.get("engine", ""),
            "index": Path(loaded.signature).name,
            "stale": False,
        }
        try:  # guides edited since the build: search still answers, a monitor should still know
            check_docs(loaded.index.manifest, loaded.settings.docs_dir)
        except IndexStale as stale:
            body.update(stale=True, detail=stale.message)
        refused = getattr(searcher, "refused", None)  # SearcherSlot: a newer build it could not use
        if refused is not None:
            body.update(stale=True, detail=f"{refused.message} Se sigue respondiendo con el índice anterior.")
        return JSONResponse(body)

    @api.get("/search", summary="Buscar tarjetas para una situación", tags=["búsqueda"])
    def search(
        q: Annotated[str, Query(description="La situación, en texto libre.")],
        k: Annotated[int, Query(ge=1, le=MAX_K, description="Número de resultados.")] = 3,
        fase: Annotated[str | None, Query(description=f"Solo esta fase: {', '.join(FASES)}.")] = None,
    ) -> dict[str, Any]:
        """Exactamente la misma respuesta que `kb search --json`."""
        return searcher().search(q, k, fase=fase or None).to_dict(settings)

    @api.post("/suggest", summary="Sugerencias para una conversación en curso", tags=["búsqueda"])
    def suggest_(body: SuggestIn) -> dict[str, Any]:
        """La fase en que parece estar la llamada y las tarjetas para ella; `new` son las que esta
        conversación aún no había recibido."""
        result = suggest(searcher(), [Turn(t.speaker, t.text) for t in body.turns], body.k)
        result.new = memory.new_ids(body.conversation_id, [r.card.id for r in result.results])
        return result.to_dict(settings, body.conversation_id)

    @api.post("/feedback", status_code=201, summary="Valorar un resultado", tags=["valoraciones"])
    def feedback(body: FeedbackIn, request: Request) -> dict[str, int]:
        """Guarda un 👍/👎 como los del panel, con los datos personales sustituidos (kb.redact)."""
        who: User | None = getattr(request.state, "user", None)
        fase = None
        try:
            cards = {c.id: c for c in searcher().cards}
            if body.card_id not in cards:
                raise QueryError(f"No existe la tarjeta «{body.card_id}».")
            fase = cards[body.card_id].fase
        except KbError as exc:
            if status_for(exc) == 400:
                raise
        store_ = state["store"] = state["store"] or FeedbackStore(settings.database)
        row = store_.record_vote(
            redact(body.query),
            body.card_id,
            body.rank,
            body.score,
            body.vote,
            comment=redact(body.comment) if body.comment else None,
            session=f"api:{who.name}" if who else "api",
            fase=fase,
        )
        return {"id": row}

    app.include_router(api)

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False)
    def unknown(request: Request, rest: str) -> JSONResponse:
        return JSONResponse({"detail": "No existe esa dirección de la API."}, status_code=404)

    if site_dir is not None:
        app.mount("/", StaticFiles(directory=site_dir, html=True), name="sitio")
    return app
