"""Sign-in and roles in the panel (AppTest): who sees the trainers' page, the rebuild button, the agents' panel.

The index is left missing on purpose (KB_INDEX → an empty folder): the rebuild button only
appears then, and no test here needs search results. (Real browser: tests/test_browser.py.)"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import streamlit as st
from argon2 import PasswordHasher
from streamlit.testing.v1 import AppTest

from kb.accounts.identity import AGENT, TRAINER, Session, User
from kb.accounts.users_file import Accounts
from kb.feedback.store import FeedbackStore
from tests.conftest import ROOT
from tests.support.waits import CEILING, wait_until

pytestmark = pytest.mark.model  # every panel run loads the model

APP = str(ROOT / "app.py")
TRAINERS = "kb/panel/trainers.py"
PASSWORD = "clave-larga-de-prueba"  # pragma: allowlist secret
REPORT_TITLE = "Lo que buscan los agentes"


def make_accounts(path: Path) -> Accounts:
    """A trainer «lucia» and an agent «ana»; argon2 with tiny costs keeps the tests fast."""
    accounts = Accounts(path, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    accounts.add("lucia", PASSWORD, TRAINER)
    accounts.add("ana", PASSWORD, AGENT)
    return accounts


@pytest.fixture
def env(tmp_path, monkeypatch):
    make_accounts(tmp_path / "users.json")
    monkeypatch.setenv("KB_USERS_FILE", str(tmp_path / "users.json"))
    monkeypatch.setenv("KB_FEEDBACK_DB", str(tmp_path / "feedback.db"))
    monkeypatch.setenv("KB_INDEX", str(tmp_path / "sin-indice"))
    monkeypatch.delenv("KB_HOST", raising=False)
    monkeypatch.delenv("KB_OPEN_PANEL", raising=False)
    return tmp_path


def open_app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    if page:
        at.switch_page(page).run()
    assert not at.exception
    return at


def sign_in(at: AppTest, name: str, password: str = PASSWORD) -> AppTest:
    at.text_input(key="login_name").input(name)
    at.text_input(key="login_password").input(password)
    return at.button(key="FormSubmitter:entrar-Entrar").click().run()


def texts(at: AppTest) -> str:
    parts = [
        e.value for kind in ("markdown", "caption", "info", "warning", "error", "subheader") for e in getattr(at, kind)
    ]
    return "\n".join(str(p) for p in parts)


def shows_report(at: AppTest) -> bool:
    return REPORT_TITLE in texts(at) or len(at.metric) > 0


def audit(tmp: Path) -> list[tuple[str, str]]:
    store = FeedbackStore(tmp / "feedback.db")
    try:
        return [(r["who"], r["action"]) for r in store.audit_rows(50)]
    finally:
        store.close()


def test_anonymous_visitor_gets_the_form_and_none_of_the_report(env):
    at = open_app(TRAINERS)
    assert at.text_input(key="login_name").label == "Usuario"
    assert at.text_input(key="login_password").label == "Contraseña"
    assert not shows_report(at) and not at.dataframe and not any(b.key == "csv" for b in at.button)


def test_a_trainer_signs_in_sees_the_report_and_the_audit_trail(env):
    at = sign_in(open_app(TRAINERS), "Lucia")
    assert not at.exception
    assert REPORT_TITLE in texts(at)
    assert "Sesión iniciada: lucia (formador)" in texts(at)
    assert any(df.value.shape[0] >= 1 for df in at.dataframe)  # the audit trail holds the sign-in
    wait_until(lambda: ("lucia", "inicio de sesión") in audit(env), "el inicio de sesión en la auditoría")


def test_an_agent_does_not_see_the_trainers_page(env):
    at = sign_in(open_app(TRAINERS), "ana")
    assert not shows_report(at)
    assert "solo para el rol «formador»" in texts(at)


@pytest.mark.parametrize("name, password", [("ana", "no-es-la-clave"), ("nadie", PASSWORD)])
def test_wrong_password_and_unknown_user_get_the_same_message(env, name, password):
    at = sign_in(open_app(TRAINERS), name, password)
    assert [e.value for e in at.error] == ["Usuario o contraseña incorrectos."]
    assert not shows_report(at)
    entry = ("ana" if name == "ana" else "desconocido", "inicio de sesión fallido")
    wait_until(lambda: audit(env)[:1] == [entry], "el intento fallido en la auditoría", seen=lambda: audit(env))


def test_five_failures_lock_the_name_and_say_how_long_to_wait(env):
    at = open_app(TRAINERS)
    for _ in range(5):
        at = sign_in(at, "lucia", "no-es-la-clave")
    assert any("Espera" in e.value and "segundos" in e.value for e in at.error)
    at = sign_in(at, "lucia")  # even the right password waits
    assert any("Demasiados intentos" in e.value for e in at.error) and not shows_report(at)


@pytest.mark.parametrize("damage", ["missing", "not json", "wrong shape"])
def test_an_unusable_users_file_keeps_the_page_closed_and_says_so(env, damage):
    users = env / "users.json"
    if damage == "missing":
        users.unlink()
    elif damage == "not json":
        users.write_text("{esto no es json", encoding="utf-8")
    else:
        users.write_text(json.dumps({"version": 1, "users": []}), encoding="utf-8")
    at = open_app(TRAINERS)
    assert any("No se pueden comprobar las cuentas" in e.value for e in at.error)
    assert not at.text_input and not shows_report(at)


def test_an_idle_session_expires_and_salir_signs_out(env, monkeypatch):
    at = sign_in(open_app(TRAINERS), "lucia")
    assert shows_report(at)
    session: Session = at.session_state["kb_session"]
    at.session_state["kb_session"] = Session(session.user, time.time() - 9 * 3600)  # default: 8 h idle
    at.run()
    assert not shows_report(at) and "inactividad" in texts(at)
    at = sign_in(at, "lucia")
    at = at.button(key="sign-out").click().run()
    assert not shows_report(at) and at.text_input(key="login_name")
    wait_until(lambda: ("lucia", "cierre de sesión") in audit(env), "el cierre de sesión en la auditoría")


def test_the_rebuild_button_is_only_for_signed_in_trainers(env):
    at = open_app()
    assert any("No hay índice" in e.value for e in at.error)
    assert not any(b.key == "rebuild" for b in at.button)
    at.session_state["kb_session"] = Session(User("ana", AGENT, _now()), time.time())
    at.run()
    assert not any(b.key == "rebuild" for b in at.button)
    at.session_state["kb_session"] = Session(User("lucia", TRAINER, _now()), time.time())
    at.run()
    assert any(b.key == "rebuild" for b in at.button)


def test_exposed_panel_asks_agents_to_sign_in(env, monkeypatch):
    monkeypatch.setenv("KB_HOST", "0.0.0.0")
    at = open_app()
    assert at.text_input(key="login_name").label == "Usuario"
    assert all(t.key != "query" for t in at.text_input)
    at = sign_in(at, "ana")
    assert any(t.key == "query" for t in at.text_input)
    monkeypatch.setenv("KB_OPEN_PANEL", "1")
    at = open_app()
    assert any(t.key == "query" for t in at.text_input)


def test_loopback_panel_is_open_without_sign_in(env):
    at = open_app()
    assert any(t.key == "query" for t in at.text_input)


def _now() -> datetime:
    return datetime.now(UTC)


def test_refusals_while_locked_are_not_audited_one_by_one(env):
    """Each failure is one audit row and the lock it triggers another; the refusals that follow are
    what an attacker would multiply, so they are not written (the audit stays bounded)."""
    from kb.panel import resources

    at = open_app(TRAINERS)
    for _ in range(5):
        at = sign_in(at, "lucia", "no-es-la-clave")
    for _ in range(5):
        at = sign_in(at, "lucia")
        assert any("Demasiados intentos" in e.value for e in at.error)
    assert resources.feedback_store().outbox.flush(CEILING)  # the panel's queued audit entries, all written
    entries = audit(env)
    assert entries.count(("lucia", "inicio de sesión fallido")) == 4
    assert entries.count(("lucia", "inicio de sesión bloqueado")) == 1 and len(entries) == 5


def test_a_company_identity_idle_for_the_session_hours_is_signed_out(env, monkeypatch):
    """SSO users get the same idle expiry as local accounts (st.login cannot run here, so the identity
    the panel reads from st.user is replaced; st.logout is recorded instead of redirecting)."""
    from kb.panel import auth

    logged_out: list[bool] = []
    monkeypatch.setattr(auth, "_sso_user", lambda: User("marta@empresa.es", TRAINER, _now()))
    monkeypatch.setattr(st, "logout", lambda: logged_out.append(True))
    at = open_app(TRAINERS)
    assert shows_report(at) and not logged_out
    at.session_state[auth.SSO_SEEN] = time.time() - 9 * 3600  # default: 8 h idle
    at.run()
    assert logged_out == [True] and not shows_report(at)
    at.run()  # active again within the hours: nothing happens
    assert logged_out == [True] and shows_report(at)
