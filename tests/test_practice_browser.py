"""The practice page («Práctica») in a real Chromium, with the keyboard alone, as a new employee uses it.

The site is the real docs built by kb's own `mkdocs build --strict` (`built_site`) and served as plain
static files: the drills must work with no API. Debian's chromium through Playwright; never
`playwright install`. axe-core from node_modules (`npm ci`), as in tests/test_browser.py.
"""

from __future__ import annotations

import functools
import http.server
import threading

import pytest
from playwright.sync_api import expect

from tests import test_browser as panel
from tests.support.waits import CEILING_MS, free_port, page_wait
from tests.test_browser import axe_violations, dump

pytestmark = pytest.mark.browser
expect.set_options(timeout=CEILING_MS)

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}
chromium_path = panel.chromium_path  # the panel tests' fixtures: Debian's chromium, one browser per module
browser = panel.browser
MAX_TABS = 120
"""Tab presses allowed to reach one control: the header, the tabs and the sidebar come first."""
ACTIVE = "() => { const a = document.activeElement; return a ? (a.innerText || a.value || '').trim() : ''; }"
STATE = "() => JSON.parse(localStorage.getItem('kb-practica') || 'null')"


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="module")
def site_url(built_site):
    """The built site served as static files only (no API behind it)."""
    handler = functools.partial(Quiet, directory=str(built_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def tab_to(page, text: str) -> None:
    """Press Tab until the focused element reads `text` (what a keyboard user does)."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate(ACTIVE) == text:
            return
    dump(page, "practica-tab")
    raise AssertionError(f"con {MAX_TABS} pulsaciones de Tab el foco no llega a «{text}»")


def settled_axe(page, name: str) -> list[dict]:
    """axe once no transition runs (Material's «back to top» button fades in when focus scrolls the page,
    and half-faded text is measured with half its contrast)."""
    page_wait(
        page, "() => document.getAnimations().every(a => a.playState !== 'running')", "el fin de las transiciones"
    )
    return axe_violations(page, name)


def focused_is(page, selector: str) -> bool:
    return bool(page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector))


def choose(page, index: int) -> None:
    """With focus on the first radio of a group: check option `index` with Space and the arrows."""
    assert focused_is(page, "input[type=radio]")
    page.keyboard.press("Space")
    for _ in range(index):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    assert page.evaluate(ACTIVE) == "Comprobar"
    page.keyboard.press("Enter")


def current_drill(page) -> dict:
    """The drill on screen, from the page's own data and the round kept in localStorage."""
    return page.evaluate(
        """() => {
        const data = JSON.parse(document.getElementById('kb-practica-datos').textContent);
        const state = JSON.parse(localStorage.getItem('kb-practica'));
        const id = state.round.ids[state.round.pos];
        const drill = data.drills.find(d => d.id === id);
        return {drill, card: data.cards[drill.card]};
    }"""
    )


def answer_round(page, wrong_card: set[int], wrong_phrase: set[int]) -> tuple[int, set[str]]:
    """Answer the 10 drills of a round by keyboard; returns (how many fully right, card titles to review)."""
    right, missed = 0, set()
    for n in range(1, 11):
        expect(page.locator("#kb-practica-ejercicio")).to_have_text(f"Ejercicio {n} de 10")
        assert focused_is(page, "#kb-practica-ejercicio")
        now = current_drill(page)
        drill, card = now["drill"], now["card"]
        good = drill["options"].index(drill["card"])
        page.keyboard.press("Tab")
        choose(page, (good + 1) % len(drill["options"]) if n in wrong_card else good)
        ok = n not in wrong_card
        if drill["phrases"]:
            page_wait(
                page,
                "() => document.activeElement.name && document.activeElement.name.endsWith('-dices')",
                "el foco en «¿Qué dices?»",
            )
            say = next(i for i, p in enumerate(drill["phrases"]) if p[1] == "say")
            choose(page, (say + 1) % len(drill["phrases"]) if n in wrong_phrase else say)
            ok = ok and n not in wrong_phrase
        right += ok
        if not ok:
            missed.add(card["title"])
        label = "Ver el resultado" if n == 10 else "Siguiente ejercicio"
        page_wait(page, f"() => ({ACTIVE})() === {label!r}", f"el foco en «{label}»")
        assert page.locator(".kb-practica__veredicto").first.inner_text() in ("✔ Correcto.", "✘ No es esa.")
        page.keyboard.press("Enter")
    return right, missed


def test_a_round_by_keyboard_from_the_navigation_and_the_progress_survives_a_reload(browser, site_url):
    context = browser.new_context(viewport=DESKTOP, locale="es-ES")
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(site_url)
    tab_to(page, "Práctica")
    page.keyboard.press("Enter")
    page.wait_for_url("**/practica/")
    expect(page.locator("#kb-practica-elige")).to_be_visible()
    assert settled_axe(page, "práctica (inicio)") == []

    tab_to(page, "Empezar el repaso de la primera semana")
    page.keyboard.press("Enter")
    expect(page.locator("#kb-practica-ejercicio")).to_have_text("Ejercicio 1 de 10")
    assert settled_axe(page, "práctica (ejercicio)") == []
    right, missed = answer_round(page, wrong_card={3, 7}, wrong_phrase={5})

    result = page.locator("#kb-practica-resultado")
    expect(result).to_have_text(f"Resultado: {right} de 10")
    assert focused_is(page, "#kb-practica-resultado")
    review = {t.split(" (")[0] for t in page.locator(".kb-practica__repasar").first.locator("a").all_inner_texts()}
    assert review == missed and len(missed) >= 2
    assert settled_axe(page, "práctica (resultado)") == []

    page.reload()
    expect(page.locator("#kb-practica-resultado")).to_have_text(f"Resultado: {right} de 10")
    progress = page.locator(".kb-practica__progreso")
    expect(progress).to_contain_text(f"{right} aciertos de 10 ejercicios")
    for title in missed:
        expect(progress).to_contain_text(title)
    state = page.evaluate(STATE)
    assert sum(s["right"] for s in state["stats"].values()) == right
    assert sum(s["answered"] for s in state["stats"].values()) == 10

    tab_to(page, "Empezar de nuevo")
    page.keyboard.press("Enter")
    expect(page.locator(".kb-practica__progreso")).to_contain_text("Todavía no has hecho ningún ejercicio")
    assert page.evaluate(STATE) is None
    context.close()


def test_the_practice_reads_on_a_phone_without_sideways_scrolling(browser, site_url):
    context = browser.new_context(viewport=PHONE, locale="es-ES", is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(site_url + "practica/")
    page.get_by_role("button", name="Practicar esta guía").click()
    expect(page.locator("#kb-practica-ejercicio")).to_have_text("Ejercicio 1 de 10")
    wide = page.evaluate("() => document.documentElement.scrollWidth")
    assert wide <= PHONE["width"], f"la página mide {wide} px de ancho en un móvil de {PHONE['width']}"
    assert settled_axe(page, "práctica (móvil)") == []
    context.close()
