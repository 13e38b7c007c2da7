"""A panel client without a browser: Streamlit's own websocket protocol, spoken from Python.

What the browser's frontend does, reduced to what an agent needs: open `/_stcore/stream` (subprotocol
`streamlit`, nginx's affinity cookie), send a `BackMsg.rerun_script` carrying `ClientState.widget_states`,
read the `ForwardMsg`s until `script_finished`, and keep the widgets (ids taken from the run's deltas,
never guessed) and the texts the run drew. The load benchmark (benchmarks.capacity) uses it so the
server, not a browser on the same two cores, is what gets measured.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from typing import Any

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import ClientConnection, connect

FINISHED = ForwardMsg.FINISHED_SUCCESSFULLY
"""A run that ends for a rerun (`st.rerun()` after signing in) is followed by another: only this one ends it."""
SEARCH_LABEL = "¿Qué está pasando en la llamada?"
SEARCH_BUTTON = "Buscar"
COMMENT_LABEL = "¿Algún comentario? (opcional)"


class PanelError(Exception):
    """The connection closed, or a run did not end in time: the agent's search or vote got no answer."""


@dataclass
class Page:
    """What one script run drew: widgets by label (the last one wins: a label can repeat) and every text."""

    inputs: dict[str, str] = field(default_factory=dict)
    buttons: dict[str, list[str]] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)
    toasts: list[str] = field(default_factory=list)

    def add(self, element: Any) -> None:
        kind = element.WhichOneof("type")
        if kind == "text_input":
            self.inputs[element.text_input.label] = element.text_input.id
        elif kind == "button":
            self.buttons.setdefault(element.button.label, []).append(element.button.id)
        elif kind == "markdown":
            self.texts.append(element.markdown.body)
        elif kind == "html":
            self.texts.append(element.html.body)
        elif kind == "toast":
            self.toasts.append(element.toast.body)
        elif kind == "alert":
            self.texts.append(element.alert.body)

    def text(self) -> str:
        return "\n".join(self.texts)


class PanelClient:
    """One agent's panel session; `connect()`, then `rerun(...)` as often as needed, then `close()`."""

    def __init__(self, url: str, cookie: str, context: ssl.SSLContext | None = None, timeout: float = 60.0) -> None:
        self.url = url.replace("https://", "wss://").replace("http://", "ws://").rstrip("/") + "/_stcore/stream"
        self.cookie, self.context, self.timeout = cookie, context, timeout
        self.ws: ClientConnection | None = None
        self.page_hash = ""
        self.page = Page()
        self._building = Page()
        self._finished: asyncio.Queue[int] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> Page:
        """Open the stream and run the script once, as a browser loading the panel does."""
        self.ws = await connect(
            self.url,
            subprotocols=["streamlit"],  # type: ignore[list-item]
            additional_headers={"Cookie": f"kb_replica={self.cookie}"},
            ssl=self.context if self.url.startswith("wss://") else None,
            max_size=None,
            open_timeout=self.timeout,
            compression=None,
        )
        self._reader = asyncio.create_task(self._read(self.ws))
        return await self.rerun()

    @property
    def closed(self) -> bool:
        """The connection has ended (the replica died or closed it): the frontend would reconnect now."""
        return self._reader is None or self._reader.done()

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for data in ws:
                message = ForwardMsg()
                message.ParseFromString(data if isinstance(data, bytes) else data.encode())
                self._handle(message)
        except Exception:  # noqa: BLE001, S110 - a dropped connection is reported to the waiting run below
            pass
        finally:
            self._finished.put_nowait(-1)

    def _handle(self, message: ForwardMsg) -> None:
        kind = message.WhichOneof("type")
        if kind == "new_session":  # sent as every run starts
            self.page_hash = message.new_session.page_script_hash or self.page_hash
            self._building = Page()
        elif kind == "delta":
            delta = message.delta
            if delta.WhichOneof("type") == "new_element":
                self._building.add(delta.new_element)
            elif delta.WhichOneof("type") == "add_block" and delta.add_block.WhichOneof("type") == "expandable":
                self._building.texts.append(delta.add_block.expandable.label)
        elif kind == "script_finished":
            self._finished.put_nowait(message.script_finished)

    async def rerun(self, *states: WidgetState) -> Page:
        """Send `rerun_script` with these widget states and wait for the run (and any rerun it asks for) to end."""
        if self.ws is None:
            raise PanelError("sin conexión")
        back = BackMsg()
        back.rerun_script.page_script_hash = self.page_hash
        back.rerun_script.widget_states.widgets.extend(states)
        back.rerun_script.context_info.locale = "es-ES"
        back.rerun_script.context_info.timezone = "Europe/Madrid"
        while not self._finished.empty():
            self._finished.get_nowait()
        try:
            await self.ws.send(back.SerializeToString())
            async with asyncio.timeout(self.timeout):
                while (status := await self._finished.get()) != FINISHED:
                    if status < 0:
                        raise PanelError("la conexión con el panel se ha cerrado")
        except TimeoutError as exc:
            raise PanelError(f"el panel no ha terminado en {self.timeout:g} s") from exc
        except Exception as exc:
            if isinstance(exc, PanelError):
                raise
            raise PanelError(f"la conexión con el panel ha fallado: {exc}") from exc
        self.page = self._building
        return self.page

    def _input(self, label: str) -> str:
        if label not in self.page.inputs:
            raise PanelError(f"el panel no muestra «{label}»")
        return self.page.inputs[label]

    def _button(self, label: str, index: int = 0) -> str:
        found = self.page.buttons.get(label, [])
        if len(found) <= index:
            raise PanelError(f"el panel no muestra el botón «{label}»")
        return found[index]

    async def submit(self, button: str, values: dict[str, str]) -> Page:
        """Fill a form's text boxes (by label) and press its submit button."""
        states = [text_state(self._input(label), value) for label, value in values.items()]
        return await self.rerun(*states, trigger_state(self._button(button)))

    async def click(self, label: str, index: int = 0) -> Page:
        return await self.rerun(trigger_state(self._button(label, index)))

    async def sign_in(self, name: str, password: str) -> Page:
        page = await self.submit("Entrar", {"Usuario": name, "Contraseña": password})
        if SEARCH_LABEL not in page.inputs:
            raise PanelError(f"no se ha podido entrar como {name}: {page.text()[-300:]}")
        return page

    async def search(self, query: str) -> Page:
        return await self.submit(SEARCH_BUTTON, {SEARCH_LABEL: query})

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        self.ws = None


def text_state(widget_id: str, value: str) -> WidgetState:
    state = WidgetState(id=widget_id)
    state.string_value = value
    return state


def trigger_state(widget_id: str) -> WidgetState:
    state = WidgetState(id=widget_id)
    state.trigger_value = True
    return state
