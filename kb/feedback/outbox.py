"""Writes nobody waits for: the search log, votes, comments and audit entries go through one writer
thread per store, which keeps each write and retries it until the database takes it.

Why a thread: a database that hangs (a paused VM, a network partition without a reset) holds
whatever call is on it for as long as it hangs. No timeout on the client can interrupt a
blocked PostgreSQL call: the cancel request goes to the same frozen server. So the panel never
calls the database while an agent waits. It queues the row (`Outbox.submit`) and draws at once; the
API waits for its vote at most KB_DB_TIMEOUT seconds, then withdraws it (`Outbox.withdraw`).

What a caller can rely on:

* A write that `submit` accepted stays in memory and is retried with back-off until it is
  stored, however long the database is away. The only writes dropped are those that would
  fail the same way again (a value the database refuses); each is logged with the reason, and its
  `Pending.error` says so.
* A withdrawn write never lands: a queued one is removed, and one already on the wire is rolled
  back instead of committed. Only a write caught in its COMMIT when the caller gave up
  is beyond recall: `withdraw` then answers False.
* The queue is bounded (`CAPACITY`): when full, `submit` refuses with `StoreError`, so nothing is
  acknowledged that could not be kept.
* At interpreter exit the writer gets `FLUSH_AT_EXIT_S` seconds to finish; anything still queued
  is counted in an error log line, never dropped silently. (A killed process loses its queue.)
* A write whose connection breaks during COMMIT is tried again, so it may be stored twice: a
  duplicate search in the report is preferred to a lost one.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa
from filelock import Timeout as LockTimeout
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from kb.errors import StoreError
from kb.feedback import database as db
from kb.feedback.rows import Row

LOG = logging.getLogger(__name__)
CAPACITY = 20_000
"""Queued writes per process: hours of a busy contact centre's searches, a few MB of memory."""
RETRY_DELAYS_S = (0.25, 0.5, 1.0, 2.0, 5.0)
"""Back-off between attempts at the same write; the last value repeats while the database is away."""
FLUSH_AT_EXIT_S = 10.0

QUEUED, WRITING, ABANDONED, COMMITTING = "queued", "writing", "abandoned", "committing"
STORED, FAILED, WITHDRAWN = "stored", "failed", "withdrawn"
FINAL = (STORED, FAILED, WITHDRAWN)


class Target(Protocol):
    """What the writer needs from its store (kb.feedback.store.FeedbackStore)."""

    @property
    def dialect(self) -> str: ...

    def prepared(self) -> Engine:
        """The engine of an up-to-date schema, retention applied; raises what a connection raises."""
        ...

    def failure(self, exc: BaseException) -> StoreError:
        """The Spanish message for a write that failed with `exc`."""
        ...


@dataclass(eq=False)
class Pending:
    """One queued write: an insert of `row`, or (with `target`) an update of the row `target` inserted."""

    row: Row
    target: Pending | None = None
    state: str = QUEUED
    row_id: int | None = None
    error: StoreError | None = None
    queued_at: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)
    _callbacks: list[Callable[[], object]] = field(default_factory=list)

    @property
    def stored(self) -> bool:
        return self.state == STORED

    def wait(self, timeout: float | None = None) -> bool:
        """True once the write is stored, failed or withdrawn (within `timeout` seconds)."""
        return self.done.wait(timeout)

    def on_done(self, callback: Callable[[], object]) -> None:
        """Call `callback()` (from the writer's thread) when the write ends, or now if it has."""
        run_now = False
        with _callbacks_lock:
            if self.done.is_set():
                run_now = True
            else:
                self._callbacks.append(callback)
        if run_now:
            callback()

    def _finish(self, state: str, *, row_id: int | None = None, error: StoreError | None = None) -> None:
        self.state, self.row_id, self.error = state, row_id, error
        with _callbacks_lock:
            self.done.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()


_callbacks_lock = threading.Lock()


class Outbox:
    """The writes of one store, written in order by one daemon thread started on first use."""

    def __init__(self, target: Target, *, capacity: int = CAPACITY) -> None:
        self._target = target
        self._capacity = capacity
        self._items: deque[Pending] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._outage_since: float | None = None
        self.dropped = 0
        """Writes given up because the database refused them for good (each logged)."""

    # ---------------------------------------------------------------- callers

    def submit(self, row: Row, *, target: Pending | None = None) -> Pending:
        """Queue `row` (or, with `target`, an update of the row `target` inserts); never touches the database."""
        with self._cond:
            if target is not None and target.state == QUEUED and target in self._items:
                target.row.values.update(row.values)  # not written yet: the update travels with the insert
                return target
            if self._closed or len(self._items) >= self._capacity:
                raise StoreError(
                    "La base de datos de valoraciones no responde y hay demasiadas escrituras en espera: "
                    "esta no se ha guardado. Avisa al administrador."
                )
            item = Pending(row, target)
            self._items.append(item)
            self._start()
            self._cond.notify_all()
        return item

    def withdraw(self, item: Pending) -> bool:
        """Make sure `item` is never stored; False when it is stored or already committing."""
        with self._cond:
            if item.state == QUEUED:
                self._items.remove(item)
                item._finish(WITHDRAWN)
                return True
            if item.state in (WRITING, ABANDONED):
                item.state = ABANDONED  # the writer rolls back instead of committing
                return True
            return item.state in (FAILED, WITHDRAWN)

    def backlog(self) -> tuple[int, float]:
        """Writes not yet stored, and how many seconds the oldest has waited."""
        with self._cond:
            if not self._items:
                return 0, 0.0
            return len(self._items), time.monotonic() - self._items[0].queued_at

    def flush(self, timeout: float) -> bool:
        """Wait until every queued write has ended (True) or `timeout` seconds passed (False)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._items:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def close(self, timeout: float = FLUSH_AT_EXIT_S) -> None:
        """Refuse new writes, give the queued ones `timeout` seconds, and log any left behind."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if not self.flush(timeout):
            left, waited = self.backlog()
            LOG.error(
                "%d escrituras en la base de datos de valoraciones sin guardar al cerrar "
                "(la más antigua esperaba desde hace %.0f s)",
                left,
                waited,
            )

    # ---------------------------------------------------------------- the writer

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="kb-feedback-writer", daemon=True)
            self._thread.start()
            atexit.register(self.close)

    def _next(self) -> Pending | None:
        with self._cond:
            while not self._items and not self._closed:
                self._cond.wait()
            if not self._items:
                return None
            item = self._items[0]
            item.state = WRITING
            return item

    def _run(self) -> None:
        failures = 0
        while (item := self._next()) is not None:
            if self._attempt(item):
                failures = 0
                self._recovered()
                continue
            failures += 1
            self._outage(failures)
            with self._cond:  # wait before the next attempt, unless the process is closing and gave up
                self._cond.wait(RETRY_DELAYS_S[min(failures, len(RETRY_DELAYS_S)) - 1])

    def _attempt(self, item: Pending) -> bool:
        """One try at `item`; False when the database was unavailable and it must be tried again."""
        try:
            engine = self._target.prepared()
            with engine.connect() as conn:
                trans = conn.begin()
                row_id = self._execute(conn, item)
                with self._cond:
                    if item.state == ABANDONED:
                        trans.rollback()
                        self._end(item, WITHDRAWN)
                        return True
                    item.state = COMMITTING
                trans.commit()
        except (SQLAlchemyError, OSError, LockTimeout, StoreError) as exc:
            if not isinstance(exc, StoreError) and db.transient(exc, self._target.dialect):
                with self._cond:
                    if item.state == ABANDONED:
                        self._end(item, WITHDRAWN)
                        return True
                    item.state = QUEUED
                return False
            return self._drop(item, exc if isinstance(exc, StoreError) else self._target.failure(exc))
        except Exception as exc:  # noqa: BLE001 - a bug must cost one write, not the writer thread
            LOG.exception("escritura descartada por un error inesperado")
            return self._drop(item, self._target.failure(exc))
        self._end(item, STORED, row_id=row_id)
        return True

    def _drop(self, item: Pending, error: StoreError) -> bool:
        """Give `item` up for good (it would fail the same way again), saying so in the log."""
        self.dropped += 1
        LOG.error("escritura descartada (%s): %s", item.row.table.name, error)
        self._end(item, FAILED, error=error)
        return True

    @staticmethod
    def _execute(conn: sa.Connection, item: Pending) -> int:
        table, values = item.row
        if item.target is None:
            key = conn.execute(sa.insert(table).values(**values)).inserted_primary_key
            assert key is not None  # a single-row INSERT always has one
            return int(key[0])
        if item.target.row_id is None:
            raise StoreError("No se ha guardado el comentario: la valoración a la que acompaña no se guardó.")
        conn.execute(sa.update(table).where(table.c.id == item.target.row_id).values(**values))
        return item.target.row_id

    def _end(self, item: Pending, state: str, **result: Any) -> None:
        with self._cond:
            if self._items and self._items[0] is item:
                self._items.popleft()
            self._cond.notify_all()
        item._finish(state, **result)

    def _outage(self, failures: int) -> None:
        if failures == 1:
            self._outage_since = time.monotonic()
            LOG.warning(
                "la base de datos de valoraciones no responde: %d escrituras en espera, se reintenta", self.backlog()[0]
            )

    def _recovered(self) -> None:
        if self._outage_since is not None:
            LOG.warning(
                "la base de datos de valoraciones vuelve a responder tras %.0f s; %d escrituras aún en espera",
                time.monotonic() - self._outage_since,
                self.backlog()[0],
            )
            self._outage_since = None


__all__ = ["CAPACITY", "Outbox", "Pending", "Target"]
