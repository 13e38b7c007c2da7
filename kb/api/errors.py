"""Every API error is JSON `{"detail": "<español>"}` with the right status, never a traceback.

KbError subclasses map to statuses here (one table), FastAPI's own 422/404/405 get Spanish
details, and request bodies are capped before any handler reads them (413).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kb.errors import AccountsUnavailable, AuthError, IndexProblem, KbError, ModelError, QueryError, StoreError

MAX_BODY_BYTES = 64 * 1024
"""Largest request body accepted: a conversation of ~6 pages of text. Larger → 413."""
TOO_LARGE = f"La petición es demasiado grande: el máximo son {MAX_BODY_BYTES // 1024} KiB."
INVALID = "La petición no tiene el formato esperado. Revisa los campos indicados en «errores»."
BAD_HOST = (
    "Esta API no responde a ese nombre de servidor (cabecera Host). Usa la dirección configurada "
    "(KB_SITE_URL, KB_HOST) o añade el nombre a KB_ALLOWED_HOSTS."
)

log = logging.getLogger("kb.api")


class Loading(KbError):
    """The searcher is still loading (model and index); try again in a few seconds."""

    def __init__(self, message: str = "El índice se está cargando; vuelve a intentarlo en unos segundos.") -> None:
        super().__init__(message)


def status_for(error: KbError) -> int:
    """The HTTP status of a KbError: the caller's fault (4xx) or ours, for now (503)."""
    if isinstance(error, QueryError):
        return 400
    if isinstance(error, AuthError):
        return 401
    if isinstance(error, (Loading, IndexProblem, ModelError, StoreError, AccountsUnavailable)):
        return 503
    return 500


def retry_after(error: KbError) -> dict[str, str] | None:
    """`Retry-After` while the searcher loads (seconds); other errors say nothing about when."""
    return {"Retry-After": "5"} if isinstance(error, Loading) else None


def _kb_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, KbError)
    status = status_for(exc)
    if status == 503 and not isinstance(exc, Loading):
        # For the operator (journald): the route and the reason, never the query string or the body.
        log.warning("503 en %s %s: %s", request.method, request.url.path, exc.operator_text())
    return JSONResponse({"detail": exc.message}, status_code=status, headers=retry_after(exc))


FIELD_MESSAGES = {
    "missing": "Falta este campo.",
    "extra_forbidden": "Este campo no existe.",
    "json_invalid": "El cuerpo no es JSON válido.",
    "string_type": "Tiene que ser texto.",
    "int_type": "Tiene que ser un número entero.",
    "int_parsing": "Tiene que ser un número entero.",
    "int_from_float": "Tiene que ser un número entero.",
    "float_type": "Tiene que ser un número.",
    "float_parsing": "Tiene que ser un número.",
    "bool_type": "Tiene que ser true o false.",
    "bool_parsing": "Tiene que ser true o false.",
    "list_type": "Tiene que ser una lista.",
    "dict_type": "Tiene que ser un objeto JSON.",
    "model_type": "Tiene que ser un objeto JSON.",
    "model_attributes_type": "Tiene que ser un objeto JSON.",
    "greater_than_equal": "Tiene que ser {ge} o más.",
    "less_than_equal": "Tiene que ser {le} o menos.",
    "greater_than": "Tiene que ser mayor que {gt}.",
    "less_than": "Tiene que ser menor que {lt}.",
    "string_too_short": "Tiene que tener al menos {min_length} caracteres.",
    "string_too_long": "Puede tener como mucho {max_length} caracteres.",
    "too_short": "Tiene que tener al menos {min_length} elementos.",
    "too_long": "Puede tener como mucho {max_length} elementos.",
    "literal_error": "Tiene que ser {expected}.",
}
"""Spanish for pydantic's validation errors, by their `type` (its English `msg` is not shown).
Values from the error's context fill the braces; any other type reads «Valor no válido.»."""


def field_message(error: Any) -> str:
    """What is wrong with one field of a request, in Spanish (one entry of `errores`)."""
    context = {key: str(value).replace(" or ", " o ") for key, value in (error.get("ctx") or {}).items()}
    kind = str(error.get("type", ""))
    if kind in ("string_too_short", "too_short") and context.get("min_length") == "1":
        return "No puede estar vacío."
    template = FIELD_MESSAGES.get(kind, "Valor no válido.")
    try:
        return template.format(**context)
    except (KeyError, IndexError):  # pydantic left out the limit: say no more than it did
        return "Valor no válido."


def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "campo": ".".join(str(p) for p in e.get("loc", ())),
            "mensaje": field_message(e),
            "tipo": str(e.get("type", "")),
        }
        for e in exc.errors()
    ]
    return JSONResponse({"detail": INVALID, "errores": errors}, status_code=422)


HTTP_DETAILS = {
    400: "El cuerpo de la petición no es JSON válido en UTF-8.",
    401: "Falta el token de acceso.",
    404: "No existe esa dirección.",
    405: "Ese método no está permitido en esta dirección.",
}


def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) and not exc.detail.isascii() else None
    return JSONResponse(
        {"detail": detail or HTTP_DETAILS.get(exc.status_code, "La petición no se puede atender.")},
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "Error interno del servidor. Revisa el registro de `kb api`."}, status_code=500)


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(KbError, _kb_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)


class BodyLimit:
    """ASGI middleware: refuse bodies over `limit` bytes with 413, by Content-Length and by what
    actually arrives (a chunked body has no Content-Length). The body is buffered (≤ limit) and
    replayed to the app, so a handler never sees a half-read request."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        try:
            declared = int(headers.get(b"content-length", b"0"))
        except ValueError:
            declared = 0
        if declared > self.limit:
            await _send_json(send, 413, {"detail": TOO_LARGE})
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.limit:
                await _send_json(send, 413, {"detail": TOO_LARGE})
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replay: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replayed() -> Message:
            return replay.pop() if replay else await receive()

        await self.app(scope, replayed, send)


class HostCheck:
    """ASGI middleware: answer only to the Host names this server is reached by (DNS rebinding: a web
    page whose name now points at 127.0.0.1 would otherwise search and vote through the agent's
    browser). Like Starlette's TrustedHostMiddleware, but the refusal is Spanish JSON."""

    def __init__(self, app: ASGIApp, allowed: list[str]) -> None:
        self.app = app
        self.allowed = {name.lower() for name in allowed}

    def host_of(self, scope: Scope) -> str:
        """The Host header's name, without the port (an IPv6 literal keeps its brackets)."""
        value = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1").strip().lower()
        if value.startswith("["):
            return value.split("]", 1)[0] + "]"
        return value.rsplit(":", 1)[0] if value.count(":") == 1 else value

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.host_of(scope) in self.allowed:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await _send_json(send, 400, {"detail": BAD_HOST})


async def _send_json(send: Send, status: int, content: dict[str, Any]) -> None:
    body = json.dumps(content, ensure_ascii=False).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
