"""`kb check`: a trainer's mistakes come back as `file:line: message`, at the right line."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

from kb.cli import main
from kb.config import load_settings
from kb.content import load_cards
from kb.feedback.report import ReportError, compute_report
from kb.feedback.store import FeedbackStore
from kb.trainers.check import golden, lint
from tests.conftest import HEAD, ROOT, fill_store, make_docs

BODY = """
## Escuchar sin interrumpir

!!! question "Cuándo"
    - el cliente no me deja hablar

Deje que el cliente termine de hablar antes de responder. Interrumpir hace que vuelva a empezar desde el
principio y con más fuerza, así que conviene esperar, asentir y tomar nota de los datos importantes que
vaya diciendo para poder resumirlos después sin pedirle que lo repita todo otra vez.

!!! tip "Decir"
    - Le escucho, continúe.
"""
FAULTS = {
    # file: (content, [(line, message fragment)])
    "mala-yaml.md": ("---\ntitle: [sin cerrar\ndescription: x\n---\n" + BODY, [(2, "YAML no válido")]),
    "fase.md": (HEAD.replace("fase: calma", "fase: relax") + BODY, [(5, "fase desconocida 'relax'")]),
    "ancla.md": (
        HEAD + BODY + BODY,
        [(25, "encabezado repetido: 'Escuchar sin interrumpir' ya aparece en la línea 13")],
    ),
    "decir-vacio.md": (
        HEAD + BODY.replace("    - Le escucho, continúe.\n", ""),
        [(22, "el bloque 'Decir' no tiene ninguna frase")],
    ),
    "enlace.md": (
        HEAD + BODY + "\nVer [otra guía](no-existe.md) y [aquí](fase.md#no-hay-tal).\n",
        [(25, "enlace roto: 'no-existe.md'"), (25, "enlace roto: la sección '#no-hay-tal' no existe")],
    ),
    "sin-situaciones.md": (
        HEAD.replace("situaciones:\n  - el cliente me grita\n", "situaciones: []\n") + BODY,
        [(6, "la guía no tiene 'situaciones'")],
    ),
    "fuera-de-alcance.txt": (
        "# Preguntas que las guías no responden\ncuánto tarda en llegar un pedido\nEl cliente no me deja hablar\n",
        [(3, "esta pregunta también es una línea «Cuándo» de docs/")],
    ),
    "vacia.md": (
        HEAD + BODY + "\n## Sección vacía\n\n## Otra con texto\n\nTexto corto.\n",
        [(25, "la sección 'Sección vacía' está vacía"), (27, "tiene solo 2 palabras")],
    ),
}


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    root = make_docs(tmp_path_factory.mktemp("faulty"), {name: text for name, (text, _) in FAULTS.items()})
    return load_settings(root)


@pytest.mark.parametrize("name", list(FAULTS))
def test_each_fault_is_reported_at_its_exact_line(faulty, name):
    problems = [p for p in lint(faulty) if p.path == f"docs/{name}"]
    for line, fragment in FAULTS[name][1]:
        assert any(p.line == line and fragment in p.message for p in problems), (
            f"esperado en línea {line}: {fragment!r}; obtenido: {[str(p) for p in problems]}"
        )


def test_messages_are_editor_clickable(faulty):
    first = str(next(p for p in lint(faulty) if p.path == "docs/fase.md"))
    assert first.startswith("docs/fase.md:5: fase desconocida")


def test_two_near_identical_sections_are_named_as_a_pair(tmp_path, embedder):
    twin = BODY.replace("## Escuchar sin interrumpir", "## Dejar hablar al cliente").replace(
        "datos importantes", "datos relevantes"
    )
    root = make_docs(tmp_path, {"gemelas.md": HEAD + BODY + twin})
    problems = [p for p in lint(load_settings(root), embedder=embedder) if "casi idéntica" in p.message]
    assert len(problems) == 1
    assert str(problems[0]).startswith(
        "docs/gemelas.md:13: aviso: la sección 'Escuchar sin interrumpir' es casi "
        "idéntica a 'Dejar hablar al cliente' (docs/gemelas.md:25"
    )


def test_cli_exit_codes(faulty, monkeypatch):
    monkeypatch.setenv("KB_HOME", str(faulty.root))
    out = CliRunner().invoke(main, ["check", "--no-model"])
    assert out.exit_code == 1
    assert "docs/fase.md:5: fase desconocida 'relax'" in out.output
    assert "✘" in out.output.splitlines()[-1]


@pytest.mark.model  # `kb check --golden` loads the model (the session's, memoised: see conftest)
def test_real_guides_pass_check_and_golden(monkeypatch, embedder):
    monkeypatch.setenv("KB_HOME", str(ROOT))
    out = CliRunner().invoke(main, ["check", "--golden"])
    assert out.exit_code == 0, out.output
    assert out.output.splitlines()[-1].startswith("✔ 0 errores")


REFUND = """
## Cambiar el producto cuando no hay reembolso

!!! question "Cuándo"
    - quiere que le devolvamos el dinero

Explique con claridad que el reembolso no es posible en este caso, pero que sí puede cambiarle el
producto por uno nuevo o darle un vale por el mismo importe. Ofrezca las dos opciones, deje que el
cliente elija y confirme por escrito lo acordado antes de terminar la llamada, con el plazo exacto.

!!! tip "Decir"
    - El reembolso no es posible, pero se lo cambio hoy mismo.
"""


def test_golden_reports_a_situation_that_finds_another_guide(tmp_path, embedder):
    stray = HEAD.replace("  - el cliente me grita\n", "  - no para de gritarme y no me deja hablar\n")
    shouting = HEAD + BODY
    for heading, start in (
        ("Dejar que se desahogue", "Espere a que el cliente acabe"),
        ("No cortarle mientras grita", "Permita que el cliente descargue"),
    ):
        shouting += BODY.replace("Escuchar sin interrumpir", heading).replace("Deje que el cliente termine", start)
    root = make_docs(tmp_path, {"gritos.md": shouting, "reembolsos.md": stray + REFUND})
    misses = golden(load_settings(root), embedder)
    assert [(m.guide, m.line, m.query) for m in misses] == [
        ("docs/reembolsos.md", 7, "no para de gritarme y no me deja hablar")
    ]
    miss = misses[0]
    assert all(card.startswith("gritos#") for card in miss.got) and miss.rank == 4
    assert str(miss).startswith(
        "docs/reembolsos.md:7: la situación «no para de gritarme y no me deja hablar» "
        "no encuentra su guía entre los 3 primeros"
    )


# ---------------------------------------------------------------- phrasebook page


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.text: list[str] = []
        self._in_article = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "article":
            self._in_article += 1
        if tag == "a" and self._in_article and attrs.get("href", "").startswith("../guias/"):
            self.links.append(attrs["href"])

    def handle_endtag(self, tag):
        if tag == "article":
            self._in_article -= 1

    def handle_data(self, data):
        if self._in_article:
            self.text.append(data)


def _page(path) -> _Page:
    parser = _Page()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_phrasebook_lists_every_phrase_once_with_working_links(built_site):
    chuleta = _page(built_site / "chuleta" / "index.html")
    text = "".join(chuleta.text)
    phrases = {p for c in load_cards(ROOT / "docs", ROOT) for p in c.say + c.avoid}
    assert len(phrases) > 100
    for phrase in phrases:
        assert text.count(phrase + " —") == 1, phrase
    assert chuleta.links
    for href in set(chuleta.links):
        page, _, anchor = href.partition("#")
        target = _page((built_site / "chuleta" / page / "index.html").resolve())
        assert anchor in target.ids, href


def test_phrasebook_is_generated_not_written_by_hand():
    assert not (ROOT / "docs" / "chuleta.md").exists()


# ---------------------------------------------------------------- kb report


@pytest.fixture
def feedback_db(tmp_path):
    fill_store(FeedbackStore(tmp_path / "feedback.db"))
    return tmp_path / "feedback.db"


def test_report_as_markdown_and_csv(feedback_db, tmp_path, monkeypatch):
    monkeypatch.setenv("KB_FEEDBACK_DB", str(feedback_db))
    out = CliRunner().invoke(main, ["report", "--csv", str(tmp_path / "r.csv")])
    assert out.exit_code == 0
    assert "| receta de paella | 2 |" in out.output
    assert "| Solución | 1 | 0 | 2 |" in out.output
    rows = (tmp_path / "r.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "\ufefftabla,clave,valor1,valor2,valor3"  # UTF-8 with BOM: spreadsheets read the accents
    assert "Tarjetas con más 👎,guias/b#y,2,0" in rows


def test_report_without_database_is_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("KB_FEEDBACK_DB", str(tmp_path / "nada.db"))
    out = CliRunner().invoke(main, ["report"])
    assert out.exit_code == 1 and "No existe la base de datos" in out.output
    with pytest.raises(ReportError):
        compute_report(tmp_path / "nada.db")


def test_report_lists_guides_overdue_for_review(feedback_db, tmp_path, monkeypatch):
    root = make_docs(
        tmp_path / "project",
        {
            "guias/al-dia.md": HEAD + BODY,
            "guias/caducada.md": HEAD.replace("revisado: 2026-11-20", "revisado: 2020-01-01").replace(
                "revisar_cada: 3650", "revisar_cada: 30"
            )
            + BODY,
        },
    )
    monkeypatch.setenv("KB_HOME", str(root))
    monkeypatch.setenv("KB_FEEDBACK_DB", str(feedback_db))
    out = CliRunner().invoke(main, ["report"])
    assert out.exit_code == 0, out.output
    section = out.output.split("## Guías pendientes de revisión", 1)[1]
    assert "| docs/guias/caducada.md | Equipo de pruebas | 2020-01-31 |" in section
    assert "al-dia" not in section
