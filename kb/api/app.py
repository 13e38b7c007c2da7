"""Routes of the HTTP API (see kb.api). Thin: every answer comes from kb.search.searcher / kb.search.conversation.

Endpoints are plain `def`: FastAPI runs them in its thread pool, which is what the CPU-bound
embedding needs; the Searcher is thread-safe. `/api/feedback` is the exception: it waits for the
database (kb.feedback.outbox) on the event loop, so votes stuck on a hung database hold no thread
a search needs. What they share lives in `app.state.kb` (kb.api.deps).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from kb.accounts.users_file import Accounts
from kb.config import Settings
from kb.content import FASES, renamed_ids
from kb.errors import IndexStale, KbError, QueryError, StoreError
from kb.feedback.outbox import Pending
from kb.feedback.redact import redact
from kb.feedback.rows import vote_row
from kb.feedback.store import FeedbackStore
from kb.retrieval.store import check_docs
from kb.search.conversation import Turn, suggest
from kb.search.searcher import MAX_K, Searcher, clean_query
from kb.text import without_controls

from .deps import ApiState, Caller, State, caller
from .errors import BodyLimit, HostCheck, Loading, install_handlers, retry_after, status_for
from .models import FeedbackIn, FeedbackOut, HealthOut, SearchIn, SearchOut, SuggestIn, SuggestOut

DESCRIPTION = """
Busca en la base de conocimiento de atención al cliente qué hacer y qué decir en una situación.

* Las respuestas de `/api/search` son idénticas a `kb search --json`. Búsquese con **`POST /api/search`**
  (la consulta va en el cuerpo JSON); `GET /api/search?q=…` se mantiene por compatibilidad, pero la consulta
  viaja en la dirección, que los proxies y los navegadores guardan en sus registros e historiales.
* Todos los errores son JSON `{"detail": "…"}` en español.
* Si el servidor escucha fuera de esta máquina (`KB_HOST`, o `KB_BEHIND_PROXY` detrás de nginx), todas las
  rutas menos `/api/health` piden la cabecera `Authorization: Bearer <token>` (un token de cuenta de
  `KB_USERS_FILE`, válido `KB_TOKEN_DAYS` días); `/api/health` dice si hace falta (`token_required`).
"""

health_router = APIRouter(prefix="/api", tags=["estado"])
api = APIRouter(prefix="/api", dependencies=[Depends(caller)])
fallback = APIRouter()


@health_router.get(
    "/health",
    summary="Estado del servicio",
    response_model=HealthOut,
    response_model_exclude_unset=True,
    responses={503: {"description": "Arrancando o con un problema en el índice"}},
)
def health(state: State) -> Any:
    """`ok` con el número de tarjetas, el modelo y el índice en uso, y `stale` (con `detail`) si las
    guías cambiaron desde la última construcción o si hay una construcción nueva que no se puede usar
    (la búsqueda sigue respondiendo con el índice cargado); si no, 503 y el motivo."""
    token = state.settings.exposed
    try:
        loaded = state.searcher()
    except KbError as exc:
        status = "arrancando" if isinstance(exc, Loading) else "error"
        content = {"status": status, "detail": exc.message, "token_required": token}
        return JSONResponse(content, status_code=503, headers=retry_after(exc))
    body: dict[str, Any] = {
        "status": "ok",
        "token_required": token,
        "cards": len(loaded.cards),
        "model": loaded.embedder.model_id,
        "engine": getattr(loaded.embedder, "engine", ""),
        "built_with": loaded.index.manifest.engine,
        "index": Path(loaded.signature).name,
        "stale": False,
    }
    try:  # guides edited since the build: search still answers, a monitor should still know
        check_docs(loaded.index.manifest, loaded.settings.docs_dir)
    except IndexStale as stale:
        body.update(stale=True, detail=stale.message)
    refused = getattr(state.searcher, "refused", None)  # SearcherSlot: a newer build it could not use
    if refused is not None:
        body.update(stale=True, detail=f"{refused.message} Se sigue respondiendo con el índice anterior.")
    return body


SEARCHING: dict[str, Any] = {"tags": ["búsqueda"], "response_model_exclude_unset": True}
"""What the search routes share: their group in /api/docs, and no nulls for fields a card lacks."""


def _search(state: ApiState, q: str, k: int, fase: str | None) -> dict[str, Any]:
    """One search, logged for the trainers' report off the request path (kb.api.records)."""
    # The searcher is asked for here, not as a dependency: a malformed request is a 422 even while
    # the index loads.
    response = state.searcher().search(q, k, fase=fase or None)
    state.searches.record(response, fase or None)
    return response.to_dict(state.settings)


@api.post("/search", summary="Buscar tarjetas para una situación", response_model=SearchOut, **SEARCHING)
def search_post(body: SearchIn, state: State) -> Any:
    """Exactamente la misma respuesta que `kb search --json`. La consulta va en el cuerpo, que no
    queda en ningún registro de acceso: es la forma de buscar recomendada."""
    return _search(state, body.q, body.k, body.fase)


@api.get(
    "/search",
    summary="Buscar (GET, por compatibilidad: la consulta queda en los registros)",
    response_model=SearchOut,
    **SEARCHING,
)
def search(
    state: State,
    q: Annotated[str, Query(description="La situación, en texto libre.")],
    k: Annotated[int, Query(ge=1, le=MAX_K, description="Número de resultados.")] = 3,
    fase: Annotated[str | None, Query(description=f"Solo esta fase: {', '.join(FASES)}.")] = None,
) -> Any:
    """Lo mismo que `POST /api/search`. La consulta va en la dirección (`?q=`), y las direcciones quedan
    en los registros de proxies, navegadores y servidores intermedios: con datos de clientes, usa POST."""
    return _search(state, q, k, fase)


@api.post("/suggest", summary="Sugerencias para una conversación en curso", response_model=SuggestOut, **SEARCHING)
def suggest_(body: SuggestIn, state: State) -> Any:
    """La fase en que parece estar la llamada y las tarjetas para ella; `new` son las que esta
    conversación aún no había recibido."""
    result = suggest(state.searcher(), [Turn(t.speaker, t.text) for t in body.turns], body.k)
    result.new = state.memory.new_ids(body.conversation_id, [r.card.id for r in result.results])
    return result.to_dict(state.settings, body.conversation_id)


def _voted_card(state: ApiState, card_id: str) -> tuple[str, str | None]:
    """The voted card's current id and phase. An id a merge retired (`data-antes`) counts for the card it went
    into; an unknown id is the caller's error (400), while an index that is still loading only costs the
    phase: the vote is kept all the same."""
    try:
        cards = state.searcher().cards
    except KbError as exc:
        if status_for(exc) == 400:
            raise
        return card_id, None
    current = renamed_ids(cards).get(card_id, card_id)
    fase = next((c.fase for c in cards if c.id == current), None)
    if fase is None:
        raise QueryError(f"No existe la tarjeta «{card_id}».")
    return current, fase


@api.post(
    "/feedback",
    status_code=201,
    summary="Valorar un resultado",
    tags=["valoraciones"],
    response_model=FeedbackOut,
    responses={503: {"description": "La base de datos no ha confirmado la valoración a tiempo: no se ha guardado"}},
)
async def feedback(body: FeedbackIn, state: State, who: Caller) -> Any:
    """Guarda un 👍/👎 como los del panel, con los datos personales sustituidos (kb.feedback.redact).

    Espera a la base de datos como mucho `KB_DB_TIMEOUT` segundos: si no ha confirmado, la valoración
    se retira (no se guardará) y la respuesta es 503; se puede repetir sin duplicarla."""
    query, _ = clean_query(body.query)  # whitespace only or no words: 400, and nothing stored
    card_id, fase = await run_in_threadpool(_voted_card, state, body.card_id)
    comment = without_controls(body.comment or "").strip()
    store = state.feedback_store()
    pending = store.later(
        vote_row(
            redact(query),
            card_id,
            body.rank,
            body.score,
            body.vote,
            comment=redact(comment) if comment else None,
            session=f"api:{who.name}" if who else "api",
            fase=fase,
        )
    )
    return {"id": await stored_within(pending, store, state.settings.db_timeout)}


async def stored_within(pending: Pending, store: FeedbackStore, seconds: float) -> int:
    """The row id once the writer has stored `pending`, without holding a thread while it waits; after
    `seconds`, the write is withdrawn and StoreError says so (the agent-facing 503)."""
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()

    def settle() -> None:
        if not ended.done():
            ended.set_result(None)

    pending.on_done(lambda: loop.call_soon_threadsafe(settle))
    try:
        await asyncio.wait_for(asyncio.shield(ended), seconds)
    except TimeoutError:
        if store.outbox.withdraw(pending):
            raise StoreError(
                f"La base de datos de valoraciones no ha respondido en {seconds:g} s: la valoración no se ha "
                "guardado. Vuelve a intentarlo en unos minutos."
            ) from None
        raise StoreError(
            f"La base de datos de valoraciones no ha confirmado la valoración en {seconds:g} s; puede que se "
            "haya guardado."
        ) from None
    if pending.error is not None:
        raise pending.error
    if pending.row_id is None:  # withdrawn by someone else: never the case for the API's own writes
        raise StoreError("La valoración no se ha guardado. Vuelve a intentarlo.")
    return pending.row_id


@fallback.api_route(
    "/api/{rest:path}", methods=["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False
)
def unknown(rest: str) -> JSONResponse:
    return JSONResponse({"detail": "No existe esa dirección de la API."}, status_code=404)


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
    app.state.kb = ApiState(settings, searcher, store=store, accounts=accounts)
    install_handlers(app)
    app.add_middleware(BodyLimit)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[site_origin(settings.site_url)],
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type"],
    )
    app.add_middleware(HostCheck, allowed=settings.api_hosts())  # outermost: a foreign Host gets nothing else
    app.include_router(health_router)
    app.include_router(api)
    app.include_router(fallback)
    if site_dir is not None:
        app.mount("/", StaticFiles(directory=site_dir, html=True), name="sitio")
    return app
