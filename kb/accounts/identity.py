"""Who is who: roles, users, panel sessions, and the shape of the users file.

Split from kb.accounts.users_file (which reads and writes the file, verifies passwords and locks
accounts) so the panel and the API can reason about a `User` without the file machinery.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kb.errors import AccountError

AGENT = "agente"
TRAINER = "formador"
ROLES: tuple[str, ...] = (AGENT, TRAINER)
IDLE_HOURS = 8.0
"""A panel session with no activity for this long must log in again (one work shift)."""
MIN_PASSWORD = 10
MAX_PASSWORD = 1024

_NAME_RE = re.compile(r"[\w.-]{1,64}")
"""Letters (any script), digits, «.», «_», «-»: safe in a file name, a log line, a URL."""


@dataclass(frozen=True)
class User:
    """An account as callers see it: never the hash, never a token."""

    name: str
    role: str
    created: datetime

    def has_role(self, role: str) -> bool:
        """A trainer can do everything an agent can; an agent only what agents do."""
        return self.role == role or (self.role == TRAINER and role == AGENT)


def session_expired(last_seen: float, now: float, idle_hours: float = IDLE_HOURS) -> bool:
    """True when a session idle since `last_seen` (epoch seconds) must log in again."""
    return now - last_seen >= idle_hours * 3600.0


@dataclass(frozen=True)
class Session:
    """A logged-in user and the last time they did something, for the panel's state."""

    user: User
    last_seen: float

    def expired(self, now: float, idle_hours: float = IDLE_HOURS) -> bool:
        return session_expired(self.last_seen, now, idle_hours)

    def touched(self, now: float) -> Session:
        return Session(self.user, now)


# ---- helpers shared with kb.accounts.users_file (the users file)


def name_key(name: str) -> str:
    """How a name is stored and compared: NFC, trimmed, lower-case («Ana » is «ana»)."""
    return unicodedata.normalize("NFC", name).strip().lower()


def sha256_hex(text: str) -> str:
    """How the users file keys what must not be readable in it (session tokens, attempt names)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def validate_name(name: str) -> str:
    """The stored form of `name`, or `AccountError` saying what is allowed."""
    key = name_key(name)
    if not _NAME_RE.fullmatch(key):
        raise AccountError(
            f"Nombre de usuario no válido: «{name}». Usa de 1 a 64 letras, cifras, puntos, guiones o guiones bajos."
        )
    return key


def validate_password(password: str) -> None:
    """`AccountError` unless the password is long enough to resist guessing offline."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"La contraseña debe tener al menos {MIN_PASSWORD} caracteres.")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"La contraseña no puede tener más de {MAX_PASSWORD} caracteres.")


def validate_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"Rol desconocido: «{role}». Los roles son: {', '.join(ROLES)}.")
    return role


def file_problem(data: Any) -> str | None:
    """What is wrong with a parsed users file, or None when it can be used."""
    if not isinstance(data, dict) or not isinstance(data.get("users"), dict):
        return "falta la lista de usuarios"
    attempts = data.get("attempts", {})
    if not isinstance(attempts, dict) or not all(_is_attempt(entry) for entry in attempts.values()):
        return "el registro de intentos no es válido"
    for name, record in data["users"].items():
        if not isinstance(record, dict):
            return f"el usuario «{name}» no es válido"
        if record.get("role") not in ROLES:
            return f"el usuario «{name}» tiene un rol desconocido"
        if not isinstance(record.get("hash"), str) or not record["hash"].startswith("$argon2"):
            return f"el usuario «{name}» no tiene una contraseña cifrada válida"
        if not _is_iso(record.get("created")) or not isinstance(record.get("tokens", {}), dict):
            return f"el usuario «{name}» está incompleto"
    return None


def _is_attempt(entry: Any) -> bool:
    keys = ("failures", "last", "locked_until")
    return isinstance(entry, dict) and all(isinstance(entry.get(k, 0), (int, float)) for k in keys)


def _is_iso(value: Any) -> bool:
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


def user_from_record(name: str, record: dict[str, Any]) -> User:
    """The `User` of one record of the users file (already checked by `file_problem`)."""
    return User(name=name, role=record["role"], created=datetime.fromisoformat(record["created"]))
