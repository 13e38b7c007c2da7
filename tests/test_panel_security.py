"""The served panel behind a proxy (KB_BEHIND_PROXY=1), in real Chromium: the trainers' CSV reaches
only a signed-in trainer and has no URL anyone else could fetch, and a name locked from one client
still signs in from another (issue 30, M4 and M5).

Each browser context plays one machine: Chromium adds the X-Forwarded-For header nginx would
append (its last hop is the client the panel counts failures for). No index is needed: the
trainers' page reads the feedback database, seeded here.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from argon2 import PasswordHasher
from playwright.sync_api import expect
from streamlit.runtime.memory_media_file_storage import _calculate_file_id

from kb.accounts.identity import AGENT, TRAINER
from kb.accounts.users_file import Accounts
from kb.config import load_settings
from kb.feedback.csvsafe import BOM
from kb.feedback.store import FeedbackStore
from kb.serving.serve import streamlit_command
from tests.conftest import ROOT
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.waits import CEILING_MS, free_port, stop_process, wait_http

pytestmark = pytest.mark.browser
expect.set_options(timeout=CEILING_MS)
PASSWORD = "clave-larga-de-prueba"  # pragma: allowlist secret
FORMULA = "me grita;=cmd|' /C calc'!A0"
ATTACKER, TRAINER_PC = "10.0.0.66", "10.0.0.7"


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"No está {CHROMIUM} (apt-get install chromium).")
    tmp = tmp_path_factory.mktemp("security")
    users = Accounts(tmp / "users.json", hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    users.add("lucia", PASSWORD, TRAINER)
    users.add("ana", PASSWORD, AGENT)
    store = FeedbackStore(tmp / "feedback.db")
    for query in ("me grita y no me deja hablar", FORMULA, "quiere un reembolso"):
        store.record_search(query, top_card_id="guias/a#x", top_fase="desahogo", results=3)
    store.close()
    port = free_port()
    env = dict(
        os.environ,
        KB_INDEX=str(tmp / "sin-indice"),
        KB_FEEDBACK_DB=str(tmp / "feedback.db"),
        KB_USERS_FILE=str(tmp / "users.json"),
        KB_HOST="127.0.0.1",
        KB_BEHIND_PROXY="1",
    )
    log = tmp / "streamlit.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            streamlit_command(load_settings(ROOT), port), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/_stcore/health", proc=proc, log=log)
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def machine(browser, address: str):
    """A browser context that reaches the panel as `address` (the hop nginx would append)."""
    context = browser.new_context(
        viewport={"width": 900, "height": 1000}, locale="es-ES", extra_http_headers={"X-Forwarded-For": address}
    )
    tab = context.new_page()
    tab.set_default_timeout(CEILING_MS)
    return context, tab


def try_sign_in(tab, url: str, name: str, password: str = PASSWORD) -> None:
    if tab.url != url + "formadores":
        tab.goto(url + "formadores")
    tab.get_by_label("Usuario").fill(name)
    tab.get_by_label("Contraseña").fill(password)
    tab.get_by_role("button", name="Entrar").click()


def fetch(url: str) -> tuple[int, bytes]:
    """`url` fetched like `curl`: no session, no cookie."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_the_csv_reaches_the_signed_in_trainer_and_has_no_url(browser, panel):
    context, tab = machine(browser, TRAINER_PC)
    fetched: list[str] = []
    context.on("request", lambda request: fetched.append(request.url))
    try_sign_in(tab, panel, "lucia")
    tab.get_by_text("Sesión iniciada").wait_for()
    with tab.expect_download() as saved:
        tab.get_by_role("button", name="Descargar CSV").click()
    download = saved.value
    data = Path(download.path()).read_bytes()
    assert download.suggested_filename == "informe-kb.csv"
    text = data.decode("utf-8")
    assert text.startswith(BOM) and "Consultas más frecuentes,me grita y no me deja hablar,1" in text
    for delimiter in (",", ";"):  # a Spanish spreadsheet splits on «;»: no cell may start a formula
        cells = [c for row in csv.reader(io.StringIO(text.removeprefix(BOM)), delimiter=delimiter) for c in row]
        assert not any(c.lstrip(" ").startswith(("=", "@", "+")) for c in cells), delimiter
    with tab.expect_download() as again:  # a second click saves it again
        tab.get_by_role("button", name="Descargar CSV").click()
    assert Path(again.value.path()).read_bytes() == data
    # Where Streamlit's download button would have served these bytes: nothing, with or without a session.
    old_url = f"{panel}media/{_calculate_file_id(data, 'text/csv', 'informe-kb.csv')}.csv"
    status, body = fetch(old_url)
    assert status == 404 and b"Consultas" not in body
    assert not [u for u in fetched if urlsplit(u).path.startswith("/media/")]  # the CSV never had a URL
    context.close()


def test_a_visitor_without_a_session_gets_no_csv(browser, panel):
    context, tab = machine(browser, ATTACKER)
    tab.goto(panel + "formadores")
    tab.get_by_label("Usuario").wait_for()
    assert tab.get_by_role("button", name="Descargar CSV").count() == 0
    try_sign_in(tab, panel, "ana")  # an agent is signed in, but not a trainer
    expect(tab.get_by_text("solo para el rol").first).to_be_visible()
    assert tab.get_by_role("button", name="Descargar CSV").count() == 0
    context.close()


def test_a_name_locked_from_one_machine_still_signs_in_from_another(browser, panel):
    attacker_context, attacker = machine(browser, ATTACKER)
    for n in range(5):
        try_sign_in(attacker, panel, "lucia", f"no-es-la-clave-{n}")
        expect(attacker.get_by_text("incorrectos" if n < 4 else "Demasiados intentos").first).to_be_visible()
    try_sign_in(attacker, panel, "lucia")  # even the right password, from that machine
    expect(attacker.get_by_text("Demasiados intentos").first).to_be_visible()
    assert attacker.get_by_text("Sesión iniciada").count() == 0
    context, tab = machine(browser, TRAINER_PC)
    try_sign_in(tab, panel, "lucia")
    expect(tab.get_by_text("Sesión iniciada: lucia (formador)").first).to_be_visible()
    context.close()
    attacker_context.close()
