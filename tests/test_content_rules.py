"""Content rules (kb.content_rules), the spell check (kb.trainers.spelling) and what the built site shows."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from kb.content import read_guide, read_guides
from kb.content.rules import governance_problems, overdue_guides, phrase_problems
from tests.conftest import HEAD as TEST_HEAD
from tests.conftest import ROOT, make_docs
from tests.support.parts import missing

TODAY = date(2026, 11, 26)

HEAD = TEST_HEAD.replace("Equipo de pruebas", "Equipo de Formación").replace("revisar_cada: 3650", "revisar_cada: 180")
# HEAD is 11 lines; BODY starts on line 12.
BODY = """
## Escuchar sin interrumpir

??? question "Cuándo"
    - el cliente no me deja hablar

Deje que el cliente termine de hablar antes de responder y tome nota de los datos importantes.

!!! tip "Decir"
    - Le escucho, continúe.
    - Le llamo el [día] a las [hora].

!!! danger "Evitar"
    - Cálmese.
"""
SAY = "    - Le escucho, continúe.\n"  # line 21
AVOID = "    - Cálmese.\n"  # line 25

# fmt: off
PHRASE_FAULTS = {
    # file: (content, [(line, severity, message fragment)])
    name: (HEAD + BODY.replace(old, new), [(line, severity, message)])
    for name, old, new, line, severity, message in [
        ("cifras.md", SAY, "    - Le llamo el jueves 12 a las 10.\n", 21, "error", "lleva cifras fuera de un hueco"),
        ("acotacion.md", SAY, "    - (En voz baja) Vamos a verlo juntos.\n", 21, "error", "empieza con una acotación entre paréntesis"),
        ("acotacion-evitar.md", AVOID, "    - (Al equipo) Otra vez el pesado.\n", 25, "error", "la frase de 'Evitar' empieza con una acotación"),
        ("acotacion-final.md", AVOID, "    - Tomo nota (sin anotar nada).\n", 25, "warning", "termina con una acotación entre paréntesis"),
        ("hueco.md", SAY, "    - Se lo enviamos el [día sin falta.\n", 21, "error", "hueco sin cerrar «[día»"),
        ("conducta.md", AVOID, "    - Colgar sin avisar.\n", 25, "warning", "parece describir una conducta («Colgar…»)"),
    ]
}
# fmt: on

# fmt: off
GOVERNANCE_FAULTS = {
    name: (HEAD.replace(old, new) + BODY, expected)
    for name, old, new, expected in [
        ("sin-responsable.md", "responsable: Equipo de Formación\n", "", [(1, "error", "falta la clave de revisión 'responsable'")]),
        ("sin-claves.md", "responsable: Equipo de Formación\nrevisado: 2026-11-20\nrevisar_cada: 180\n", "",
         [(1, "error", "falta la clave de revisión 'revisado'"), (1, "error", "falta la clave de revisión 'revisar_cada'")]),
        ("responsable-vacio.md", "responsable: Equipo de Formación", "responsable: ''", [(8, "error", "'responsable' debe ser un texto no vacío")]),
        ("fecha-mala.md", "revisado: 2026-11-20", "revisado: el martes", [(9, "error", "'revisado' debe ser una fecha AAAA-MM-DD")]),
        ("fecha-futura.md", "revisado: 2026-11-20", "revisado: 2027-01-15", [(9, "error", "'revisado' es una fecha futura (2027-01-15)")]),
        ("cada-malo.md", "revisar_cada: 180", "revisar_cada: seis meses", [(10, "error", "'revisar_cada' debe ser un número entero de días mayor que 0")]),
        ("cada-cero.md", "revisar_cada: 180", "revisar_cada: 0", [(10, "error", "'revisar_cada' debe ser un número entero")]),
        ("caducada.md", "revisado: 2026-11-20", "revisado: 2026-01-10", [(9, "warning", "revisión caducada (revisada el 2026-01-10, cada 180 días)")]),
    ]
}
# fmt: on


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    files = {name: text for name, (text, _) in {**PHRASE_FAULTS, **GOVERNANCE_FAULTS}.items()}
    files["limpia.md"] = HEAD + BODY
    root = make_docs(tmp_path_factory.mktemp("rules"), files)
    return {g.rel.removeprefix("docs/"): g for g in read_guides(root / "docs", root)}


def _assert_reported(problems, expected):
    for line, severity, fragment in expected:
        assert any(p.line == line and p.severity == severity and fragment in p.message for p in problems), (
            f"esperado en línea {line} ({severity}): {fragment!r}; obtenido: {[str(p) for p in problems]}"
        )


@pytest.mark.parametrize("name", list(PHRASE_FAULTS))
def test_each_phrase_fault_is_reported_at_its_exact_line(faulty, name):
    _assert_reported(phrase_problems(faulty[name]), PHRASE_FAULTS[name][1])


@pytest.mark.parametrize("name", list(GOVERNANCE_FAULTS))
def test_each_governance_fault_is_reported_at_its_exact_line(faulty, name):
    _assert_reported(governance_problems(faulty[name], TODAY), GOVERNANCE_FAULTS[name][1])


def test_a_clean_guide_has_no_rule_problems(faulty):
    guide = faulty["limpia.md"]
    assert phrase_problems(guide) == []
    assert governance_problems(guide, TODAY) == []


def test_slots_may_hold_digits_and_links_are_not_slots(tmp_path):
    text = HEAD + BODY.replace(SAY, "    - Le llamo antes de las [hora, p. ej. 10:00], como quedamos.\n")
    root = make_docs(tmp_path, {"g.md": text})
    assert phrase_problems(read_guide(root / "docs" / "g.md", root / "docs", root)) == []


def test_trainer_pages_need_no_governance(tmp_path):
    root = make_docs(tmp_path, {"f.md": "---\ntitle: Formadores\nindexar: false\n---\nTexto.\n"})
    assert governance_problems(read_guide(root / "docs" / "f.md", root / "docs", root), TODAY) == []


def test_overdue_guides_lists_due_dates(faulty):
    due = overdue_guides(list(faulty.values()), TODAY)
    assert [(g.rel, d.isoformat()) for g, d in due] == [("docs/caducada.md", "2026-07-09")]


# ---------------------------------------------------------------- the real docs


@pytest.fixture(scope="module")
def real_guides():
    return read_guides(ROOT / "docs", ROOT)


def test_real_docs_have_no_phrase_or_governance_errors(real_guides):
    today = date.today()
    problems = [
        str(p) for g in real_guides for p in phrase_problems(g) + governance_problems(g, today) if p.severity == "error"
    ]
    assert problems == []
    indexed = [g for g in real_guides if g.indexed]
    assert len(indexed) >= 10
    assert all({"responsable", "revisado", "revisar_cada"} <= set(g.meta) for g in indexed)


def test_real_docs_pass_the_spell_check(real_guides):
    """The same check `kb check` runs (kb.trainers.check.spelling_problems): no unknown word in any guide."""
    from kb.trainers.check import spelling_problems

    problems = [str(p) for p in spelling_problems(real_guides)]
    if any("no se ha revisado la ortografía" in p for p in problems):
        missing(f"sin corrección ortográfica: {problems}")
    assert problems == []


def test_spell_check_finds_a_misspelling_at_its_line():
    from kb.trainers.spelling import WORDS_FILE, SpellingUnavailable, unknown_words

    texts = [
        ("a.md", 3, "Le llamo el [día] para ver si todo va bien."),
        ("a.md", 4, "Esto es una frase con un herror y un [enlace](guias/x.md#ancla-rara) y `codigo`."),
        ("b.md", 9, "Hay que fidelizar al cliente."),
    ]
    try:
        unknown = unknown_words(texts, WORDS_FILE)
    except SpellingUnavailable as exc:
        missing(str(exc))
    assert unknown == [("a.md", 4, "herror")]


def test_chat_register_passes_only_in_cuando_lines():
    """Shorthand and missing accents pass in a «Cuándo» line; the same words in prose are flagged,
    and a real misspelling is flagged in both."""
    from kb.trainers.spelling import WORDS_FILE, SpellingUnavailable, chat_words, unknown_words

    chat = "cte dice q la gestion no avanzo xq nadie le llamo, q hago con el herror"
    texts = [("a.md", 7, chat), ("a.md", 20, chat)]
    try:
        unknown = unknown_words(texts, WORDS_FILE, chat_lines=frozenset({("a.md", 7)}))
    except SpellingUnavailable as exc:
        missing(str(exc))
    assert {"q", "xq"} <= chat_words()
    assert [w for f, n, w in unknown if n == 7] == ["herror"]
    assert {w for f, n, w in unknown if n == 20} == {"q", "gestion", "xq", "herror"}


# ---------------------------------------------------------------- the built site


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site-rules")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_every_guide_page_shows_its_review_line(site, real_guides):
    for guide in (g for g in real_guides if g.indexed):
        html = (site / guide.site_path / "index.html").read_text(encoding="utf-8")
        revisado = guide.meta["revisado"]
        expected = f"Revisado el {revisado:%d/%m/%Y} · Responsable: {guide.meta['responsable']}"
        assert expected in html, guide.rel


def test_slots_are_highlighted_in_the_phrasebook_and_guides(site):
    chuleta = (site / "chuleta" / "index.html").read_text(encoding="utf-8")
    assert '<span class="kb-slot">[día]</span>' in chuleta
    assert '<span class="kb-slot">[importe autorizado]</span>' in chuleta
    guide = (site / "guias" / "reglas-de-oro" / "index.html").read_text(encoding="utf-8")
    assert '<span class="kb-slot">[número de incidencia]</span>' in guide
    assert 'href="../cliente-sin-razon/#no-siempre-tiene-razon"' in guide  # links stay links
    assert "stylesheets/kb.css" in guide


def test_highlight_slots_leaves_links_and_code_alone():
    from kb.site.hooks import highlight_slots

    text = "Le llamo el [día]; ver [guía](x.md) y `[código]`.\n```\n[bloque]\n```"
    out = highlight_slots(text)
    assert '<span class="kb-slot">[día]</span>' in out
    assert "[guía](x.md)" in out and "`[código]`" in out and "\n[bloque]\n" in out
