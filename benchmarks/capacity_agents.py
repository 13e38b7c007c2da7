"""The simulated agents of the capacity benchmark: panel agents over Streamlit's websocket protocol
(benchmarks.panel_client) and API agents over HTTPS (`POST /api/search` with a bearer token), no browser.

Each agent searches at random intervals, votes 👍 on the first card of some answers, and keeps what the
deployment acknowledged, so a run can later check the database for every acknowledged vote and search.
Every query carries a tag (`caso p0x3n7`: run 0, panel agent 3, its 7th search) that redaction leaves alone, so a
stored row is matched to the search that made it.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from benchmarks.load import QUERIES
from benchmarks.panel_client import COMMENT_LABEL, SEARCH_LABEL, PanelClient, PanelError

VOTE_SHARE = 0.5
"""Share of answered searches followed by a 👍 on the first card."""


@dataclass
class Tally:
    """What one kind of agent (panel or API) asked for and what it got back."""

    kind: str
    times_ms: list[float] = field(default_factory=list)
    asked: int = 0
    errors: int = 0  # answers that were not results: a dropped connection, a timeout, a 5xx
    retried: int = 0  # searches answered only on a second try (after reconnecting)
    reconnects: int = 0  # connections found closed between searches and opened again, as the frontend does
    lost: int = 0  # searches never answered
    queries: dict[str, str] = field(default_factory=dict)  # tag → query, for every search asked
    answered: dict[str, str] = field(default_factory=dict)  # tag → what the agent saw, for answers with cards
    votes_acked: list[str] = field(default_factory=list)  # tags whose vote the deployment acknowledged
    votes_refused: int = 0


@dataclass
class Plan:
    """How agents behave: the pause between searches, and either a deadline or a number of searches each."""

    pause: tuple[float, float] = (20.0, 40.0)
    until: float = float("inf")
    searches_each: int | None = None
    seed: int = 0
    queries: tuple[str, ...] = tuple(QUERIES)
    patience: float = 60.0
    """Seconds an agent waits for one answer before counting it as failed."""

    def more(self, done: int) -> bool:
        return time.monotonic() < self.until and (self.searches_each is None or done < self.searches_each)

    async def wait(self, rng: random.Random) -> None:
        """The pause before the next search, cut short at the deadline (no agent idles past the window)."""
        await asyncio.sleep(max(0.0, min(rng.uniform(*self.pause), self.until - time.monotonic())))


def tagged(rng: random.Random, kind: str, agent: int, n: int, plan: Plan) -> tuple[str, str]:
    tag = f"caso {kind}{plan.seed}x{agent}n{n}"
    return f"{rng.choice(plan.queries)} ({tag})", tag


async def first_pause(rng: random.Random, plan: Plan) -> None:
    """A random start within one pause, so the agents' searches are spread from the first second."""
    await asyncio.sleep(rng.uniform(0, plan.pause[1] if plan.searches_each is None else plan.pause[0]))


async def searches(
    rng: random.Random, kind: str, number: int, tally: Tally, plan: Plan
) -> AsyncIterator[tuple[str, str]]:
    """One agent's searches, (query, tag) at a time, each counted as asked: a random first pause, then a
    pause after each one, until the plan's deadline or number of searches."""
    await first_pause(rng, plan)
    done = 0
    while plan.more(done):
        done += 1
        query, tag = tagged(rng, kind, number, done, plan)
        tally.asked += 1
        tally.queries[tag] = query
        yield query, tag
        await plan.wait(rng)


# ---------------------------------------------------------------- API agents


async def api_search(client: httpx.AsyncClient, query: str) -> list[dict]:
    response = await client.post("/api/search", json={"q": query, "k": 3})
    if response.status_code != 200:
        raise PanelError(f"HTTP {response.status_code}")
    return list(response.json().get("results", []))


async def api_agent(client: httpx.AsyncClient, number: int, tally: Tally, plan: Plan) -> None:
    """Search through the API (the same client keeps its connection, as an integration would) and vote."""
    rng = random.Random(plan.seed * 1000 + number)
    async for query, tag in searches(rng, "a", number, tally, plan):
        started = time.perf_counter()
        results = await api_try(client, query, tally)
        if results is None:
            continue
        tally.times_ms.append((time.perf_counter() - started) * 1000)
        if results:
            tally.answered[tag] = "\n".join(f"{r.get('heading', '')} · {r.get('title', '')}" for r in results)
            if rng.random() < VOTE_SHARE:
                await api_vote(client, query, tag, results[0], tally)


async def api_try(client: httpx.AsyncClient, query: str, tally: Tally) -> list[dict] | None:
    """One search; after a failed call, once more, as an integration retries (None: never answered)."""
    try:
        return await api_search(client, query)
    except (httpx.HTTPError, PanelError):
        tally.errors += 1
    try:
        results = await api_search(client, query)
    except (httpx.HTTPError, PanelError):
        tally.lost += 1
        return None
    tally.retried += 1
    return results


async def api_vote(client: httpx.AsyncClient, query: str, tag: str, top: dict, tally: Tally) -> None:
    body = {"query": query, "card_id": top["id"], "rank": 1, "vote": 1, "score": float(top.get("score", 0.0))}
    try:
        response = await client.post("/api/feedback", json=body)
    except httpx.HTTPError:
        tally.votes_refused += 1
        return
    if response.status_code == 201:
        tally.votes_acked.append(tag)
    else:
        tally.votes_refused += 1


# ---------------------------------------------------------------- panel agents


@dataclass
class PanelAgent:
    """One agent at the panel: its replica cookie, its account, and its current connection."""

    url: str
    context: ssl.SSLContext | None
    cookie: str
    user: str
    password: str
    timeout: float = 60.0
    client: PanelClient | None = None

    async def open(self) -> None:
        """Load the panel (a new session) and sign in when it asks, as after opening the page in a browser."""
        if self.client is not None:
            await self.client.close()
        self.client = PanelClient(self.url, self.cookie, self.context, self.timeout)
        page = await self.client.connect()
        if SEARCH_LABEL not in page.inputs:
            await self.client.sign_in(self.user, self.password)

    async def search(self, query: str) -> tuple[str, bool]:
        """The text the results drew and whether it holds cards (the first card's 👍 button)."""
        assert self.client is not None
        page = await self.client.search(query)
        return page.text(), bool(page.buttons.get("👍 Útil"))

    async def vote(self) -> bool:
        """👍 on the first card; acknowledged when the panel answers with the comment box (the vote is kept)."""
        assert self.client is not None
        page = await self.client.click("👍 Útil")
        return COMMENT_LABEL in page.inputs and not any("⚠" in t for t in page.toasts)


async def panel_try(agent: PanelAgent, query: str, tally: Tally) -> tuple[str, bool] | None:
    """One search; after a dropped connection, reconnect (a new session, signed in again) and try once more."""
    try:
        if agent.client is None or agent.client.closed:  # dropped while the agent was idle
            tally.reconnects += 1
            await agent.open()
        return await agent.search(query)
    except PanelError:
        tally.errors += 1
    try:
        await agent.open()
        answer = await agent.search(query)
    except PanelError:
        tally.lost += 1
        return None
    tally.retried += 1
    return answer


async def panel_agent(agent: PanelAgent, number: int, tally: Tally, plan: Plan) -> None:
    rng = random.Random(plan.seed * 1000 + 500 + number)
    async for query, tag in searches(rng, "p", number, tally, plan):
        started = time.perf_counter()
        answer = await panel_try(agent, query, tally)
        if answer is not None:
            tally.times_ms.append((time.perf_counter() - started) * 1000)
            text, cards = answer
            if cards:
                tally.answered[tag] = text
                if rng.random() < VOTE_SHARE:
                    await panel_vote(agent, tag, tally)


async def panel_vote(agent: PanelAgent, tag: str, tally: Tally) -> None:
    try:
        acked = await agent.vote()
    except PanelError:
        acked = False
        await asyncio.gather(agent.open(), return_exceptions=True)
    if acked:
        tally.votes_acked.append(tag)
    else:
        tally.votes_refused += 1


async def open_all(agents: list[PanelAgent], batch: int = 5) -> None:
    """Connect and sign in a few at a time (not measured: a contact centre does not start at once)."""
    for start in range(0, len(agents), batch):
        await asyncio.gather(*(a.open() for a in agents[start : start + batch]))


Trigger = float | Callable[[tuple[Tally, Tally]], bool]
"""When an event runs: seconds after the start, or as soon as the agents' tallies satisfy a condition."""
Event = tuple[Trigger, Callable[[], Awaitable[None]]]


async def run_agents(
    panel: list[PanelAgent],
    api: list[httpx.AsyncClient],
    plan: Plan,
    tallies: tuple[Tally, Tally],
    events: list[Event] | None = None,
) -> None:
    """All agents until `plan` says stop, counting into `tallies`; `events` (a fault, say) run meanwhile
    when their trigger fires."""
    started = time.monotonic()

    async def at(trigger: Trigger, action: Callable[[], Awaitable[None]]) -> None:
        if callable(trigger):
            while not trigger(tallies):
                await asyncio.sleep(0.05)
        else:
            await asyncio.sleep(max(0.0, started + trigger - time.monotonic()))
        await action()

    await asyncio.gather(
        *(panel_agent(a, i, tallies[0], plan) for i, a in enumerate(panel, 1)),
        *(api_agent(c, i, tallies[1], plan) for i, c in enumerate(api, 1)),
        *(at(trigger, action) for trigger, action in events or []),
    )
