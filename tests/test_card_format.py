"""The card format an agent can act on (issue 29): «Haz» first, then «Límite», legal lines by country.

Parsed into Card.action / .limit / .legal, checked by `kb check` at file:line, shown first by the CLI and
the API, and on the site only the configured country's legal lines (KB_COUNTRY)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from kb.api import create_app
from kb.cli import main
from kb.cli.query import _print_human
from kb.config import load_settings
from kb.content import Card, cards_of, load_docs, read_guide
from kb.content.card_rules import imperative_problem, sentences
from kb.errors import ConfigError, IndexStale
from kb.retrieval.build import build_index, memory_index
from kb.retrieval.store import current_path, load_index
from kb.search.searcher import Result, Searcher, SearchResponse
from kb.site.hooks import country_legal
from kb.trainers.check import lint
from kb.trainers.evaluate import EvalQuery, with_current_ids
from kb.trainers.learning import with_learned
from tests.conftest import HEAD, ROOT, build_site_into, make_docs

SIGNED = HEAD.replace("responsable: Equipo de pruebas", "responsable: Ana Ruiz, Equipo de pruebas")
LEGAL_HEAD = (
    SIGNED[: -len("---\n")]
    + "fuentes_legales:\n"
    + '  ES: ["Ley General para la Defensa de los Consumidores — https://www.boe.es/eli/es/rdlg/2007/11/16/1"]\n'
    + '  MX: ["Ley Federal de Protección al Consumidor — https://www.diputados.gob.mx/LeyesBiblio/pdf/LFPC.pdf"]\n'
    + 'revisado_legal: "Marta Gil, 2026-11-20"\n---\n'
)
"""A valid front matter (HEAD's, with a person and a team) for a guide with legal blocks of ES and MX."""

LIMIT = (
    "No te quedes a solas con el cliente ni le sigas si se marcha, aunque insista en que le acompañes a "
    "ningún sitio, y no prometas nada para que se calme. Si hay peligro inmediato en persona, llama al "
    "número de emergencias antes de hacer cualquier otra cosa y después deja constancia de lo ocurrido."
)
"""Two sentences over the panel's 240-character tip: shown whole all the same."""

THREAT = f"""
## Amenaza de hacer daño

??? question "Cuándo"
    - me amenaza con venir a pegarme
    - dice que sabe dónde vivo

!!! success "Haz"
    Avisa ahora a tu supervisor y a seguridad, y anota la amenaza con sus palabras exactas.

!!! warning "Límite"
    {LIMIT}

Una amenaza de daño no es un insulto más: se trata como un riesgo real para ti y para tus compañeros.
Mantén la voz tranquila, no discutas la amenaza y deja que el supervisor decida los pasos siguientes con
seguridad, que conoce el protocolo del edificio y de la empresa.

!!! info "Legal ES"
    En España, una amenaza puede ser delito: tu empresa decide si denuncia.

!!! info "Legal MX"
    En México, la empresa puede presentar denuncia ante el Ministerio Público.

!!! tip "Decir"
    - Voy a dejar constancia de lo que me acaba de decir.

!!! danger "Evitar"
    - Usted no se atreve.
"""
CRYING = """
## Cliente que llora

??? question "Cuándo"
    - la señora se ha puesto a llorar

!!! success "Haz"
    Dale tiempo, baja el ritmo y pregúntale si prefiere seguir ahora o que le llames más tarde.

Una persona que llora por una pérdida o una mala noticia necesita sentir que no tiene prisa. Escucha sin
llenar los silencios y ofrece, si lo necesita, la vía para clientes vulnerables de tu empresa.

!!! tip "Decir"
    - Tómese el tiempo que necesite; aquí sigo.
"""
GOOD = LEGAL_HEAD + THREAT + CRYING


def line_of(text: str, marker: str, nth: int = 1) -> int:
    """1-based line of the nth line of `text` that contains `marker` (the place a problem must point at)."""
    hits = [n for n, line in enumerate(text.split("\n"), 1) if marker in line]
    return hits[nth - 1]


def card_in(project_root: Path, name: str, index: int = 0) -> Card:
    guide = read_guide(project_root / "docs" / name, project_root / "docs", project_root)
    assert guide.ok, guide.problems
    return cards_of(guide)[index]


# ---------------------------------------------------------------- parsing


def test_haz_limite_and_legal_become_fields_of_the_card(tmp_path):
    root = make_docs(tmp_path, {"guias/amenazas.md": GOOD})
    card = card_in(root, "guias/amenazas.md")
    assert card.action == "Avisa ahora a tu supervisor y a seguridad, y anota la amenaza con sus palabras exactas."
    assert card.limit == LIMIT
    assert card.legal == {
        "ES": "En España, una amenaza puede ser delito: tu empresa decide si denuncia.",
        "MX": "En México, la empresa puede presentar denuncia ante el Ministerio Público.",
    }
    assert card.text.startswith("Una amenaza de daño no es un insulto más")
    assert "Avisa ahora" not in card.text and "Legal" not in card.text and "España" not in card.text
    embedded = card.embedding_text()
    assert embedded.index(card.action) < embedded.index("Una amenaza de daño")
    assert "Ministerio Público" not in embedded  # legal lines differ by country; the index is one for all
    assert LIMIT not in embedded  # its wording is shared by many cards; the letters' view reads it
    assert card.action in card.pieces() and LIMIT in card.pieces()
    crying = card_in(root, "guias/amenazas.md", 1)
    assert crying.limit is None and crying.legal == {}
    assert (
        Card.from_dict({k: v for k, v in card.to_dict().items() if k not in ("action", "limit", "legal")}).action == ""
    )


def test_an_example_of_the_format_inside_a_code_block_is_not_a_block(tmp_path):
    example = THREAT.replace('!!! info "Legal MX"', '```markdown\n!!! info "Legal MX"').replace(
        "Ministerio Público.\n", "Ministerio Público.\n```\n"
    )
    root = make_docs(tmp_path, {"guias/amenazas.md": LEGAL_HEAD + example})
    assert set(card_in(root, "guias/amenazas.md").legal) == {"ES"}


def test_a_merged_card_answers_for_the_ids_it_replaced(tmp_path, encoder):
    """Two duplicates merged into one (`data-antes`): labels, votes and learned searches written for the
    card that went keep counting, for the card that took it in."""
    merged = CRYING.replace("## Cliente que llora", '## Cliente que llora { data-antes="guias/vieja#llanto" }')
    docs = load_docs(make_docs(tmp_path, {"guias/nueva.md": SIGNED + merged}) / "docs")
    assert docs.renamed == {"guias/vieja#llanto": "guias/nueva#cliente-que-llora"}
    query = EvalQuery("llora sin parar", ["guias/vieja#llanto", "guias/nueva#cliente-que-llora"], "")
    assert with_current_ids([query], docs.renamed)[0].expected == ["guias/nueva#cliente-que-llora"]
    taught = with_learned(docs.cards, {"guias/vieja#llanto": ["no para de llorar"]}, encoder)
    assert taught[0].learned == ["no para de llorar"]


def test_the_action_changes_the_content_hash_so_a_build_embeds_it_again(tmp_path):
    root = make_docs(tmp_path, {"guias/amenazas.md": GOOD})
    before = card_in(root, "guias/amenazas.md").content_hash()
    edited = GOOD.replace("Avisa ahora a tu supervisor", "Avisa enseguida a tu supervisor")
    (root / "docs" / "guias" / "amenazas.md").write_text(edited, encoding="utf-8")
    assert card_in(root, "guias/amenazas.md").content_hash() != before


def test_an_index_of_the_previous_format_asks_to_rebuild(tmp_path, encoder):
    root = make_docs(tmp_path, {"guias/amenazas.md": GOOD})
    build_index(root / "docs", root / "index", encoder, root=root)
    assert load_index(root / "index").cards[0].action.startswith("Avisa ahora")
    manifest = current_path(root / "index").resolve() / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text(encoding="utf-8")), "format": 5}), encoding="utf-8")
    with pytest.raises(IndexStale, match="Reconstruye con 'kb build --index-only'"):
        load_index(root / "index")


# ---------------------------------------------------------------- kb check


@pytest.mark.parametrize(
    "text",
    [
        "Avisa a tu supervisor ahora.",
        "No le interrumpas mientras se desahoga.",
        "Si amenaza con hacer daño, avisa a seguridad.",
        "Pídele el número de pedido.",
        "Deje que termine.",
        "Ten paciencia.",
        "Nunca le llames mentiroso.",
    ],
)
def test_imperatives_pass(text):
    assert imperative_problem(text) is None and sentences(text) == 1


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("Escuchar al cliente hasta el final.", "«Escuchar»"),
        ("Escuchándole con calma.", "«Escuchándole»"),
        ("El cliente abusivo necesita límites.", "«El»"),
        ("Hay que avisar al supervisor.", "«Hay»"),
        ("Puedes ofrecer un descuento.", "«Puedes»"),
        ("Si amenaza avisa al supervisor.", "«Si» sin coma"),
        ("¿Le escucho?", "pregunta"),
    ],
)
def test_what_is_not_an_imperative_says_why(text, word):
    assert word in (imperative_problem(text) or "")


def _without(block: str, text: str) -> str:
    return text.replace(block, "")


HAZ = '!!! success "Haz"\n    Avisa ahora a tu supervisor y a seguridad, y anota la amenaza con sus palabras exactas.\n'
FAULTS = {
    # file: (content, [(marker of the line, nth, message fragment)])
    "sin-haz.md": (LEGAL_HEAD + _without(HAZ, THREAT), [("## Amenaza de hacer daño", 1, "no dice qué hacer")]),
    "dos-frases.md": (
        LEGAL_HEAD + THREAT.replace("palabras exactas.", "palabras exactas. Después cuelga."),
        [('"Haz"', 1, "el bloque 'Haz' tiene 2 frases")],
    ),
    "infinitivo.md": (
        LEGAL_HEAD + THREAT.replace("Avisa ahora a tu", "Avisar ahora a tu"),
        [('"Haz"', 1, "empieza por «Avisar»")],
    ),
    "haz-tarde.md": (
        LEGAL_HEAD + THREAT.replace(HAZ, "").replace("Una amenaza de daño no", HAZ + "\nUna amenaza de daño no"),
        [('"Haz"', 1, "va al principio"), ('"Límite"', 1, "va justo después del bloque 'Haz'")],
    ),
    "sin-fuente.md": (
        LEGAL_HEAD.replace("  MX: [", "  CL: [") + THREAT,
        [('"Legal MX"', 1, "el bloque 'Legal MX' no cita ninguna fuente")],
    ),
    "pais.md": (LEGAL_HEAD + THREAT.replace("Legal MX", "Legal FR"), [('"Legal FR"', 1, "país desconocido 'FR'")]),
    "sin-firma.md": (
        LEGAL_HEAD.replace('revisado_legal: "Marta Gil, 2026-11-20"\n', "") + THREAT,
        [("---", 1, "falta 'revisado_legal'")],
    ),
    "firma.md": (
        LEGAL_HEAD.replace("Marta Gil, 2026-11-20", "Marta Gil") + THREAT,
        [("revisado_legal:", 1, "«Nombre Apellido, AAAA-MM-DD»")],
    ),
    "fuente-sin-url.md": (
        LEGAL_HEAD.replace(" — https://www.boe.es/eli/es/rdlg/2007/11/16/1", "") + THREAT,
        [("  ES: [", 1, "cada fuente de ES se escribe «Título — https://…»")],
    ),
    "equipo.md": (HEAD + CRYING, [("responsable:", 1, "una persona y su equipo")]),
    "antes-mal.md": (
        SIGNED + CRYING.replace("## Cliente que llora", '## Cliente que llora { data-antes="guias/vieja" }'),
        [("## Cliente que llora", 1, "'data-antes' espera ids de tarjeta como 'guias/pagina#ancla'")],
    ),
    "antes-vivo.md": (
        SIGNED + CRYING.replace("## Cliente que llora", '## Cliente que llora { data-antes="bien#cliente-que-llora" }'),
        [("## Cliente que llora", 1, "nombra 'bien#cliente-que-llora', que sigue existiendo")],
    ),
}


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    files = {name: text for name, (text, _) in FAULTS.items()} | {"bien.md": GOOD}
    return load_settings(make_docs(tmp_path_factory.mktemp("planted"), files))


@pytest.mark.parametrize("name", list(FAULTS))
def test_each_planted_fault_is_reported_at_its_line(planted, name):
    text, expected = FAULTS[name]
    problems = [p for p in lint(planted) if p.path == f"docs/{name}" and p.severity == "error"]
    for marker, nth, fragment in expected:
        line = line_of(text, marker, nth)
        assert any(p.line == line and fragment in p.message for p in problems), (
            f"esperado en línea {line}: {fragment!r}; obtenido: {[str(p) for p in problems]}"
        )


def test_a_guide_in_the_format_has_no_errors(planted):
    assert [str(p) for p in lint(planted) if p.path == "docs/bien.md" and p.severity == "error"] == []


def test_a_card_with_some_countries_is_warned_about_the_others(planted):
    warnings = [p for p in lint(planted) if p.path == "docs/bien.md" and "no tiene bloque 'Legal'" in p.message]
    assert [(p.line, p.severity) for p in warnings] == [(line_of(GOOD, '"Legal ES"'), "warning")]
    assert "de AR, CO, PE, CL:" in warnings[0].message


def test_kb_check_fails_and_prints_the_place(planted, monkeypatch):
    monkeypatch.setenv("KB_HOME", str(planted.root))
    out = CliRunner().invoke(main, ["check", "--no-model"])
    assert out.exit_code == 1
    assert (
        f"docs/sin-haz.md:{line_of(FAULTS['sin-haz.md'][0], '## Amenaza')}: la tarjeta 'Amenaza de hacer daño'"
        in out.output
    )
    assert f"docs/sin-fuente.md:{line_of(FAULTS['sin-fuente.md'][0], 'Legal MX')}: el bloque 'Legal MX'" in out.output


# ---------------------------------------------------------------- review dates against git


def git(root: Path, *args: str, when: str = "2026-03-01T12:00:00") -> None:
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="Ana Ruiz",
        GIT_AUTHOR_EMAIL="ana@example.org",
        GIT_COMMITTER_NAME="Ana Ruiz",
        GIT_COMMITTER_EMAIL="ana@example.org",
        GIT_AUTHOR_DATE=when,
        GIT_COMMITTER_DATE=when,
    )
    subprocess.run(["git", "-C", str(root), *args], env=env, check=True, capture_output=True)


def review_warnings(settings) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for p in lint(settings):
        if p.severity == "warning" and ("(según git)" in p.message or "sin confirmar" in p.message):
            found.setdefault(p.path, []).append(f"{p.line}: {p.message}")
    return found


@pytest.fixture
def history(tmp_path):
    """A project in git: one guide reviewed before its last commit (2026-03-01), one after it."""
    late = GOOD.replace("revisado: 2026-11-20", "revisado: 2026-02-01")
    late = late.replace("Marta Gil, 2026-11-20", "Marta Gil, 2026-02-01")
    root = make_docs(tmp_path, {"guias/tarde.md": late, "guias/al-dia.md": GOOD.replace("2026-11-20", "2026-03-15")})
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "guías")
    return root


def test_a_guide_committed_after_its_review_is_a_warning_at_the_review_line(history):
    warnings = review_warnings(load_settings(history))
    text = (history / "docs" / "guias" / "tarde.md").read_text(encoding="utf-8")
    assert warnings == {
        "docs/guias/tarde.md": [
            f"{line_of(text, 'revisado: ')}: la guía cambió el 2026-03-01 (según git), después de su revisión del "
            "2026-02-01: revisa el texto y actualiza 'revisado'",
            f"{line_of(text, 'revisado_legal:')}: los bloques 'Legal' o las 'fuentes_legales' cambiaron después de "
            "la revisión legal del 2026-02-01 (según git): que vuelva a revisarlos y actualiza 'revisado_legal'",
        ]
    }


def signed_then_edited(history: Path, old: str, new: str) -> dict[str, list[str]]:
    """al-dia.md signed off on 2026-03-15, then `old` replaced by `new` in a commit of 2026-04-01."""
    guide = history / "docs" / "guias" / "al-dia.md"
    text = guide.read_text(encoding="utf-8")
    assert old in text
    guide.write_text(text.replace(old, new), encoding="utf-8")
    git(history, "commit", "-qam", "edición", when="2026-04-01T10:00:00")
    return review_warnings(load_settings(history))


def test_an_edit_outside_the_legal_lines_asks_for_the_review_not_for_the_legal_sign_off(history):
    warnings = signed_then_edited(history, "Mantén la voz tranquila", "Habla con voz tranquila")
    assert [w.split(": ", 1)[1] for w in warnings["docs/guias/al-dia.md"]] == [
        "la guía cambió el 2026-04-01 (según git), después de su revisión del 2026-03-15: "
        "revisa el texto y actualiza 'revisado'"
    ]


def test_an_edited_legal_line_asks_for_the_legal_sign_off_again(history):
    warnings = signed_then_edited(history, "tu empresa decide si denuncia", "la empresa decide si denuncia")
    assert any("cambiaron después de la revisión legal del 2026-03-15" in w for w in warnings["docs/guias/al-dia.md"])


def test_an_edited_legal_source_asks_for_the_legal_sign_off_again(history):
    warnings = signed_then_edited(history, "Ley Federal de Protección al Consumidor", "LFPC")
    assert any("'fuentes_legales' cambiaron" in w for w in warnings["docs/guias/al-dia.md"])


def test_uncommitted_edits_count_as_a_change_today(history):
    guide = history / "docs" / "guias" / "al-dia.md"
    guide.write_text(guide.read_text(encoding="utf-8") + "\nUna línea más.\n", encoding="utf-8")
    warnings = review_warnings(load_settings(history))
    assert any("tiene cambios sin confirmar en git" in w for w in warnings["docs/guias/al-dia.md"])


def test_without_git_the_dates_are_not_checked_and_nothing_fails(history, monkeypatch, tmp_path):
    empty = tmp_path / "sin-git"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no git to run
    assert review_warnings(load_settings(history)) == {}


# ---------------------------------------------------------------- KB_COUNTRY


def test_the_country_is_a_setting_checked_once(tmp_path, monkeypatch):
    monkeypatch.setenv("KB_COUNTRY", "mx")
    assert load_settings(tmp_path).country == "MX"
    monkeypatch.delenv("KB_COUNTRY")
    assert load_settings(tmp_path).country == "ES"
    monkeypatch.setenv("KB_COUNTRY", "FR")
    with pytest.raises(ConfigError, match=r"KB_COUNTRY debe ser uno de: ES \(España\), MX \(México\)"):
        load_settings(tmp_path)
    out = CliRunner().invoke(main, ["check", "--no-model"])
    assert out.exit_code != 0 and "KB_COUNTRY debe ser uno de" in out.output and "Traceback" not in out.output


# ---------------------------------------------------------------- API and CLI


@pytest.fixture
def format_searcher(tmp_path, encoder):
    root = make_docs(tmp_path, {"guias/amenazas.md": GOOD})
    settings = load_settings(root)
    return Searcher(memory_index(settings.docs_dir, encoder, root), encoder, settings)


@pytest.mark.parametrize(("country", "legal"), [("MX", "Ministerio Público"), ("ES", "tu empresa decide si denuncia")])
def test_the_api_sends_action_limit_and_the_configured_countrys_legal_lines(format_searcher, country, legal):
    searcher = Searcher(
        format_searcher.index, format_searcher.embedder, format_searcher.settings.with_(country=country)
    )
    client = TestClient(create_app(searcher.settings, lambda: searcher), base_url="http://127.0.0.1")
    results = client.get("/api/search", params={"q": "me amenaza con venir a pegarme", "k": 2}).json()["results"]
    threat, crying = sorted(results, key=lambda r: r["heading"])
    assert list(threat)[:7] == ["id", "title", "heading", "action", "limit", "legal", "text"]
    assert threat["action"].startswith("Avisa ahora") and threat["limit"] == LIMIT
    assert threat["legal"]["country"] == country and legal in threat["legal"]["text"]
    assert crying["action"].startswith("Dale tiempo") and "limit" not in crying and "legal" not in crying
    schema = client.get("/api/openapi.json").json()["components"]["schemas"]["CardOut"]["properties"]
    assert {"action", "limit", "legal"} <= set(schema)


def test_kb_search_prints_the_action_first_then_the_limit(format_searcher, capsys):
    card = next(c for c in format_searcher.cards if c.limit)
    settings = format_searcher.settings.with_(country="MX")
    _print_human(SearchResponse("me amenaza", False, [Result(card, 0.9, 1)]), settings)
    lines = [line.strip() for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert lines[2] == f"▶ Haz: {card.action}" and lines[3] == f"⚠ Límite: {LIMIT}"
    assert lines[4].startswith("⚖ Ley en México: En México") and lines[5].startswith("Una amenaza de daño")
    assert not any("España" in line for line in lines)


# ---------------------------------------------------------------- site


def test_the_hook_keeps_only_the_configured_countrys_legal_blocks():
    page = (
        'Texto.\n\n!!! info "Legal ES"\n    En España.\n\n!!! info "Legal MX"\n    En México.\n\n'
        '```markdown\n!!! info "Legal PE"\n    ejemplo\n```\n\nFin.\n'
    )
    shown = country_legal(page, "MX")
    assert '!!! info "Ley en México"\n    En México.' in shown
    assert "En España" not in shown and '!!! info "Legal PE"\n    ejemplo' in shown and shown.endswith("Fin.\n")


def site_project(tmp_path: Path) -> Path:
    """A project of one guide whose mkdocs.yml points at this checkout's hooks and theme overrides."""
    root = make_docs(
        tmp_path, {"index.md": "---\ntitle: Inicio\nindexar: false\n---\n\nHola.\n", "guias/amenazas.md": GOOD}
    )
    config = (root / "mkdocs.yml").read_text(encoding="utf-8")
    config = config.replace("kb/site/hooks.py", str(ROOT / "kb" / "site" / "hooks.py"))
    config = config.replace("custom_dir: overrides", f"custom_dir: {ROOT / 'overrides'}")
    (root / "mkdocs.yml").write_text(config, encoding="utf-8")
    return root


def test_the_site_opens_each_card_with_its_action_and_shows_one_country(tmp_path):
    root = site_project(tmp_path / "project")
    site = build_site_into(load_settings(root).with_(country="MX"), tmp_path / "site")
    page = (site / "guias" / "amenazas" / "index.html").read_text(encoding="utf-8")
    body = page[page.index('id="amenaza-de-hacer-dano"') :]
    assert (
        body.index("Avisa ahora a tu supervisor")
        < body.index("No te quedes a solas")
        < body.index("Una amenaza de daño")
    )
    assert "Ley en México" in body and "Ministerio Público" in body
    assert "una amenaza puede ser delito" not in page and "Legal ES" not in page
    assert 'href="https://www.diputados.gob.mx/LeyesBiblio/pdf/LFPC.pdf"' in page and "boe.es" not in page
    assert "Revisión legal: Marta Gil, 2026-11-20" in page
    chuleta = (site / "chuleta" / "index.html").read_text(encoding="utf-8")
    assert "Voy a dejar constancia de lo que me acaba de decir." in chuleta and "Ministerio" not in chuleta


def test_an_unknown_country_stops_the_site_build_with_the_spanish_message(tmp_path):
    from kb.errors import SiteBuildError

    settings = load_settings(site_project(tmp_path / "project"))
    with pytest.raises(SiteBuildError, match="KB_COUNTRY debe ser uno de"):
        build_site_into(settings.with_(country="FR"), tmp_path / "site")


# ---------------------------------------------------------------- panel


@pytest.fixture
def panel(tmp_path, embedder, monkeypatch):
    """The agents' panel (AppTest) over an index of the format's guide and the two small ones, for Mexico."""
    from streamlit.testing.v1 import AppTest

    from tests.conftest import SMALL

    root = make_docs(tmp_path / "project", {"guias/amenazas.md": GOOD, **SMALL})
    build_index(root / "docs", root / "index", embedder, root=root)
    for name, value in (("KB_DOCS", root / "docs"), ("KB_INDEX", root / "index"), ("KB_COUNTRY", "MX")):
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("KB_FEEDBACK_DB", str(tmp_path / "feedback.db"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception
    return at


def test_the_panel_shows_the_action_then_the_limit_whole_then_the_rest(panel):
    panel.text_input(key="query").input("me amenaza con venir a pegarme")
    at = panel.button(key="FormSubmitter:buscar-Buscar").click().run()
    assert not at.exception
    shown = [m.value for m in at.markdown]
    first = next(i for i, value in enumerate(shown) if value.startswith("**1. Amenaza de hacer daño**"))
    action, limit, legal, tip = shown[first + 1 : first + 5]
    assert action == "**▶ Avisa ahora a tu supervisor y a seguridad, y anota la amenaza con sus palabras exactas\\.**"
    assert limit.startswith(":orange[**Límite:** No te quedes a solas") and limit.endswith("ocurrido\\.]")
    assert len(limit) > 240  # the tip is cut (at 120 characters under an action); the limit never is
    assert legal.startswith(":blue[**Ley en México:** En México") and "España" not in "".join(shown)
    assert tip.startswith("Una amenaza de daño") and len(tip) <= 121  # under an action the why gets about one line
    html = "\n".join(h.proto.body for h in at.get("html"))
    assert "Voy a dejar constancia" in html  # then the phrases, as before


def test_a_merged_cards_old_anchor_points_from_its_old_page_to_the_card_that_took_it_in():
    from kb.site.hooks import moved_anchors, relative_href

    def card(card_id: str, former: list[str]) -> Card:
        page, anchor = card_id.split("#")
        return Card(
            card_id, "Guía", anchor, "", "escucha", [], [], [], f"{page}/#{anchor}", f"docs/{page}.md:1", former=former
        )

    cards = [card("guias/a#nueva", ["guias/a#vieja", "guias/b#otra"]), card("guias/b#sigue", [])]
    moved = moved_anchors(cards)
    assert moved == {"guias/a": {"vieja": "guias/a/#nueva"}, "guias/b": {"otra": "guias/a/#nueva"}}
    assert relative_href("guias/a/", moved["guias/a"]["vieja"]) == "#nueva"
    assert relative_href("guias/b/", moved["guias/b"]["otra"]) == "../a/#nueva"
    assert relative_href("", "guias/a/#nueva") == "guias/a/#nueva"
