"""Local accounts for agents and trainers, kept in one JSON file outside the repository.

The panel has no directory service to lean on, so the accounts live in a small JSON file
(the path comes from the `KB_USERS_FILE` setting). What it protects against:

* a stolen file: passwords are argon2id hashes, API tokens are SHA-256 digests (they are
  random and long, so a slow hash would add nothing), and the file is mode 0600;
* guessing: five failed logins lock a name for 60 s *from that client*, and a client with
  too many failures is locked out of every name (kb.accounts.throttle). The locks live in the
  file, so every panel process and the API see them, and they apply to unknown names too, so
  locking tells an attacker nothing about which names exist. Failed names are stored as
  digests: people type passwords into the name box;
* telling names apart: an unknown name and a wrong password give the same message and
  cost the same argon2 verification;
* torn writes: every change is read-modify-write under a `FileLock`, written to a
  temporary file and moved into place with `os.replace`. The slow part of a login (argon2)
  runs outside that lock, so nobody can hold it for everyone.

A missing, unreadable or damaged file raises `AccountsUnavailable`, and callers keep
the pages that need a login closed rather than guessing.
"""

from __future__ import annotations

import builtins
import hmac
import json
import math
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import filelock
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kb.accounts import throttle
from kb.accounts.identity import (
    User,
    file_problem,
    name_key,
    sha256_hex,
    user_from_record,
    validate_name,
    validate_password,
    validate_role,
)
from kb.accounts.throttle import LOCK_SECONDS, MAX_FAILURES
from kb.errors import AccountError, AccountsUnavailable, AuthError, os_reason
from kb.text import iso_utc

LOCK_TIMEOUT = 10.0
FILE_VERSION = 1

BAD_LOGIN = "Usuario o contraseña incorrectos."
TOKEN_PREFIX = "kb_"

_DUMMY_PASSWORD = secrets.token_urlsafe(24)
"""Verified against for unknown names, so they cost as much time as a wrong password."""


# --------------------------------------------------------------------------- accounts


class Accounts:
    """The accounts in one users file. Cheap to create; every call reads the file afresh,
    so changes made by other processes (a new user, a lock) are seen at once."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self._hasher = hasher or PasswordHasher()
        self._lock = filelock.FileLock(f"{self.path}.lock", timeout=LOCK_TIMEOUT, mode=0o600)
        self._dummy_hash: str | None = None

    # ------------------------------------------------------------------ file access

    def _load(self, *, missing_ok: bool = False) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            if missing_ok:
                return {"version": FILE_VERSION, "users": {}, "attempts": {}}
            raise AccountsUnavailable(
                f"No existe el fichero de usuarios {self.path}. "
                "Crea el primer usuario o revisa el ajuste KB_USERS_FILE."
            ) from None
        except UnicodeDecodeError as exc:
            raise self._damaged("no es texto UTF-8") from exc
        except OSError as exc:
            raise AccountsUnavailable(
                f"No se puede leer el fichero de usuarios {self.path} ({os_reason(exc)}). Revisa sus permisos."
            ) from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise self._damaged("no es JSON válido") from exc
        problem = file_problem(data)
        if problem:
            raise self._damaged(problem)
        data.setdefault("attempts", {})
        return data

    def _damaged(self, detail: str) -> AccountsUnavailable:
        return AccountsUnavailable(
            f"El fichero de usuarios {self.path} está dañado: {detail}. Restáuralo desde una copia de seguridad."
        )

    def _save(self, data: dict[str, Any]) -> None:
        """Write atomically with mode 0600: readers see the old file or the new one, never half."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, ensure_ascii=False, indent=1, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            with self._lock:
                yield
        except filelock.Timeout as exc:
            raise AccountsUnavailable(
                f"El fichero de usuarios {self.path} está bloqueado por otro proceso. "
                "Inténtalo de nuevo en unos segundos."
            ) from exc

    # ------------------------------------------------------------------ administration

    def check(self) -> None:
        """Raise `AccountsUnavailable` now if the file cannot be used (e.g. at start-up)."""
        self._load()

    def add(self, name: str, password: str, role: str) -> User:
        """Create an account; the file is created (mode 0600) with the first one."""
        key = validate_name(name)
        validate_password(password)
        validate_role(role)
        password_hash = self._hasher.hash(password)
        with self._locked():
            data = self._load(missing_ok=True)
            if key in data["users"]:
                raise AccountError(f"Ya existe el usuario «{key}».")
            record = {"role": role, "hash": password_hash, "created": iso_utc(self._clock()), "tokens": {}}
            data["users"][key] = record
            self._save(data)
        return user_from_record(key, record)

    def remove(self, name: str) -> None:
        """Delete an account and its API tokens."""
        key = name_key(name)
        with self._locked():
            data = self._load()
            if data["users"].pop(key, None) is None:
                raise AccountError(f"No existe el usuario «{key}».")
            self._save(data)

    def list(self) -> builtins.list[User]:
        """Every account, sorted by name."""
        users = self._load()["users"]
        return [user_from_record(name, users[name]) for name in sorted(users)]

    def has_role(self, role: str) -> bool:
        """True when at least one account has `role` (e.g. whether a trainer exists yet)."""
        return any(record["role"] == role for record in self._load()["users"].values())

    # ------------------------------------------------------------------ login

    def verify(self, name: str, password: str, client: str | None = None) -> User:
        """The user when `password` is right; `AuthError` (same text for unknown names) or
        `AccountLocked` otherwise (kb.accounts.throttle: per name and `client`, and per `client`).

        The argon2 check runs outside the file lock, which every replica shares: the lock is held
        only to read and write the file, so a flood of attempts cannot starve a real sign-in.
        Rehashes when the argon2 parameters changed."""
        key = name_key(name)
        pair = throttle.counters(key, client)
        with self._locked():
            data = self._load()
            now = self._clock()
            attempts = throttle.prune(data["attempts"], now)
            throttle.refuse_if_locked(attempts, pair, now)
            record = data["users"].get(key)
            stored: str | None = record["hash"] if record else None
            set_lock = throttle.reserve(attempts, pair, now)  # failed until proven right
            self._save(data)
        if not self._password_matches(stored, password):  # also for unknown names: same cost
            if any(set_lock):
                lock = max(c.lock_seconds for c, fresh in zip(pair, set_lock, strict=True) if fresh)
                raise throttle.locked(lock, fresh=True)
            raise AuthError(BAD_LOGIN)
        assert stored is not None
        new_hash = self._hasher.hash(password) if self._hasher.check_needs_rehash(stored) else None
        with self._locked():
            data = self._load()
            record = data["users"].get(key)
            if record is None or record["hash"] != stored:  # removed, or its password changed meanwhile
                raise AuthError(BAD_LOGIN)
            throttle.release(data["attempts"], pair, set_lock)
            if new_hash is not None:
                record["hash"] = new_hash
            self._save(data)
            return user_from_record(key, record)

    def _password_matches(self, stored: str | None, password: str) -> bool:
        """Always one argon2 verification, against a dummy hash for unknown names."""
        try:
            return bool(self._hasher.verify(stored or self._dummy(), password)) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(_DUMMY_PASSWORD)
        return self._dummy_hash

    # ------------------------------------------------------------------ API tokens

    def create_token(self, name: str) -> str:
        """A new API bearer token for `name`. Shown once: only its SHA-256 is kept."""
        key = name_key(name)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._locked():
            data = self._load()
            record = data["users"].get(key)
            if record is None:
                raise AccountError(f"No existe el usuario «{key}».")
            record.setdefault("tokens", {})[sha256_hex(token)] = iso_utc(self._clock())
            self._save(data)
        return token

    def revoke_tokens(self, name: str) -> int:
        """Delete every API token of `name`; returns how many there were."""
        key = name_key(name)
        with self._locked():
            data = self._load()
            record = data["users"].get(key)
            if record is None:
                raise AccountError(f"No existe el usuario «{key}».")
            count = len(record.get("tokens", {}))
            record["tokens"] = {}
            self._save(data)
        return count

    def user_for_token(self, token: str, *, max_days: int = 0) -> User | None:
        """The owner of a bearer token, or None for an unknown one. A token older than `max_days`
        (0: no limit) raises TokenExpired, so its owner learns why rather than «no válido»."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        wanted = sha256_hex(token)
        found: User | None = None
        created = ""
        for name, record in self._load()["users"].items():
            for stored, when in record.get("tokens", {}).items():
                if hmac.compare_digest(stored, wanted):
                    found, created = user_from_record(name, record), str(when)
        if found is not None and max_days and _age_days(created, self._clock()) > max_days:
            raise TokenExpired(
                f"El token ha caducado (vale {max_days} días): pide uno nuevo a quien administra kb "
                "(kb users token NOMBRE)."
            )
        return found


class TokenExpired(AuthError):
    """A real token, but older than KB_TOKEN_DAYS: the API answers 401 saying so."""


def _age_days(created: str, now: float) -> float:
    """Days since an ISO-8601 UTC stamp of the users file; an unreadable one counts as expired."""
    try:
        moment = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return math.inf
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (now - moment.timestamp()) / 86400.0


__all__ = ["LOCK_SECONDS", "MAX_FAILURES", "Accounts", "validate_name", "validate_password", "validate_role"]
