"""The practice page's drills (kb.site.drills, kb.site.practice) and the trainers' markup for it
(kb.content.practice, kb.trainers.scenarios): right answers, safe wrong options, `kb check` at file:line."""

from __future__ import annotations

import urllib.request

import pytest
from click.testing import CliRunner

from benchmarks.practice import AUDIT_DUPLICATES
from kb.cli import main
from kb.config import load_settings
from kb.content import cards_of, load_docs, read_guide, read_guides, read_mkdocs
from kb.content.practice import excluded_sections, practice_cards, practice_problems, scenarios
from kb.site.closeness import ENGINE, WORDS
from kb.site.drills import CLOSE_SHARE, Chooser, related_cards
from kb.site.practice import build_practice, practice_data, practice_markdown, read_practice, strip_scenarios
from kb.trainers.check import lint
from tests.conftest import HEAD, ROOT, SMALL, guide, make_docs
from tests.support.waits import free_port, stop_process, wait_http, wait_until

CALM_BODY = """??? question "Cuándo"
    - me estoy poniendo nervioso con el cliente

No discuta ni muestre nervios: su tono tranquilo acaba contagiando al cliente y la conversación baja de
tono. Respire hondo antes de contestar y hable más despacio de lo normal.

!!! tip "Decir"
    - Entiendo que esté molesto; vamos a resolverlo.

!!! danger "Evitar"
    - Cálmese, por favor.

??? example "Práctica"
    - el cliente me levanta la voz y noto que me tiembla la mía
"""
CALM = '\n## Mantener la calma { data-fase="calma" }\n\n' + CALM_BODY
GROUP = """
## Para coordinadores { data-practica="no" }

### Repartir las llamadas difíciles

Reparta las llamadas más duras entre todo el equipo para que nadie cargue con todas ellas seguidas y
haya tiempo para recuperarse entre una y otra.
"""


def test_markup_keeps_cards_out_and_reads_scenarios_at_their_line(tmp_path):
    root = make_docs(
        tmp_path,
        {"g.md": HEAD + CALM + SHOWN + GROUP, "fuera.md": HEAD.replace("---\n", "---\npractica: false\n", 1) + CALM},
    )
    docs = root / "docs"
    mine = read_guide(docs / "g.md", docs, root)
    assert excluded_sections(mine) == {"para-coordinadores", "repartir-las-llamadas-dificiles"}  # inherited
    assert [p for p in practice_problems(mine)] == []  # the fenced example is no scenario
    assert [c.id for c in practice_cards(mine)] == ["g#mantener-la-calma"]
    (scenario,) = scenarios(mine)
    assert (scenario.source, scenario.card_id) == ("docs/g.md:28", "g#mantener-la-calma")
    assert scenario.text == "el cliente me levanta la voz y noto que me tiembla la mía"
    card = load_docs(docs, root).cards[0]
    assert "tiembla" not in card.text and "tiembla" not in card.embedding_text()  # never part of the card
    other = read_guide(docs / "fuera.md", docs, root)
    assert practice_cards(other) == [] and scenarios(other) == []


SHOWN = '\nAsí se escribe:\n\n```markdown\n??? example "Práctica"\n    - una situación de ejemplo\n```\n'
"""A «Práctica» block shown as an example inside fenced code: neither a scenario nor hidden."""


def test_guide_pages_do_not_show_the_scenarios():
    page = strip_scenarios(HEAD + CALM + SHOWN + "\nDespués.\n")
    assert "tiembla" not in page and "una situación de ejemplo" in page
    assert "Cálmese, por favor." in page and page.rstrip().endswith("Después.")


def test_practice_markup_without_an_answer_is_reported_at_its_line(tmp_path):
    bad = GROUP.replace('data-practica="no"', 'data-practica="quizá"')
    excluded = CALM.replace('{ data-fase="calma" }', '{ data-fase="calma" data-practica="no" }')
    files = {
        "valor.md": HEAD + bad,
        "fuera.md": HEAD + excluded,
        "cabecera.md": HEAD.replace("---\n", "---\npractica: quizá\n", 1) + CALM,
    }
    problems = [str(p) for p in lint(load_settings(make_docs(tmp_path, files)))]
    assert any(p.startswith('docs/valor.md:13: data-practica="quizá" no es válido') for p in problems), problems
    assert any(
        p.startswith("docs/fuera.md:28: el escenario «el cliente me levanta la voz")
        and "está fuera de la práctica" in p
        for p in problems
    ), problems
    assert any(p.startswith("docs/cabecera.md:2: 'practica' debe ser true o false") for p in problems), problems


# ---------------------------------------------------------------- every drill of the real guides


def check_drills(practice) -> int:
    """Every drill's right answer is the card its situation came from, and no wrong option is too close."""
    guides = [g for g in read_guides(ROOT / "docs", ROOT) if g.ok]
    cards = {c.id: c for c in practice.cards}
    written = {(s.card_id, s.text) for g in guides for s in scenarios(g)}
    related = related_cards(guides, [c for g in guides for c in cards_of(g)])
    chooser = Chooser(practice.close, practice.cards, {g.page: i for i, g in enumerate(practice.guides)}, related)
    assert chooser.bar == practice.bar
    for drill in practice.drills:
        right = cards[drill.card]
        assert drill.situation in right.when or (drill.card, drill.situation) in written, drill
        file, line = drill.source.rsplit(":", 1)
        assert drill.situation in (ROOT / file).read_text(encoding="utf-8").split("\n")[int(line) - 1]
        assert drill.options.count(drill.card) == 1 and 3 <= len(drill.options) <= 4
        for other in drill.options:
            if other != drill.card:
                assert practice.close.similarity(drill.card, other) < practice.bar, (drill.situation, other)
                assert not chooser.too_close(drill.card, other), (drill.situation, other)
                for a, b in AUDIT_DUPLICATES:
                    assert {drill.card, other} != {a, b}
        if drill.phrases:
            says = [p for p in drill.phrases if p[1] == "say"]
            assert says == [(drill.card, "say", says[0][2])] and len(drill.phrases) == 3
            wrong = [getattr(cards[c], kind)[i] for c, kind, i in drill.phrases if kind == "avoid"]
            assert len(set(wrong)) == 2 and not set(wrong) & set(right.say)
    return len(practice.drills)


@pytest.mark.model
def test_every_drill_has_one_right_answer_with_the_engine(built_index):
    practice = build_practice(ROOT / "docs", ROOT, built_index.index_dir)
    assert practice.close.mode == ENGINE
    n = check_drills(practice)
    cards_with_drills = {d.card for d in practice.drills}
    assert n >= 3 * len(practice.cards) and len(cards_with_drills) >= 0.9 * len(practice.cards)
    for a, b in AUDIT_DUPLICATES:  # the threshold catches every duplicate pair the audit found
        if a in practice.close.position and b in practice.close.position:
            assert practice.close.similarity(a, b) >= practice.close.quantile(CLOSE_SHARE)
    again = build_practice(ROOT / "docs", ROOT, built_index.index_dir)
    assert practice_data(again) == practice_data(practice)  # seeded: a rebuild gives the same page


def test_without_an_index_the_words_choose_and_the_page_says_so(tmp_path):
    practice = build_practice(ROOT / "docs", ROOT, tmp_path / "sin-indice")
    assert practice.close.mode == WORDS and "no hay índice" in practice.close.reason
    assert check_drills(practice) >= 2 * len(practice.cards)
    assert practice_data(build_practice(ROOT / "docs", ROOT, tmp_path / "sin-indice")) == practice_data(practice)
    assert "no hay índice de búsqueda: opciones elegidas por las palabras en común" in practice_markdown(practice)


def test_the_week_review_follows_the_reading_order_and_index_md_stays_out(tmp_path):
    data = practice_data(build_practice(ROOT / "docs", ROOT, tmp_path / "sin-indice"))
    nav = [p[: -len(".md")] for p in read_mkdocs(ROOT / "mkdocs.yml").nav_pages if p.startswith("guias/")]
    assert [g["page"] for g in data["guides"]] == nav
    week = next(s for s in data["sets"] if s["key"] == "semana")
    first_pass = [data["drills"][n]["card"] for n in week["drills"][: len({d["card"] for d in data["drills"]})]]
    assert first_pass == sorted(set(first_pass)) and len(set(first_pass)) == len(first_pass)
    assert not any(c["id"].startswith("index#") for c in data["cards"])


def test_the_built_site_carries_the_drills(built_site):
    data = read_practice(built_site)
    assert data is not None and len(data["drills"]) > 100
    html = (built_site / "practica" / "index.html").read_text(encoding="utf-8")
    assert "kb-practica.js" in html and "Práctica" in html
    assert not (ROOT / "docs" / "practica.md").exists()  # generated, never written by hand
    assert "kb-practica-datos" not in (built_site / "search" / "search_index.json").read_text(encoding="utf-8")


# ---------------------------------------------------------------- kb check: a planted ambiguous scenario


def test_kb_check_reports_an_ambiguous_and_an_unanswered_scenario_at_their_line(tmp_path, monkeypatch, embedder):
    calm = SMALL["guias/enfado.md"].replace(
        "No discuta ni muestre nervios: su tono tranquilo acaba contagiando al cliente.",
        "No discuta ni muestre nervios: su tono tranquilo acaba contagiando al cliente.\n\n"
        '??? example "Práctica"\n'
        "    - el cliente quiere que le devolvamos el dinero y solo podemos cambiarle el producto\n"
        "    - estoy perdiendo los nervios y me entran ganas de discutir con el cliente\n",
    )
    root = make_docs(tmp_path, {"guias/enfado.md": calm, "guias/reembolsos.md": SMALL["guias/reembolsos.md"]})
    lines = calm.split("\n")
    ambiguous = next(n for n, t in enumerate(lines, 1) if "devolvamos el dinero" in t)
    monkeypatch.setenv("KB_HOME", str(root))
    out = CliRunner().invoke(main, ["check"])
    assert out.exit_code == 1, out.output
    reported = [line for line in out.output.splitlines() if "escenario" in line]
    assert len(reported) == 1, out.output
    assert reported[0].startswith(
        f"docs/guias/enfado.md:{ambiguous}: el escenario «el cliente quiere que le devolvamos"
    )
    assert "Qué se puede y qué no" in reported[0]


# ---------------------------------------------------------------- live preview


def test_the_live_preview_regenerates_the_practice_page_when_a_guide_changes(tmp_path):
    from kb.site.build import start_live_site

    files = {"guias/a.md": guide("Guía A", "calma", {"Mantener la calma": CALM_BODY})}
    files["guias/b.md"] = SMALL["guias/reembolsos.md"]
    root = make_docs(tmp_path, files)
    config = (root / "mkdocs.yml").read_text(encoding="utf-8")
    config = config.replace("kb/site/hooks.py", str(ROOT / "kb" / "site" / "hooks.py"))
    (root / "mkdocs.yml").write_text(config.replace("custom_dir: overrides", f"custom_dir: {ROOT / 'overrides'}"))
    settings = load_settings(root).with_(site_port=free_port(), index_dir=tmp_path / "index")
    server = start_live_site(settings)
    url = f"http://127.0.0.1:{settings.site_port}/practica/"

    def page() -> str:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode("utf-8")

    try:
        wait_http(url, proc=server)
        assert "me levanta la voz" in page()
        guide_file = root / "docs" / "guias" / "a.md"
        guide_file.write_text(guide_file.read_text().replace("me levanta la voz", "me sube el tono"), encoding="utf-8")
        wait_until(lambda: "me sube el tono" in page(), "la página de práctica regenerada tras guardar la guía")
    finally:
        stop_process(server)
