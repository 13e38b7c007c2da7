"""The site's header search on kb's engine (docs/javascripts/kb-search.js), in a real Chromium.

One uvicorn app serves the built site and the API on one origin: typing a situation in
mkdocs-material's search box shows the engine's cards in Material's own result list.
While the API is still loading (503 «arrancando», as under `kb serve`) and with the site served
as plain static files (no API), the built-in search answers.
Drives the Debian chromium through Playwright; never `playwright install`.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest

from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.waits import CEILING, CEILING_MS, free_port

pytestmark = pytest.mark.browser

SITUATION = "amenaza con ponerlo en twitter"
EXPECTED_ANCHOR = "amenazas-de-publicarlo-en-redes-sociales"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} no está instalado (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _type_in_header_search(page, text: str) -> None:
    box = page.locator("input.md-search__input")
    box.click()
    box.press_sequentially(text, delay=20)


def test_header_search_asks_the_engine_when_the_api_serves_the_site(
    browser, built_index, searcher, built_site, tmp_path
):
    from kb.api import create_app
    from kb.api.server import start_api_thread
    from kb.feedback.store import FeedbackStore

    store = FeedbackStore(tmp_path / "fb.db")
    app = create_app(built_index, lambda: searcher, store=store, site_dir=built_site)
    handle = start_api_thread(app, "127.0.0.1", free_port())
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        searches: list[tuple[str, str, str | None]] = []
        page.on(
            "request", lambda r: searches.append((r.method, r.url, r.post_data)) if "/api/search" in r.url else None
        )
        page.goto(handle.url + "/")
        page.locator("html[data-kb-engine='on']").wait_for(state="attached")  # health: no token needed here
        _type_in_header_search(page, SITUATION)
        first = page.locator(".md-search-result__list li[data-kb-engine] a.md-search-result__link").first
        first.wait_for(timeout=CEILING_MS)
        assert EXPECTED_ANCHOR in (first.get_attribute("href") or "")
        # By POST, the query in the body: nothing that logs URLs sees what the reader typed.
        assert searches and all(m == "POST" and u.endswith("/api/search") for m, u, _ in searches)
        assert SITUATION in (searches[-1][2] or "")
        assert app.state.kb.searches.wait_idle(30)
        assert SITUATION in [r["query"] for r in store.rows("searches")]  # in the trainers' report too
        assert first.get_attribute("href").startswith(handle.url)  # rebased onto this origin
        assert (
            "motor de búsqueda" in page.locator(".md-search-result__meta").inner_text()
            or "fiable" in page.locator(".md-search-result__meta").inner_text()
        )
        first.click()
        page.wait_for_url(f"**#{EXPECTED_ANCHOR}")
        page.close()
    finally:
        handle.stop()


def test_while_the_api_is_arrancando_the_builtin_search_answers_then_the_engine(
    browser, built_index, searcher, built_site
):
    """`kb serve` loads the API's searcher in the background: its 503 «arrancando» is not an error
    for the site's box, which leaves the built-in results and asks the engine again later."""
    from kb.api import create_app
    from kb.api.server import SearcherSlot, start_api_thread

    loaded = threading.Event()

    def loader(_settings):
        loaded.wait(CEILING)  # the model and the index, held back until the test says
        return searcher, None

    slot = SearcherSlot(built_index, loader)
    loading = slot.load_in_background()
    handle = start_api_thread(create_app(built_index, slot, site_dir=built_site), "127.0.0.1", free_port())
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(handle.url + "/")
        with page.expect_response(lambda r: r.url.endswith("/api/health") and r.status == 503, timeout=CEILING_MS):
            _type_in_header_search(page, "supervisor")  # the search asks /api/health again: still loading
        page.locator(".md-search-result__list li.md-search-result__item").first.wait_for(timeout=CEILING_MS)
        assert page.locator(".md-search-result__list li[data-kb-engine]").count() == 0
        loaded.set()
        loading.join(CEILING)
        page.locator("input.md-search__input").fill("")
        _type_in_header_search(page, SITUATION)
        first = page.locator(".md-search-result__list li[data-kb-engine] a.md-search-result__link").first
        first.wait_for(timeout=CEILING_MS)
        assert EXPECTED_ANCHOR in (first.get_attribute("href") or "")
        assert not errors
        page.close()
    finally:
        loaded.set()
        handle.stop()


def test_builtin_search_still_answers_on_plain_static_files(browser, built_site):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(built_site))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
        _type_in_header_search(page, "supervisor")
        page.locator(".md-search-result__list li.md-search-result__item").first.wait_for(timeout=CEILING_MS)
        assert page.locator(".md-search-result__list li[data-kb-engine]").count() == 0
        page.close()
    finally:
        server.shutdown()
