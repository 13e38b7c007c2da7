"""Running the API: in a daemon thread of `kb serve` (sharing its model) or in the foreground (`kb api`).

The model is loaded once per process (kb.embedding.encoders caches it), so `kb serve` should create
ONE `SearcherSlot`, hand it to `create_app`, and start the thread:

    slot = SearcherSlot(settings)
    slot.load_in_background()
    handle = start_api_thread(create_app(settings, slot, site_dir=settings.site_dir), settings.host, settings.api_port)
    ...
    handle.stop()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from kb.config import Settings
from kb.errors import IndexStale, KbError
from kb.retrieval.store import index_signature
from kb.search.searcher import Fallback, Searcher

from .errors import Loading

log = logging.getLogger("kb.api")
WARM_UP = "el cliente está muy enfadado y quiere una solución"


Loader = Callable[[Settings], tuple[Searcher, IndexStale | None]]
"""What SearcherSlot loads with: Searcher.load_serving, or a stand-in in tests."""


class SearcherSlot:
    """The searcher provider for `create_app`: the loaded Searcher, `Loading` until then, or the
    KbError that stopped it loading. A newer build on disk is picked up on the next call (the
    model stays loaded; only the index is re-read) while the previous build keeps answering.

    Guides edited since the build do not stop it (Searcher.load_serving): the index answers
    with what it has and `stale` says why it is behind, logged once per load.

    A newer build that cannot be used (damaged, or built with another model: after an update
    that changed the model, until the index is rebuilt) does not stop it
    either: the build already in memory keeps answering, and `refused` says why, until the
    build on disk changes again. Only the first load has nothing to fall back on."""

    def __init__(self, settings: Settings, loader: Loader = Searcher.load_serving) -> None:
        self.settings = settings
        self._loader = loader
        self._last = Fallback()
        self._error: KbError | None = None
        self.stale: IndexStale | None = None
        self._loading = False
        self._lock = threading.Lock()

    @property
    def refused(self) -> KbError | None:
        """Why the build now on disk is not used while an older one answers (None: it is used)."""
        return self._last.refused

    def load(self) -> Searcher:
        """Load now (blocking); raises the KbError that prevents it."""
        with self._lock:
            return self._load_locked()

    def _load_locked(self) -> Searcher:
        self._loading = True
        build = index_signature(self.settings.index_dir)
        try:
            searcher, stale = self._loader(self.settings)
            searcher.search(WARM_UP)  # the first encode initialises the model's kernels (seconds)
            self._last.loaded(searcher)
            self._error, self.stale = None, stale
            if stale is not None:
                log.warning("%s La API responde con el índice que hay.", stale.message)
            return searcher
        except KbError as exc:
            previous = self._last.failed(build, exc)
            if previous is None:
                self._error = exc
                raise
            log.error("%s La API sigue respondiendo con el índice anterior.", exc.message)
            return previous
        finally:
            self._loading = False

    def load_in_background(self) -> threading.Thread:
        self._loading = True

        def run() -> None:
            try:
                self.load()
            except KbError as exc:
                log.error("%s", exc.message)

        thread = threading.Thread(target=run, name="kb-api-load", daemon=True)
        thread.start()
        return thread

    def __call__(self) -> Searcher:
        searcher = self._last.searcher
        if searcher is not None and (
            searcher.is_current() or self._loading or self._last.holds(index_signature(self.settings.index_dir))
        ):
            return searcher  # while a newer build loads, or cannot be used, the previous one answers
        if self._loading or (searcher is None and self._error is None):
            raise Loading()
        with self._lock:  # a new build switched the index, or a retry after a failure
            current = self._last.searcher
            if current is not None and current.is_current():
                return current  # another request reloaded it while this one waited
            return self._load_locked()


@dataclass
class ApiHandle:
    """A running API server; `stop()` ends it and waits for its thread."""

    server: uvicorn.Server
    thread: threading.Thread
    url: str

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def start_api_thread(app: FastAPI, host: str, port: int, *, timeout: float = 10.0) -> ApiHandle:
    """Serve `app` with uvicorn in a daemon thread; returns once it accepts connections.
    Raises KbError (Spanish) when the port cannot be opened."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="kb-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise KbError(
                f"No se puede abrir el puerto {port} para la API. Cierra el otro proceso o cambia KB_API_PORT."
            )
        time.sleep(0.05)
    return ApiHandle(server, thread, f"http://{host}:{port}")


def run_api(settings: Settings, say: Callable[[str], None] = print) -> None:
    """`kb api`: load the searcher first (a broken index fails here, with its message), then
    serve until Ctrl+C. «API lista» is printed only once it really answers."""
    slot = SearcherSlot(settings)
    slot.load()
    from .app import create_app

    site = settings.site_dir if (settings.site_dir / "index.html").is_file() else None
    app = create_app(settings, slot, site_dir=site)
    handle = start_api_thread(app, settings.host, settings.api_port)
    say(settings.access_line())
    say(f"API lista en {handle.url}/api/ (documentación: {handle.url}/api/docs)")
    if site is not None:
        say(f"Sitio con búsqueda del motor: {handle.url}/")
    try:
        while handle.thread.is_alive():
            handle.thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()
