"""How many failed sign-ins a name and a client may have: the rules behind «Demasiados intentos».

Two counters, both in the users file's "attempts" map (so every replica and the API see them),
keyed by digests (people type passwords into the name box, and client addresses do not belong
in the file):

* per name *and* client: `MAX_FAILURES` failures for one name from one client lock that pair for
  `LOCK_SECONDS`. Attempts from any other client are not affected, so someone guessing five times a
  minute from one machine cannot keep a trainer out: the trainer signs in from their own.
* per client, whatever the names: `MAX_CLIENT_FAILURES` failures lock that client out of every name
  for `CLIENT_LOCK_SECONDS`, so spraying names is cut short, and the argon2 work with it.

Unknown names count like known ones, so a lock says nothing about which names exist. An attempt is
counted as failed *before* its password is checked (`reserve`) and given back once it proves right
(`release`): guesses made in parallel cannot outrun the lock while argon2 runs outside the file lock.
Failures are forgotten `FAILURE_MEMORY_SECONDS` after the last one, and the map keeps at most
`MAX_ENTRIES` entries (the oldest unlocked ones go first), so the file stays small whatever is sent.

A client is what the panel can tell apart (kb.panel.auth.client_address): the address nginx saw
(KB_BEHIND_PROXY: the last X-Forwarded-For hop, which nginx appends itself) or the connection's;
`LOCAL` for callers without one (the command line, the tests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from kb.accounts.identity import sha256_hex
from kb.errors import AccountLocked

MAX_FAILURES = 5
LOCK_SECONDS = 60.0
MAX_CLIENT_FAILURES = 30
"""Failures one client may have across all names before it is locked out: a bad morning of typos
from a whole office behind one address stays under it, a name-spraying script does not."""
CLIENT_LOCK_SECONDS = 900.0
FAILURE_MEMORY_SECONDS = 3600.0
"""Failures older than this are forgotten, so a typo a day never adds up to a lock."""
MAX_ENTRIES = 2000
LOCAL = "local"

Attempts = dict[str, Any]


@dataclass(frozen=True)
class Counter:
    """One failure counter: its key in the attempts map, how many failures lock it, and for how long."""

    key: str
    limit: int
    lock_seconds: float


def counters(name_key: str, client: str | None) -> tuple[Counter, Counter]:
    """The counters one attempt at `name_key` from `client` counts against: the pair, then the client."""
    who = client or LOCAL
    return (
        Counter(sha256_hex(f"{name_key}\n{who}"), MAX_FAILURES, LOCK_SECONDS),
        Counter(sha256_hex(f"cliente\n{who}"), MAX_CLIENT_FAILURES, CLIENT_LOCK_SECONDS),
    )


def locked(message_seconds: float, *, fresh: bool = False) -> AccountLocked:
    seconds = math.ceil(message_seconds)
    return AccountLocked(f"Demasiados intentos fallidos: espera {seconds} segundos.", seconds, fresh=fresh)


def refuse_if_locked(attempts: Attempts, pair: tuple[Counter, ...], now: float) -> None:
    """`AccountLocked` (with the longest wait) when any of the counters is locked now."""
    waits = [float(attempts.get(c.key, {}).get("locked_until", 0.0)) - now for c in pair]
    if max(waits) > 0:
        raise locked(max(waits))


def reserve(attempts: Attempts, pair: tuple[Counter, ...], now: float) -> list[bool]:
    """Count one failure on each counter; True where that failure set a lock."""
    return [_fail(attempts, c, now) for c in pair]


def _fail(attempts: Attempts, counter: Counter, now: float) -> bool:
    entry = attempts.setdefault(counter.key, {"failures": 0, "last": now, "locked_until": 0.0})
    if entry.get("locked_until", 0) and entry["locked_until"] <= now:
        entry["locked_until"] = 0.0
    entry["failures"] = int(entry.get("failures", 0)) + 1
    entry["last"] = now
    if entry["failures"] < counter.limit:
        return False
    entry["failures"] = 0
    entry["locked_until"] = now + counter.lock_seconds
    return True


def release(attempts: Attempts, pair: tuple[Counter, ...], set_lock: list[bool]) -> None:
    """The attempt was right: the name's failures from this client are forgotten, and the client gets
    back the failure `reserve` counted (and any lock that failure set)."""
    name_pair, client = pair
    attempts.pop(name_pair.key, None)
    entry = attempts.get(client.key)
    if entry is None:
        return
    if set_lock[1]:
        entry["locked_until"] = 0.0
        entry["failures"] = client.limit - 1
    else:
        entry["failures"] = max(0, int(entry.get("failures", 0)) - 1)


def prune(attempts: Attempts, now: float) -> Attempts:
    """Forget old failures and expired locks, then the oldest unlocked entries beyond `MAX_ENTRIES`."""
    for key in [k for k, e in attempts.items() if not _live(e, now)]:
        del attempts[key]
    if len(attempts) > MAX_ENTRIES:
        unlocked = sorted(
            (k for k, e in attempts.items() if e.get("locked_until", 0) <= now), key=lambda k: attempts[k]["last"]
        )
        for key in unlocked[: len(attempts) - MAX_ENTRIES]:
            del attempts[key]
    return attempts


def _live(entry: dict[str, Any], now: float) -> bool:
    return entry.get("locked_until", 0) > now or now - entry.get("last", 0) <= FAILURE_MEMORY_SECONDS


__all__ = [
    "CLIENT_LOCK_SECONDS",
    "LOCAL",
    "LOCK_SECONDS",
    "MAX_CLIENT_FAILURES",
    "MAX_FAILURES",
    "Counter",
    "counters",
    "prune",
    "refuse_if_locked",
    "release",
    "reserve",
]
