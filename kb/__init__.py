"""kb: Spanish customer-service knowledge base and live search assistant.

    >>> from kb import Searcher
    >>> searcher = Searcher.load()
    >>> response = searcher.search("el cliente me grita y no me deja hablar", k=3)
    >>> response.results[0].card.heading

The CLI (`kb`) and the Streamlit panel (`app.py`) both go through `Searcher.search`.
"""

__version__ = "0.1.0"

__all__ = ["Searcher", "SearchResponse", "__version__"]


def __getattr__(name: str):
    # Lazy: `import kb` must stay cheap (torch and faiss load only when searching).
    if name in ("Searcher", "SearchResponse"):
        from kb.search import searcher as _search

        return getattr(_search, name)
    raise AttributeError(name)
