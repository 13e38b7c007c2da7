"""What every route needs, as FastAPI dependencies read from `app.state`: tests and `kb serve` set
the state (or override a dependency) instead of reaching into closures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kb.accounts.identity import User
from kb.accounts.users_file import Accounts
from kb.config import Settings
from kb.errors import AuthError
from kb.feedback.store import FeedbackStore
from kb.search.conversation import SuggestionMemory
from kb.search.searcher import Searcher

from .records import SearchLog

bearer = HTTPBearer(auto_error=False, description="Token de API (solo si el servidor está expuesto en la red).")


@dataclass
class ApiState:
    """Everything the routes share. The store and the accounts open on first use, so an API that
    only searches never touches the database or the users file."""

    settings: Settings
    searcher: Callable[[], Searcher]
    store: FeedbackStore | None = None
    accounts: Accounts | None = None
    memory: SuggestionMemory = field(default_factory=SuggestionMemory)
    searches: SearchLog = field(init=False)

    def __post_init__(self) -> None:
        self.searches = SearchLog(self.feedback_store)

    def feedback_store(self) -> FeedbackStore:
        if self.store is None:
            s = self.settings
            self.store = FeedbackStore(s.database, retention_days=s.retention_days, timeout_s=s.db_timeout)
        return self.store

    def users(self) -> Accounts:
        if self.accounts is None:
            self.accounts = Accounts(self.settings.users_file)
        return self.accounts


def api_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.kb
    return state


State = Annotated[ApiState, Depends(api_state)]


def caller(
    request: Request, state: State, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> User | None:
    """On loopback nobody needs a token; exposed on the network every call does. The caller is kept
    in `request.state.user` (the feedback's session names it)."""
    request.state.user = None
    if not state.settings.exposed:
        return None
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise AuthError("Falta el token de acceso: envía la cabecera «Authorization: Bearer <token>».")
    found = state.users().user_for_token(credentials.credentials, max_days=state.settings.token_days)
    if found is None:
        raise AuthError("Token no válido.")
    request.state.user = found
    return found


Caller = Annotated[User | None, Depends(caller)]
