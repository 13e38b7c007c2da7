"""Contract of the HTTP API (kb.api): every endpoint, every error status, the token rule, CORS."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from kb.accounts.identity import AGENT
from kb.accounts.users_file import Accounts
from kb.api import MAX_BODY_BYTES, Loading, create_app
from kb.cli import main
from kb.errors import IndexMissing, IndexStale
from kb.feedback.store import FeedbackStore

CARD = "guias/cliente-enfadado#escalar-al-supervisor"


@pytest.fixture
def client(built_index, searcher, tmp_path):
    store = FeedbackStore(tmp_path / "fb.db")
    app = create_app(built_index, lambda: searcher, store=store)
    with TestClient(app, raise_server_exceptions=False, base_url="http://127.0.0.1") as c:
        c.store = store  # type: ignore[attr-defined]
        yield c


def failing(error):
    def provider():
        raise error

    return provider


# ---------------------------------------------------------------- health


def test_health_reports_cards_model_and_build(client, searcher):
    r = client.get("/api/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["cards"] == len(searcher.cards)
    assert body["model"] == searcher.embedder.model_id and body["index"]
    assert body["engine"] == searcher.embedder.engine == body["built_with"]  # this process's engine and the index's
    assert body["stale"] is False and "detail" not in body


@pytest.mark.parametrize(("error", "status"), [(Loading(), "arrancando"), (IndexMissing("No hay índice."), "error")])
def test_health_is_503_until_the_index_can_be_used(settings, error, status):
    r = TestClient(create_app(settings, failing(error)), base_url="http://127.0.0.1").get("/api/health")
    assert r.status_code == 503
    assert r.json()["status"] == status and r.json()["detail"]
    assert ("retry-after" in r.headers) == (status == "arrancando")  # the site's box asks again later


# ---------------------------------------------------------------- search


def test_search_equals_the_cli_json(client, built_index):
    query = "el cliente quiere hablar con mi jefe"
    cli = CliRunner().invoke(main, ["search", query, "--json", "-k", "4", "--fase", "solucion"])
    assert cli.exit_code == 0, cli.output
    r = client.get("/api/search", params={"q": query, "k": 4, "fase": "solucion"})
    assert r.status_code == 200
    assert list(r.json()) == ["query", "low_confidence", "results"]
    assert r.json() == json.loads(cli.output)
    assert list(r.json()["results"][0]) == list(json.loads(cli.output)["results"][0])


@pytest.mark.parametrize("q", ["", "   ", "😡😡", "¿¿??!!"])
def test_search_without_words_is_400_in_spanish(client, q):
    r = client.get("/api/search", params={"q": q})
    assert r.status_code == 400
    assert "consulta" in r.json()["detail"].lower() or "escribe" in r.json()["detail"].lower()


def test_unknown_fase_is_400(client):
    r = client.get("/api/search", params={"q": "me grita", "fase": "nada"})
    assert r.status_code == 400 and "Fase desconocida" in r.json()["detail"]


@pytest.mark.parametrize("k", ["0", "-3", "51", str(10**30), "tres"])
def test_bad_k_is_422_with_a_spanish_detail_and_the_field_errors(client, k):
    r = client.get("/api/search", params={"q": "me grita", "k": k})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("La petición no tiene el formato esperado")
    assert r.json()["errores"][0]["campo"] == "query.k"


@pytest.mark.parametrize(
    ("method", "path", "payload", "field", "message"),
    [
        ("get", "/api/search", {"q": "me grita", "k": "tres"}, "query.k", "Tiene que ser un número entero."),
        ("get", "/api/search", {"q": "me grita", "k": "0"}, "query.k", "Tiene que ser 1 o más."),
        ("get", "/api/search", {}, "query.q", "Falta este campo."),
        (
            "post",
            "/api/suggest",
            {"turns": [{"speaker": "cliente", "text": "hola"}]},
            "body.conversation_id",
            "Falta este campo.",
        ),
        ("post", "/api/suggest", {"conversation_id": "c", "turns": []}, "body.turns", "No puede estar vacío."),
        (
            "post",
            "/api/suggest",
            {"conversation_id": "c", "turns": [{"speaker": "jefe", "text": "hola"}]},
            "body.turns.0.speaker",
            "Tiene que ser 'cliente' o 'agente'.",
        ),
        ("post", "/api/suggest", [1, 2, 3], "body", "Tiene que ser un objeto JSON."),
        (
            "post",
            "/api/feedback",
            {"query": "q", "card_id": "c", "rank": 99, "vote": 1},
            "body.rank",
            "Tiene que ser 50 o menos.",
        ),
    ],
)
def test_each_field_error_says_what_is_wrong_in_spanish(settings, method, path, payload, field, message):
    """Validation runs before the searcher is asked for: a client that is still loading answers it."""
    client = TestClient(create_app(settings, failing(Loading())), base_url="http://127.0.0.1")
    r = client.get(path, params=payload) if method == "get" else client.post(path, json=payload)
    assert r.status_code == 422
    assert {"campo": field, "mensaje": message} in [
        {k: e[k] for k in ("campo", "mensaje")} for e in r.json()["errores"]
    ]


def test_missing_q_is_422(client):
    assert client.get("/api/search").status_code == 422


@pytest.mark.parametrize(
    "error", [Loading(), IndexMissing("No hay índice de búsqueda todavía."), IndexStale("Índice desactualizado.")]
)
def test_search_is_503_while_the_index_cannot_be_used(settings, error):
    r = TestClient(create_app(settings, failing(error)), base_url="http://127.0.0.1").get(
        "/api/search", params={"q": "me grita"}
    )
    assert r.status_code == 503 and r.json()["detail"] == error.message


# ---------------------------------------------------------------- suggest


def test_suggest_returns_stage_results_and_only_new_ids(client):
    body = {"conversation_id": "c1", "turns": [{"speaker": "cliente", "text": "¡Quiero hablar con su supervisor YA!"}]}
    first = client.post("/api/suggest", json=body).json()
    assert list(first) == ["conversation_id", "fase", "low_confidence", "results", "new"]
    assert first["conversation_id"] == "c1" and first["fase"] in ("desahogo", "solucion")
    assert len(first["results"]) == 3 and first["new"] == [r["id"] for r in first["results"]]
    # "limit" and "legal" come after "action" only when the card has them
    assert [key for key in first["results"][0] if key not in ("limit", "legal")] == [
        "id",
        "title",
        "heading",
        "action",
        "text",
        "url",
        "score",
        "fase",
        "tags",
        "say",
        "avoid",
    ]
    again = client.post("/api/suggest", json=body).json()
    assert again["new"] == []
    other = client.post("/api/suggest", json={**body, "conversation_id": "c2"}).json()
    assert other["new"] == [r["id"] for r in other["results"]]


@pytest.mark.parametrize(
    "body",
    [
        {"conversation_id": "c", "turns": [{"speaker": "jefe", "text": "hola"}]},
        {"conversation_id": "c", "turns": []},
        {"conversation_id": "", "turns": [{"speaker": "cliente", "text": "hola"}]},
        {"conversation_id": "c", "turns": [{"speaker": "cliente", "text": "me grita"}], "k": 0},
        {"turns": [{"speaker": "cliente", "text": "hola"}]},
        [1, 2, 3],
    ],
)
def test_suggest_schema_errors_are_422(client, body):
    r = client.post("/api/suggest", json=body)
    assert r.status_code == 422 and r.json()["errores"]


def test_suggest_with_no_customer_words_is_400(client):
    turns = [{"speaker": "agente", "text": "Buenos días"}, {"speaker": "cliente", "text": "!!!"}]
    r = client.post("/api/suggest", json={"conversation_id": "c", "turns": turns})
    assert r.status_code == 400 and "cliente" in r.json()["detail"]


# ---------------------------------------------------------------- feedback


def test_feedback_is_stored_redacted(client):
    r = client.post(
        "/api/feedback",
        json={
            "query": "me grita, su móvil es 612 34 56 78",
            "card_id": CARD,
            "rank": 1,
            "vote": -1,
            "comment": "escribidme a ana.lopez@correo.es",
        },
    )
    assert r.status_code == 201 and isinstance(r.json()["id"], int)
    row = client.store.rows("feedback")[-1]
    assert "612" not in row["query"] and "[teléfono]" in row["query"]
    assert "ana.lopez" not in row["comment"] and row["vote"] == -1 and row["fase"] == "solucion"


def test_feedback_for_an_unknown_card_is_400(client):
    r = client.post("/api/feedback", json={"query": "x", "card_id": "no/existe", "rank": 1, "vote": 1})
    assert r.status_code == 400


def test_a_vote_for_a_merged_card_is_kept_for_the_card_that_took_it_in(client, searcher):
    merged = next(c for c in searcher.cards if c.former)  # a heading with `data-antes` in the real guides
    r = client.post("/api/feedback", json={"query": "le llamo", "card_id": merged.former[0], "rank": 1, "vote": 1})
    assert r.status_code == 201
    row = client.store.rows("feedback")[-1]
    assert row["card_id"] == merged.id and row["fase"] == merged.fase


@pytest.mark.parametrize("vote", [0, 2, "sí", None])
def test_feedback_vote_must_be_plus_or_minus_one(client, vote):
    r = client.post("/api/feedback", json={"query": "x", "card_id": CARD, "rank": 1, "vote": vote})
    assert r.status_code == 422


def test_feedback_is_503_when_the_store_is_unavailable(built_index, searcher, tmp_path):
    (tmp_path / "dir.db").mkdir()
    app = create_app(built_index, lambda: searcher, store=FeedbackStore(tmp_path / "dir.db"))
    r = TestClient(app, base_url="http://127.0.0.1").post(
        "/api/feedback", json={"query": "x", "card_id": CARD, "rank": 1, "vote": 1}
    )
    assert r.status_code == 503 and "base de datos" in r.json()["detail"]


# ---------------------------------------------------------------- limits and odd input


def test_body_over_the_limit_is_413_by_content_length(client):
    r = client.post("/api/suggest", content=b"x" * (MAX_BODY_BYTES + 1), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "64 KiB" in r.json()["detail"]


def test_body_over_the_limit_is_413_when_streamed_without_length(client):
    def chunks():
        for _ in range(20):
            yield b"x" * 4096

    r = client.post("/api/suggest", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


ODD = [
    b"\xff\xfe\x00{",
    b'{"conversation_id": "c", "turns": [{"speaker": "cliente", "text": {"a": [[[[{}]]]]}}]}',
    b'{"conversation_id": ["x"], "turns": "cliente: hola"}',
    b"[" * 5000 + b"]" * 5000,
    b'{"conversation_id": "c", "turns": [{"speaker": "cliente", "text": "\\u0000\\ud800 me grita"}], "k": 1e308}',
    b"null",
    b"",
]


@pytest.mark.parametrize("raw", ODD)
@pytest.mark.parametrize("path", ["/api/suggest", "/api/feedback"])
def test_odd_bodies_never_give_a_500(client, raw, path):
    r = client.post(path, content=raw, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    assert isinstance(r.json()["detail"], str) and not r.json()["detail"].isascii()


@pytest.mark.parametrize(
    "params",
    [
        {"q": "x" * 20000},
        {"q": "\x00\x1b"},
        {"q": "me grita", "fase": "<script>"},
        {"q": "me grita", "k": "1e9"},
        {"q": "%ff%fe"},
    ],
)
def test_odd_queries_never_give_a_500(client, params):
    r = client.get("/api/search", params=params)
    assert r.status_code < 500, r.text


def test_unknown_api_path_is_a_spanish_404(client):
    r = client.get("/api/nada")
    assert r.status_code == 404 and r.json()["detail"] == "No existe esa dirección de la API."


# ---------------------------------------------------------------- token rule, CORS, docs, site


def test_no_token_needed_on_loopback(client):
    assert client.get("/api/search", params={"q": "me grita"}).status_code == 200


def test_exposed_api_requires_a_valid_bearer_token(built_index, searcher, tmp_path):
    accounts = Accounts(tmp_path / "usuarios.json")
    accounts.add("ana", "una contraseña larga", AGENT)
    token = accounts.create_token("ana")
    exposed = built_index.with_(host="0.0.0.0", users_file=tmp_path / "usuarios.json")
    c = TestClient(
        create_app(exposed, lambda: searcher, store=FeedbackStore(tmp_path / "fb.db")), base_url="http://127.0.0.1"
    )
    assert c.get("/api/health").status_code == 200  # health stays open for monitors
    missing = c.get("/api/search", params={"q": "me grita"})
    assert missing.status_code == 401 and missing.json()["detail"].startswith("Falta el token")
    bad = c.get("/api/search", params={"q": "me grita"}, headers={"Authorization": "Bearer kb_nope"})
    assert bad.status_code == 401 and bad.json()["detail"] == "Token no válido."
    good = {"Authorization": f"Bearer {token}"}
    assert c.get("/api/search", params={"q": "me grita"}, headers=good).status_code == 200
    r = c.post("/api/feedback", json={"query": "x", "card_id": CARD, "rank": 1, "vote": 1}, headers=good)
    assert r.status_code == 201
    assert c.post("/api/suggest", json={"conversation_id": "c", "turns": []}).status_code == 401


def test_cors_allows_only_the_site_origin(client, built_index):
    origin = built_index.site_url.rstrip("/")
    ok = client.options("/api/search", headers={"Origin": origin, "Access-Control-Request-Method": "GET"})
    assert ok.headers.get("access-control-allow-origin") == origin
    other = client.get("/api/search", params={"q": "me grita"}, headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_openapi_docs_are_in_spanish(client):
    spec = client.get("/api/openapi.json").json()
    assert spec["info"]["title"] == "API de la base de conocimiento"
    assert {"/api/health", "/api/search", "/api/suggest", "/api/feedback"} <= set(spec["paths"])
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()  # Swagger UI's files come from the package: works offline
    assert client.get("/api/docs-static/swagger-ui-bundle.js").status_code == 200


def test_site_and_api_share_one_origin(built_index, searcher, tmp_path):
    (tmp_path / "index.html").write_text("<h1>Guías</h1>", encoding="utf-8")
    c = TestClient(create_app(built_index, lambda: searcher, site_dir=tmp_path), base_url="http://127.0.0.1")
    assert "Guías" in c.get("/").text
    assert c.get("/api/health").json()["status"] == "ok"
