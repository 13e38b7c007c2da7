"""The HTTP API: the same search as the CLI and the panel, for other programs and the site.

    GET  /api/health    ¿listo? tarjetas, modelo, índice
    GET  /api/search    = `kb search --json`
    POST /api/suggest   una conversación → fase + tarjetas (+ las nuevas)
    POST /api/feedback  un 👍/👎, anonimizado

`create_app` builds the app around a searcher *provider*, so the process that already
loaded the model (`kb serve`) shares it and the API answers 503 «arrancando» until it is
ready; `kb.api.server` runs it (in a thread or in the foreground).
"""

from kb.api.app import create_app
from kb.api.errors import MAX_BODY_BYTES, Loading

__all__ = ["MAX_BODY_BYTES", "Loading", "create_app"]
