"""Customers' personal data as agents and integrations type it, and the search for it in log files.

Valid values (check letters and digits computed, not made up), so a redactor that validates them
treats them as the real thing; a name and an address too, which nothing redacts: no log may hold
them either. A value is found in a log in any of the forms a log writes it:
as typed, URL-encoded (`%20` or `+`, as in a request line) or without its spaces.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
from stdnum.es import dni as stdnum_dni
from stdnum.es import nie as stdnum_nie


def dni(number: int) -> str:
    """A valid DNI: the number and its check letter (python-stdnum, as kb's redactor validates it)."""
    digits = f"{number:08d}"
    return digits + stdnum_dni.calc_check_digit(digits)


def nie(prefix: str, number: int) -> str:
    """A valid NIE: X, Y or Z, seven digits and the check letter."""
    body = f"{prefix}{number:07d}"
    return body + stdnum_nie.calc_check_digit(body)


VALUES: dict[str, str] = {
    "correo": "ana.lopez.garcia@correo.es",
    "otro correo": "JUAN.PEREZ+facturas@empresa.com.mx",
    "móvil": "612 34 56 78",
    "teléfono internacional": "+34 699 12 34 56",
    "fijo": "91 123 45 67",
    "móvil mexicano": "(55) 1234-5678",
    "móvil argentino": "+54 9 11 1234-5678",
    "DNI": dni(48291736),
    "DNI con guion": dni(70234561)[:8] + "-" + dni(70234561)[8],
    "NIE": nie("X", 2345678),
    "IBAN": "ES91 2100 0418 4502 0005 1332",
    "IBAN sin espacios": "ES7620770024003102575766",
    "tarjeta": "4111 1111 1111 1111",
    "tarjeta con guiones": "5555-5555-5555-4444",
    "nombre": "María José Fernández Quintana",
    "dirección": "Calle del Pez Volador 27, 3º B, 28007 Madrid",
}
"""What is typed, by kind (each kind once per channel)."""


def sentence(kind: str, value: str) -> str:
    return f"el cliente está enfadado y me da su {kind}: {value}"


def forms(value: str) -> set[str]:
    """Every way a log could write `value`."""
    return {value, quote(value), quote(value, safe=""), quote_plus(value), value.replace(" ", "")}


def found_in(text: str, value: str) -> bool:
    return any(form in text for form in forms(value))


def hits(logs: dict[str, Path], values: dict[str, str] = VALUES) -> dict[str, list[str]]:
    """For each log (a missing one reads as empty), the kinds whose value it contains."""
    out: dict[str, list[str]] = {}
    for name, path in logs.items():
        text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
        out[name] = [kind for kind, value in values.items() if found_in(text, value)]
    return out


def through_the_api(url: str, http_url: str, token: str, verify: Any) -> Counter[str]:
    """Every value through every API route of a deployment: search by GET (with the token, without it,
    and over plain HTTP, which redirects) and by POST, suggest, and feedback (query and comment).
    Returns how many answers of each «METHOD route status» there were."""
    seen: Counter[str] = Counter()
    auth = {"Authorization": f"Bearer {token}"}
    card = ""
    with httpx.Client(base_url=url, verify=verify, timeout=120) as api, httpx.Client(base_url=http_url) as plain:
        for kind, value in VALUES.items():
            text = sentence(kind, value)
            calls = [
                ("GET /api/search", api.get("/api/search", params={"q": text}, headers=auth)),
                ("GET /api/search", api.get("/api/search", params={"q": text})),
                ("GET /api/search", plain.get("/api/search", params={"q": text}, headers=auth)),
                ("POST /api/search", api.post("/api/search", json={"q": text}, headers=auth)),
                ("POST /api/search", api.post("/api/search", json={"q": text})),
                (
                    "POST /api/suggest",
                    api.post(
                        "/api/suggest",
                        json={"conversation_id": "pii", "turns": [{"speaker": "cliente", "text": text}]},
                        headers=auth,
                    ),
                ),
            ]
            found = calls[0][1].json()["results"] if calls[0][1].status_code == 200 else []
            card = found[0]["id"] if found else card
            vote = {"query": text, "card_id": card, "rank": 1, "vote": -1, "comment": f"me dio su {kind}: {value}"}
            calls.append(("POST /api/feedback", api.post("/api/feedback", json=vote, headers=auth)))
            seen.update(f"{route} {response.status_code}" for route, response in calls)
    return seen


def typed_in_the_site_box(context: Any, page_url: str, ceiling_ms: float) -> list[str]:
    """A reader types every value into the search box of a guide's page (Playwright `context`, closed
    here); returns the API requests the page made."""
    page = context.new_page()
    page.set_default_timeout(ceiling_ms)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(f"{r.method} {r.url}") if "/api/" in r.url else None)
    page.goto(page_url)
    page.locator("html[data-kb-engine='off']").wait_for(state="attached")  # health said: token required
    box = page.locator("input.md-search__input")
    box.click()
    for kind, value in VALUES.items():
        box.fill("")
        box.press_sequentially(sentence(kind, value), delay=5)
        page.locator(".md-search-result__meta").wait_for()
    context.close()
    return requests
