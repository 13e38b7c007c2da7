"""The API's searches, logged for the trainers' report like the panel's, off the request path.

A search through the API needs no database, so logging it must never slow it or fail it: rows
go to a bounded queue that one thread writes to the store (the same `searches` table the panel
fills, session `api`; FeedbackStore redacts the query again before it is stored). A store that
is down or frozen costs the caller nothing; what could not be written is counted and said once
per outage in the log, without the queries.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kb.errors import KbError
from kb.feedback.store import FeedbackStore
from kb.search.searcher import SearchResponse

log = logging.getLogger("kb.api")

SESSION = "api"
"""The `session` of every search logged by the API (the panel's are random ids per browser tab)."""
QUEUE_SIZE = 1000
"""Searches waiting for the store at most; beyond that (a store down for long) they are dropped and counted."""


def search_row(response: SearchResponse, fase: str | None) -> dict[str, Any]:
    """The columns of one logged search, as the panel logs them (kb.panel.agents.run_search)."""
    top = response.results[0] if response.results else None
    return {
        "session": SESSION,
        "fase_filter": fase,
        "top_card_id": top.card.id if top else None,
        "top_fase": top.card.fase if top else None,
        "top_score": top.score if top else None,
        "low_confidence": response.low_confidence,
        "results": len(response.results),
    }


@dataclass
class _Pending:
    query: str
    row: dict[str, Any]


class SearchLog:
    """Logs searches to `store()` in a daemon thread; `record` never blocks and never raises."""

    def __init__(self, store: Callable[[], FeedbackStore], size: int = QUEUE_SIZE) -> None:
        self._store = store
        self._queue: queue.Queue[_Pending] = queue.Queue(size)
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self.dropped = 0
        self.failed = 0
        self._failing = False

    def record(self, response: SearchResponse, fase: str | None) -> None:
        """Queue one search; when the queue is full (the store has been away for a while) it is dropped."""
        self._ensure_thread()
        try:
            self._queue.put_nowait(_Pending(response.query, search_row(response, fase)))
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % QUEUE_SIZE == 0:
                log.warning(
                    "La base de valoraciones no da abasto: %d búsquedas de la API sin registrar para el informe.",
                    self.dropped,
                )

    def wait_idle(self, timeout: float) -> bool:
        """True once every queued search has been written or given up on (tests, and a clean stop)."""
        done = threading.Event()

        def join() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=join, daemon=True).start()
        return done.wait(timeout)

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._start:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="kb-api-searches", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            pending = self._queue.get()
            try:
                self._write(pending)
            finally:
                self._queue.task_done()

    def _write(self, pending: _Pending) -> None:
        try:
            self._store().record_search(pending.query, **pending.row)
        except KbError as exc:  # StoreError: its message names the setting, never the query
            self.failed += 1
            if not self._failing:
                log.warning("No se pueden registrar las búsquedas de la API para el informe: %s", exc.message)
            self._failing = True
            return
        if self._failing:
            log.warning(
                "La base de valoraciones vuelve a responder; %d búsquedas de la API quedaron sin registrar.",
                self.failed,
            )
            self._failing = False
