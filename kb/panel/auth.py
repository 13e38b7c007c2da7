"""Sign-in for the panel: who is using it, with which role, and the pages that need one.

Local accounts (kb.accounts.users_file) are the default and what the tests drive; a company SSO
via `st.login` is offered only when `.streamlit/secrets.toml` has an `[auth]` section.
Anything that cannot be checked (missing or damaged users file) keeps the protected
pages closed: the form says why, and nothing falls back to "open".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from kb.accounts import throttle
from kb.accounts.identity import AGENT, TRAINER, Session, User, session_expired
from kb.accounts.users_file import BAD_LOGIN, Accounts
from kb.errors import AccountLocked, AccountsUnavailable, AuthError, StoreError
from kb.feedback.rows import FAILED_SIGN_IN, LOCKED_SIGN_IN, audit_row
from kb.panel.resources import feedback_store, settings

LOG = logging.getLogger(__name__)
SESSION = "kb_session"
"""st.session_state key of the signed-in `Session` (user + last activity)."""
EXPIRED = "kb_session_expired"
SSO_SEEN = "kb_sso_seen"
"""st.session_state key of a company (SSO) identity's last activity in this tab."""
ROLE_CLAIMS = ("roles", "groups", "role")
"""SSO claims that may carry the role; a value containing «formador» makes a trainer."""


@st.cache_resource
def _accounts_at(path: str) -> Accounts:
    """One Accounts per users file: it keeps the dummy hash that evens out failed logins' cost."""
    return Accounts(path)


def accounts() -> Accounts:
    return _accounts_at(str(settings().users_file))


def sso_configured() -> bool:
    """True when secrets.toml has an [auth] section, so `st.login` can work."""
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no or unreadable secrets.toml: no SSO, local accounts only
        return False


def role_from_claims(claims: Mapping[str, Any]) -> str:
    """The panel role of an SSO identity: trainer if a roles/groups claim names «formador»."""
    for claim in ROLE_CLAIMS:
        value = claims.get(claim)
        values = value if isinstance(value, list | tuple) else [value]
        if any(isinstance(v, str) and TRAINER in v.lower() for v in values):
            return TRAINER
    return AGENT


def _sso_user() -> User | None:
    if not sso_configured() or not st.user.get("is_logged_in"):
        return None
    claims = st.user.to_dict()
    name = str(claims.get("email") or claims.get("name") or "sso")
    return User(name, role_from_claims(claims), datetime.now(UTC))


def current_user() -> User | None:
    """The signed-in user, or None; a session idle for `session_hours` is signed out here (SSO too)."""
    sso = _sso_user()
    if sso is not None:
        return _sso_still_active(sso)
    session: Session | None = st.session_state.get(SESSION)
    if session is None:
        return None
    now = time.time()
    if session.expired(now, settings().session_hours):
        del st.session_state[SESSION]
        st.session_state[EXPIRED] = True
        return None
    st.session_state[SESSION] = session.touched(now)
    return session.user


def _sso_still_active(user: User) -> User | None:
    """The same idle expiry for a company identity: st.user stays signed in for as long as its cookie
    lives, so the tab's last activity is kept here, and an identity issued more than `session_hours`
    ago (its `iat` claim) is sent back to the provider too, which covers tabs opened later."""
    now = time.time()
    hours = settings().session_hours
    seen = st.session_state.get(SSO_SEEN)
    issued = st.user.get("iat")
    stale = isinstance(issued, int | float) and session_expired(float(issued), now, hours)
    if stale or (seen is not None and session_expired(seen, now, hours)):
        st.session_state.pop(SSO_SEEN, None)
        st.session_state[EXPIRED] = True
        st.logout()
        return None
    st.session_state[SSO_SEEN] = now
    return user


def audit(who: str, action: str, detail: str | None = None) -> None:
    """Queue an entry for the audit trail: a store that is down or hung must not block signing in or working."""
    try:
        feedback_store().later(audit_row(who, action, detail))
    except StoreError as exc:
        LOG.warning("audit not recorded (%s %s): %s", who, action, exc)


def _known_name(name: str) -> str | None:
    """The account name if `name` is one; failed logins log only real names, since people
    sometimes type their password into the name box."""
    try:
        wanted = name.strip().lower()
        return next((u.name for u in accounts().list() if u.name == wanted), None)
    except AccountsUnavailable:
        return None


def client_address() -> str:
    """Where a sign-in comes from, for the per-client limits (kb.accounts.throttle).

    Behind nginx (KB_BEHIND_PROXY) it is the last X-Forwarded-For hop: nginx appends the address
    it saw, so a browser can put anything before it but not that. Otherwise the connection's
    own address; this machine's browser (no address) is `throttle.LOCAL`."""
    if settings().behind_proxy:
        forwarded = st.context.headers.get("X-Forwarded-For") or ""
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    own = st.context.ip_address
    return own if isinstance(own, str) and own else throttle.LOCAL  # AppTest hands out a mock object


def _sign_in(name: str, password: str) -> None:
    """Check the form's name and password; on success start the session, else say why.

    Every failure is audited, and the lock it triggers once; the refusals while locked are not
    (that is what an attacker would multiply; the limits bound the rest)."""
    client = client_address()
    try:
        user = accounts().verify(name, password, client)
    except AccountLocked as exc:
        if exc.fresh:
            audit(_known_name(name) or "desconocido", LOCKED_SIGN_IN, f"desde {client}")
        else:
            LOG.info("inicio de sesión rechazado por bloqueo (%s)", client)
        st.session_state.kb_login_error = (
            f"Demasiados intentos fallidos. Espera {exc.seconds} segundos y vuelve a intentarlo."
        )
        return
    except AuthError:
        audit(_known_name(name) or "desconocido", FAILED_SIGN_IN, f"desde {client}")
        st.session_state.kb_login_error = BAD_LOGIN
        return
    except AccountsUnavailable as exc:
        st.session_state.kb_login_error = unavailable_message(exc)
        return
    st.session_state[SESSION] = Session(user, time.time())
    st.session_state.pop(EXPIRED, None)
    st.session_state.kb_login_error = None
    audit(user.name, "inicio de sesión", f"rol {user.role}")


def unavailable_message(exc: AccountsUnavailable) -> str:
    """What a visitor reads when the users file cannot be used; the path only on this machine."""
    text = "No se pueden comprobar las cuentas, así que las páginas con acceso restringido siguen cerradas."
    if settings().exposed:
        return text + " Avisa al administrador del panel."
    return f"{text} {exc}"


def sign_in_form(why: str) -> None:
    """The Spanish sign-in form (and the SSO button when configured)."""
    st.subheader("Iniciar sesión")
    if st.session_state.pop(EXPIRED, False):
        st.info("La sesión se ha cerrado por inactividad. Vuelve a entrar.", icon="⏱️")
    st.caption(why)
    if sso_configured():
        st.button("Entrar con la cuenta de la empresa", on_click=st.login, type="primary", key="sso")
    try:
        accounts().check()
    except AccountsUnavailable as exc:
        st.error(unavailable_message(exc), icon="🔒")
        return
    with st.form("entrar", border=True, enter_to_submit=True):
        name = st.text_input("Usuario", key="login_name", autocomplete="username")
        password = st.text_input("Contraseña", type="password", key="login_password", autocomplete="current-password")
        if st.form_submit_button("Entrar", type="primary"):
            _sign_in(name, password)
            if st.session_state.get(SESSION) is not None:
                st.rerun()
    if st.session_state.get("kb_login_error"):
        st.error(st.session_state.kb_login_error, icon="🔒")


def sign_out() -> None:
    user = current_user()
    st.session_state.pop(SESSION, None)
    if user is not None:
        audit(user.name, "cierre de sesión")
    if sso_configured() and st.user.get("is_logged_in"):
        st.logout()


def user_bar(user: User) -> None:
    """Who is signed in and the «Salir» button, on one small line."""
    who, out = st.columns([6, 1], vertical_alignment="center")
    who.caption(f"Sesión iniciada: {user.name} ({user.role})")
    out.button("Salir", key="sign-out", on_click=sign_out, type="tertiary")


def require(role: str, why: str) -> User | None:
    """The signed-in user when they have `role`; otherwise shows the form (or a refusal) and returns None."""
    user = current_user()
    if user is None:
        sign_in_form(why)
        return None
    if not user.has_role(role):
        st.warning(f"Esta página es solo para el rol «{role}». Has entrado como {user.name} ({user.role}).", icon="🔒")
        user_bar(user)
        return None
    return user


def agents_need_sign_in() -> bool:
    """The agents' panel asks for a sign-in only when exposed beyond this machine and not opened on purpose."""
    s = settings()
    return s.exposed and not s.open_panel


__all__ = [
    "AGENT",
    "TRAINER",
    "agents_need_sign_in",
    "audit",
    "current_user",
    "require",
    "role_from_claims",
    "sign_in_form",
    "sign_out",
    "sso_configured",
    "user_bar",
]
