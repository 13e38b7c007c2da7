"""Long-lived things every panel session shares: settings, the model, the searcher, the store.

Cached with st.cache_resource so the model is loaded once per process, not per session,
and a new index build on disk is picked up as a new cache key.
"""

from __future__ import annotations

import gc
import threading

import streamlit as st

from kb.config import Settings, load_settings
from kb.embedding.encoders import Encoder, load_embedder
from kb.errors import IndexProblem, IndexStale, ModelError
from kb.feedback.store import FeedbackStore
from kb.retrieval.store import docs_fingerprint, index_signature
from kb.search.searcher import Fallback, Searcher


def settings() -> Settings:
    """Read on every call (cheap): tests and operators change KB_* between runs of one process."""
    return load_settings()


@st.cache_resource(show_spinner="Cargando el modelo de lenguaje (solo la primera vez)…")
def _model(name: str) -> Encoder:
    encoder = load_embedder(name)
    # The model is millions of long-lived objects: a full garbage collection (Streamlit runs
    # one after every rerun) took ~250 ms, delaying every search. Freeze them out of the GC.
    gc.collect()
    gc.freeze()
    return encoder


def embedder() -> Encoder:
    return _model(settings().model)


@st.cache_resource(max_entries=4, show_spinner="Cargando el índice…")
def _searcher_for(index_dir: str, signature: str, docs: str) -> tuple[Searcher, IndexStale | None]:
    """One Searcher per index build and docs state: a new build on disk is a new key; the
    staleness (guides edited since the build) is shown with the rebuild button (Searcher.load_serving)."""
    embedder()
    return Searcher.load_serving(settings())


_fallbacks: dict[str, Fallback] = {}
"""By index folder: the searcher that answered last in this process, and a build it refused."""
_fallbacks_lock = threading.Lock()
"""Every session runs in its own thread: one at a time reads or moves a Fallback (the load itself
happens outside, in st.cache_resource, which has its own lock)."""


def searcher_or_problem() -> tuple[Searcher | None, Exception | None]:
    """The searcher for the index on disk now and what is wrong with it, if anything.

    A build that cannot be used (damaged, or of another model) returns the problem with the
    searcher that answered before it, if this process had one (`kb.search.searcher.Fallback`, the same
    rule as the API's), so agents mid-call keep searching; only a process with nothing loaded
    gets None."""
    s = settings()
    key, build = str(s.index_dir), index_signature(s.index_dir)
    with _fallbacks_lock:
        last = _fallbacks.setdefault(key, Fallback())
        if last.holds(build):
            return last.searcher, last.refused
    try:
        found = _searcher_for(key, build, docs_fingerprint(s.docs_dir))
    except (IndexProblem, ModelError) as exc:
        with _fallbacks_lock:
            return last.failed(build, exc), exc
    with _fallbacks_lock:
        last.loaded(found[0])
    return found


@st.cache_resource
def _store_at(target: str, retention_days: int, timeout_s: int) -> FeedbackStore:
    return FeedbackStore(target, retention_days=retention_days, timeout_s=timeout_s)


def feedback_store() -> FeedbackStore:
    """The store `settings.database` names (KB_DATABASE_URL or the SQLite file), with its retention.

    One per process: its writer thread (kb.feedback.outbox) takes every agent's searches and votes."""
    s = settings()
    return _store_at(s.database, s.retention_days, s.db_timeout)
