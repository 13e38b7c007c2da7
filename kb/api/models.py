"""The API's request and response bodies: what `/api/docs` shows, and what FastAPI checks on the way in and out.

Answers are built by kb.search (the same dicts `kb search --json` prints) and validated against
these models; fields a card does not have (`limit`, `legal`, `learned`, `outside`) are left out, not sent as null.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt
from pydantic_core import PydanticCustomError

from kb.content import FASES
from kb.search.searcher import MAX_K
from kb.text import MAX_QUERY_CHARS


def _whole_number(value: Any) -> Any:
    """`true`, `1.0` and `"1"` are not votes: only a JSON integer is (Python counts True as 1, and 1.0 == 1)."""
    if type(value) is not int:
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


Vote = Annotated[Literal[1, -1], BeforeValidator(_whole_number)]


class SearchIn(BaseModel):
    """`POST /api/search`: the query travels in the body, which no proxy or server writes to its log."""

    model_config = ConfigDict(extra="forbid")
    q: str = Field(max_length=MAX_QUERY_CHARS, description="La situación, en texto libre.")
    k: StrictInt = Field(3, ge=1, le=MAX_K, description="Número de resultados.")
    fase: str | None = Field(None, description=f"Solo esta fase: {', '.join(FASES)}.")


class TurnIn(BaseModel):
    speaker: Literal["cliente", "agente"] = Field(description="Quién habla.")
    text: str = Field(max_length=MAX_QUERY_CHARS, description="Lo que ha dicho.")


class SuggestIn(BaseModel):
    conversation_id: str = Field(min_length=1, max_length=200, description="Identificador de la conversación.")
    turns: list[TurnIn] = Field(min_length=1, max_length=200, description="Los turnos hasta ahora, en orden.")
    k: StrictInt = Field(3, ge=1, le=MAX_K, description="Número de tarjetas.")


class FeedbackIn(BaseModel):
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="La consulta que se valoró.")
    card_id: str = Field(min_length=1, max_length=300, description="Id de la tarjeta valorada.")
    rank: StrictInt = Field(ge=1, le=MAX_K, description="Posición en la que salió (1 = primera).")
    vote: Vote = Field(description="1 = útil, -1 = no útil.")
    comment: str | None = Field(None, max_length=1000, description="Comentario opcional.")
    score: float = Field(0.0, ge=-10, le=10, description="Puntuación con la que salió (opcional).")


class LegalOut(BaseModel):
    country: str = Field(description="País configurado (KB_COUNTRY): ES, MX, AR, CO, PE o CL.")
    text: str = Field(description="Lo que dice la ley de ese país para este caso (bloque «Legal» de la guía).")


class CardOut(BaseModel):
    id: str = Field(description="Id estable de la tarjeta (guía#sección).")
    title: str = Field(description="Título de la guía.")
    heading: str = Field(description="Título de la sección.")
    action: str = Field(description="Qué hacer ahora, en una frase (bloque «Haz»); vacía si la tarjeta no la tiene.")
    limit: str | None = Field(None, description="Hasta dónde llegar (bloque «Límite»), si la tarjeta lo tiene.")
    legal: LegalOut | None = Field(
        None, description="Las líneas legales del país configurado, si la tarjeta las tiene."
    )
    text: str = Field(description="El texto de la tarjeta.")
    url: str = Field(description="Dónde leerla en el sitio de las guías.")
    score: float | None = Field(None, description="Puntuación de la búsqueda.")
    fase: str = Field(description="Fase de la llamada.")
    tags: list[str] = Field(description="Etiquetas.")
    say: list[str] = Field(description="Frases que conviene decir.")
    avoid: list[str] = Field(description="Frases que conviene evitar.")
    learned: list[str] | None = Field(None, description="Consultas reales que los formadores enseñaron a esta tarjeta.")


class SearchOut(BaseModel):
    query: str = Field(description="La consulta tal como se buscó (limpia y con los datos personales sustituidos).")
    low_confidence: bool = Field(description="Ningún resultado es fiable: mejor reformular o escalar.")
    results: list[CardOut]
    outside: str | None = Field(None, description="La consulta fuera del alcance de las guías a la que más se parece.")


class SuggestOut(BaseModel):
    conversation_id: str
    fase: str = Field(description="La fase en que parece estar la llamada.")
    low_confidence: bool
    results: list[CardOut]
    new: list[str] = Field(description="Ids de las tarjetas que esta conversación aún no había recibido.")


class FeedbackOut(BaseModel):
    id: int = Field(description="Número de la valoración guardada.")


class HealthOut(BaseModel):
    status: Literal["ok"]
    cards: int = Field(description="Tarjetas en el índice cargado.")
    model: str
    engine: str
    built_with: str = Field(description="Motor con el que se construyó el índice.")
    index: str = Field(description="La construcción del índice en uso.")
    stale: bool = Field(description="Las guías cambiaron o hay una construcción nueva que no se pudo usar.")
    token_required: bool = Field(
        description="Las demás rutas piden «Authorization: Bearer <token>» (el buscador del sitio no las usa entonces)."
    )
    detail: str | None = None
