"""Local accounts: hashed passwords, one message for every failed login, shared lockout, tokens."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from kb.accounts.identity import AGENT, TRAINER, Session, User, session_expired
from kb.accounts.users_file import BAD_LOGIN, LOCK_SECONDS, MAX_FAILURES, Accounts
from kb.errors import AccountError, AccountLocked, AccountsUnavailable, AuthError, KbError

PASSWORD = "correcto-caballo-grapa"  # pragma: allowlist secret


def _cheap_hasher() -> PasswordHasher:
    """argon2id with tiny costs: the real defaults take ~0.5 s per hash on a slow machine."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "secretos" / "users.json"


@pytest.fixture
def accounts(path: Path, clock: FakeClock) -> Accounts:
    acc = Accounts(path, clock=clock, hasher=_cheap_hasher())
    acc.add("ana", PASSWORD, AGENT)
    return acc


# ------------------------------------------------------------------ administration


def test_add_list_remove(accounts: Accounts) -> None:
    accounts.add("Luis.Formador", "otra-clave-larga", TRAINER)
    users = accounts.list()
    assert [(u.name, u.role) for u in users] == [("ana", AGENT), ("luis.formador", TRAINER)]
    assert users[0].created.year == 2023
    assert accounts.has_role(TRAINER)
    accounts.remove("luis.formador")
    assert [u.name for u in accounts.list()] == ["ana"]
    assert not accounts.has_role(TRAINER)


def test_duplicate_and_unknown_names(accounts: Accounts) -> None:
    with pytest.raises(AccountError, match="Ya existe"):
        accounts.add("ANA", PASSWORD, AGENT)
    with pytest.raises(AccountError, match="No existe"):
        accounts.remove("nadie")


@pytest.mark.parametrize("name", ["", "con espacio", "a/b", "x" * 65, "ana;drop"])
def test_bad_names_refused(accounts: Accounts, name: str) -> None:
    with pytest.raises(AccountError, match="Nombre de usuario no válido"):
        accounts.add(name, PASSWORD, AGENT)


def test_names_allowed(accounts: Accounts) -> None:
    for name in ["íñigo", "m.garcia-2", "x_y", "a" * 64]:
        accounts.add(name, PASSWORD, AGENT)


def test_short_password_and_unknown_role(accounts: Accounts) -> None:
    with pytest.raises(AccountError, match="al menos 10 caracteres"):
        accounts.add("luis", "corta", AGENT)
    with pytest.raises(AccountError, match="Rol desconocido"):
        accounts.add("luis", PASSWORD, "jefe")


def test_file_holds_argon2_hashes_and_no_password(accounts: Accounts, path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert PASSWORD not in text
    assert json.loads(text)["users"]["ana"]["hash"].startswith("$argon2id$")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in path.parent.iterdir() if p.suffix == ".tmp"]


def test_default_hasher_is_argon2id(tmp_path: Path) -> None:
    assert Accounts(tmp_path / "u.json")._hasher.hash("x").startswith("$argon2id$")


# ------------------------------------------------------------------ login


def test_verify_right_password(accounts: Accounts) -> None:
    user = accounts.verify(" Ana ", PASSWORD)
    assert (user.name, user.role) == ("ana", AGENT)
    assert user.has_role(AGENT) and not user.has_role(TRAINER)


def test_trainer_can_do_what_agents_do(accounts: Accounts) -> None:
    accounts.add("luis", PASSWORD, TRAINER)
    assert accounts.verify("luis", PASSWORD).has_role(AGENT)


def test_wrong_password_and_unknown_user_same_message(accounts: Accounts) -> None:
    with pytest.raises(AuthError) as wrong:
        accounts.verify("ana", "no-es-la-clave")
    with pytest.raises(AuthError) as unknown:
        accounts.verify("nadie", PASSWORD)
    assert wrong.value.message == unknown.value.message == BAD_LOGIN == "Usuario o contraseña incorrectos."
    assert type(wrong.value) is type(unknown.value) is AuthError


def test_unknown_user_costs_one_argon2_verification(accounts: Accounts, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = PasswordHasher.verify

    def counting(self: PasswordHasher, stored: str, password: str) -> bool:
        calls.append(stored)
        return original(self, stored, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    for name in ("ana", "nadie"):
        with pytest.raises(AuthError):
            accounts.verify(name, "no-es-la-clave")
    assert len(calls) == 2 and all(h.startswith("$argon2id$") for h in calls)


def _fail(accounts: Accounts, name: str, times: int) -> None:
    for _ in range(times):
        with pytest.raises(AuthError):
            accounts.verify(name, "no-es-la-clave")


def test_lockout_after_five_failures_and_release(accounts: Accounts, clock: FakeClock) -> None:
    _fail(accounts, "ana", MAX_FAILURES - 1)
    with pytest.raises(AccountLocked) as locked:
        accounts.verify("ana", "no-es-la-clave")
    assert locked.value.message == "Demasiados intentos fallidos: espera 60 segundos."
    with pytest.raises(AccountLocked):
        accounts.verify("ana", PASSWORD)  # even the right password waits
    clock.now += 45.5
    with pytest.raises(AccountLocked, match="espera 15 segundos"):
        accounts.verify("ana", PASSWORD)
    clock.now += LOCK_SECONDS
    assert accounts.verify("ana", PASSWORD).name == "ana"


def test_success_resets_the_failure_count(accounts: Accounts) -> None:
    _fail(accounts, "ana", MAX_FAILURES - 1)
    accounts.verify("ana", PASSWORD)
    _fail(accounts, "ana", MAX_FAILURES - 1)
    assert accounts.verify("ana", PASSWORD).name == "ana"


def test_unknown_names_lock_too(accounts: Accounts, path: Path) -> None:
    """Otherwise locking would tell an attacker which names exist."""
    _fail(accounts, "nadie", MAX_FAILURES - 1)
    with pytest.raises(AccountLocked):
        accounts.verify("nadie", PASSWORD)
    assert "nadie" not in path.read_text(encoding="utf-8")


def test_lockout_shared_between_objects(accounts: Accounts, path: Path, clock: FakeClock) -> None:
    other = Accounts(path, clock=clock, hasher=_cheap_hasher())
    _fail(accounts, "ana", 2)
    _fail(other, "ana", 2)
    with pytest.raises(AccountLocked):
        accounts.verify("ana", "no-es-la-clave")
    with pytest.raises(AccountLocked):
        other.verify("ana", PASSWORD)


def test_rehash_when_parameters_change(accounts: Accounts, path: Path, clock: FakeClock) -> None:
    before = json.loads(path.read_text(encoding="utf-8"))["users"]["ana"]["hash"]
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    Accounts(path, clock=clock, hasher=stronger).verify("ana", PASSWORD)
    after = json.loads(path.read_text(encoding="utf-8"))["users"]["ana"]["hash"]
    assert after != before and "m=16,t=2,p=1" in after
    assert accounts.verify("ana", PASSWORD).name == "ana"


# ------------------------------------------------------------------ unusable files


def test_missing_file(tmp_path: Path) -> None:
    acc = Accounts(tmp_path / "no-existe.json", hasher=_cheap_hasher())
    for call in (acc.list, acc.check, lambda: acc.verify("ana", PASSWORD), lambda: acc.user_for_token("kb_x")):
        with pytest.raises(AccountsUnavailable, match="No existe el fichero de usuarios"):
            call()


@pytest.mark.parametrize(
    "content",
    [
        "{no es json",
        "[]",
        '{"users": []}',
        '{"users": {"ana": {"role": "jefe", "hash": "$argon2id$x", "created": "x"}}}',
        '{"users": {"ana": {"role": "agente", "hash": "claro", "created": "2024-01-01"}}}',
        '{"users": {"ana": {"role": "agente", "hash": "$argon2id$x", "created": "ayer"}}}',
        '{"users": {}, "attempts": {"x": {"failures": "muchos"}}}',
        "",
    ],
)
def test_malformed_file(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(content, encoding="utf-8")
    acc = Accounts(path, hasher=_cheap_hasher())
    with pytest.raises(AccountsUnavailable, match="está dañado"):
        acc.verify("ana", PASSWORD)
    with pytest.raises(AccountsUnavailable):
        acc.add("luis", PASSWORD, AGENT)  # never overwrite a damaged file


def test_not_utf8_file(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(AccountsUnavailable, match="está dañado"):
        Accounts(path).list()


def test_unreadable_file(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path.mkdir(parents=True)  # a directory where the file should be: unreadable, even for root
    with pytest.raises(AccountsUnavailable, match="No se puede leer"):
        Accounts(path).list()


def test_permission_denied(accounts: Accounts, monkeypatch: pytest.MonkeyPatch) -> None:
    def deny(self: Path, *args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_text", deny)
    with pytest.raises(AccountsUnavailable, match=r"\(sin permiso\)\. Revisa sus permisos") as exc:
        accounts.list()
    assert isinstance(exc.value, KbError)


# ------------------------------------------------------------------ tokens


def test_tokens(accounts: Accounts, path: Path) -> None:
    token = accounts.create_token("ana")
    assert len(token) > 40 and token not in path.read_text(encoding="utf-8")
    assert accounts.user_for_token(token) == User("ana", AGENT, accounts.list()[0].created)
    assert accounts.user_for_token(token + "x") is None
    assert accounts.user_for_token("") is None
    assert accounts.create_token("ana") != token
    assert accounts.revoke_tokens("ana") == 2
    assert accounts.user_for_token(token) is None


def test_token_gone_with_its_user(accounts: Accounts) -> None:
    token = accounts.create_token("ana")
    accounts.remove("ana")
    assert accounts.user_for_token(token) is None
    with pytest.raises(AccountError):
        accounts.create_token("ana")


# ------------------------------------------------------------------ sessions


def test_idle_expiry() -> None:
    assert not session_expired(last_seen=0.0, now=8 * 3600 - 1)
    assert session_expired(last_seen=0.0, now=8 * 3600)
    assert session_expired(last_seen=0.0, now=3600, idle_hours=0.5)
    session = Session(User("ana", AGENT, None), last_seen=0.0)  # type: ignore[arg-type]
    assert session.expired(now=9 * 3600)
    assert not session.touched(now=9 * 3600).expired(now=10 * 3600)


def test_writes_are_atomic(accounts: Accounts, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash while writing leaves the old file whole and no temporary file behind."""
    before = path.read_text(encoding="utf-8")

    def crash(src: object, dst: object) -> None:
        raise OSError("disco lleno")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        accounts.add("luis", PASSWORD, AGENT)
    assert path.read_text(encoding="utf-8") == before
    assert not [p for p in path.parent.iterdir() if p.suffix == ".tmp"]
