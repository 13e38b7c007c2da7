"""Página «Formadores» del panel: qué buscan los agentes, qué opinan y qué falta en las guías.

A page of the panel's st.navigation (a file, so AppTest can open it too), for signed-in
trainers only. The numbers come from `kb.feedback.report.compute_report` (the same as `kb report`);
grouping, suggestions and comments from `kb.feedback.insights`; this file only lays them out.
"""

from __future__ import annotations

import base64
import uuid
from datetime import date

import streamlit as st

from kb.accounts.identity import TRAINER, User
from kb.content import FASES, Card, read_guides, renamed_ids
from kb.content.rules import overdue_guides
from kb.errors import StoreError, UsageError
from kb.feedback.insights import RANGES, down_comments, gap_groups, gap_queries, since_days
from kb.feedback.report import Report, compute_report
from kb.panel import auth
from kb.panel.resources import embedder, feedback_store, searcher_or_problem, settings
from kb.panel.view import escape_markdown
from kb.trainers.learning import Suggestion, accepted, candidates, decide

DEFAULT_RANGE = "30 días"


def cards_by_id() -> dict[str, Card]:
    searcher, _ = searcher_or_problem()
    return {card.id: card for card in searcher.cards} if searcher is not None else {}


def card_link(card_id: str, cards: dict[str, Card]) -> str:
    """A card as a markdown link to its section on the site, naming the file and line to edit."""
    card = cards.get(card_id)
    if card is None:
        return f"{escape_markdown(card_id)} (ya no está en el índice)"
    return f"[{escape_markdown(card.heading)}]({settings().url_for(card.path)}) · `{card.source}`"


SAVE_SCRIPT = """<script>
(() => {  // %(nonce)s: a new script each click, so a second click saves again
  const bytes = Uint8Array.from(atob("%(data)s"), (c) => c.charCodeAt(0));
  const url = URL.createObjectURL(new Blob([bytes], {type: "text/csv;charset=utf-8"}));
  const link = document.createElement("a");
  link.href = url;
  link.download = "%(name)s";
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
})();
</script>"""
CSV_NAME = "informe-kb.csv"


def export(report: Report, user: User, label: str) -> None:
    """Hand the CSV to this trainer's browser inside the page itself: a one-off script saves it.

    Streamlit's download button would serve the data at /media/<id>.csv to anyone whose request
    reaches this replica, for as long as the session lives, and nginx logs that URL. Here the CSV
    is made only after a signed-in trainer's click, travels over that session's websocket, and
    has no URL at all; the next rerun removes the script from the page."""
    payload = base64.b64encode(report.to_csv().encode("utf-8")).decode("ascii")
    values = {"nonce": uuid.uuid4().hex, "data": payload, "name": CSV_NAME}
    st.html(SAVE_SCRIPT % values, unsafe_allow_javascript=True)  # our own script; the data is base64
    auth.audit(user.name, "exportación del informe", f"CSV, últimos {label}")


def overview(report: Report) -> None:
    searches, low, up, down = (report.totals.get(k, 0) for k in ("searches", "low_confidence", "up", "down"))
    a, b, c = st.columns(3)
    a.metric("Búsquedas", searches)
    b.metric("Sin resultado fiable", low)
    c.metric("Valoraciones 👍 / 👎", f"{up} / {down}")
    if report.by_fase:
        st.markdown("**Búsquedas por fase** (de la primera tarjeta mostrada)")
        st.bar_chart(
            {"fase": [FASES.get(f, f) for f, *_ in report.by_fase], "búsquedas": [n for _, n, _, _ in report.by_fase]},
            x="fase",
            y="búsquedas",
            height=200,
        )


def worst_cards(report: Report, cards: dict[str, Card]) -> None:
    st.markdown("#### Tarjetas con más 👎")
    if not report.worst_cards:
        st.caption("Ninguna tarjeta con 👎 en este periodo.")
    for card_id, n_down, n_up in report.worst_cards:
        st.markdown(f"- {card_link(card_id, cards)} · 👎 {n_down} · 👍 {n_up}")


def comments(since_label: str, cards: dict[str, Card]) -> None:
    st.markdown("#### Comentarios de los 👎")
    found = down_comments(feedback_store(), since_days(RANGES[since_label]))
    if not found:
        st.caption("Sin comentarios en este periodo.")
    for c in found:
        st.markdown(
            f"- «{escape_markdown(c.comment)}»  \n  {card_link(c.card_id, cards)} · "
            f"búsqueda «{escape_markdown(c.query)}» · {c.created_at[:10]}"
        )


def gaps(since_label: str) -> None:
    st.markdown("#### Huecos de contenido, agrupados por significado")
    queries = gap_queries(feedback_store(), since_days(RANGES[since_label]))
    groups = gap_groups(queries, embedder().encode_queries) if queries else []
    if not groups:
        st.caption("Ninguna búsqueda sin resultado fiable en este periodo.")
        return
    st.dataframe(
        [{"búsquedas": g.size, "ejemplos": " · ".join(g.examples)} for g in groups],
        hide_index=True,
        width="stretch",
        key="gap-groups",
    )


def decided(suggestion: Suggestion, accept: bool, user: User) -> None:
    """A trainer's click on «Aceptar» or «Rechazar»: stored with who, when and the evidence, and audited."""
    s = suggestion
    try:
        decide(feedback_store(), s.card_id, s.query, accept=accept, who=user.name, evidence=s.evidence)
    except (StoreError, UsageError) as exc:
        st.session_state["learn-error"] = str(exc)


def learning(cards: dict[str, Card], user: User) -> None:
    st.markdown("#### Situaciones que enseñan las búsquedas de los agentes")
    st.caption(
        "Búsquedas con 👍 en una tarjeta que aún no están entre sus líneas «Cuándo». Acepta las que "
        "describen la situación de esa tarjeta: la próxima construcción del índice las aprende, sin "
        "cambiar la guía. Las rechazadas no vuelven a salir. También con `kb learn`."
    )
    if error := st.session_state.pop("learn-error", None):
        st.error(error, icon="⚠️")
    try:
        found, learned = candidates(feedback_store(), cards.values()), accepted(feedback_store())
    except StoreError as exc:
        st.error(str(exc), icon="⚠️")
        return
    total = sum(len(v) for v in learned.values())
    if total:
        st.caption(f"{total} situaciones aceptadas en {len(learned)} tarjetas; entran al reconstruir el índice.")
    if not found:
        st.caption("Ninguna búsqueda nueva que revisar.")
    for s in found[:20]:
        text, yes, no = st.columns([6, 1, 1], vertical_alignment="center")
        text.markdown(f"«{escape_markdown(s.query)}»  \n→ {card_link(s.card_id, cards)} · {s.evidence}")
        yes.button("Aceptar", key=f"learn-yes-{s.key}", on_click=decided, args=(s, True, user))
        no.button("Rechazar", key=f"learn-no-{s.key}", on_click=decided, args=(s, False, user))


def overdue() -> None:
    st.markdown("#### Guías pendientes de revisión")
    due = overdue_guides(read_guides(settings().docs_dir, settings().root), date.today())
    if not due:
        st.caption("Todas las guías están al día.")
    for guide, deadline in due:
        owner = escape_markdown(str(guide.meta.get("responsable", "sin responsable")))
        title = escape_markdown(str(guide.meta.get("title", guide.page)))
        st.markdown(
            f"- [{title}]({settings().url_for(guide.site_path)}) · `{guide.rel}` · "
            f"vencía el {deadline.isoformat()} · {owner}"
        )


def audit_trail() -> None:
    st.markdown("#### Registro de auditoría (últimas 50 entradas)")
    try:
        rows = feedback_store().audit_rows(50)
    except StoreError as exc:
        st.error(str(exc), icon="⚠️")
        return
    st.dataframe(
        [{"fecha": r["created_at"], "quién": r["who"], "acción": r["action"], "detalle": r["detail"]} for r in rows],
        hide_index=True,
        width="stretch",
        key="audit",
    )


def page() -> None:
    user = auth.require(TRAINER, "Esta página es solo para formadores: entra con tu usuario.")
    if user is None:
        return
    auth.user_bar(user)
    st.subheader("Lo que buscan los agentes")
    label = st.segmented_control("Periodo", list(RANGES), default=DEFAULT_RANGE, key="range") or DEFAULT_RANGE
    try:
        report = compute_report(
            feedback_store(), since=since_days(RANGES[label]), renamed=renamed_ids(list(cards_by_id().values()))
        )
    except StoreError as exc:
        st.error(str(exc), icon="⚠️")
        return
    if not report.totals.get("searches"):
        st.info(
            "Todavía no hay búsquedas registradas en este periodo. Aparecerán aquí en cuanto los agentes usen el panel."
        )
    else:
        cards = cards_by_id()
        overview(report)
        worst_cards(report, cards)
        comments(label, cards)
        gaps(label)
        st.markdown("#### Consultas más frecuentes")
        st.dataframe(
            [{"consulta": q, "veces": n} for q, n in report.top_queries], hide_index=True, width="stretch", key="top"
        )
        if st.button("Descargar CSV", key="csv"):
            export(report, user, label)
    learning(cards_by_id(), user)
    overdue()
    audit_trail()


page()
