"""Página «Formadores» del panel: qué buscan los agentes y qué opinan de las respuestas.

A page of the panel's st.navigation (a file, so AppTest can open it too). Everything
shown comes from `kb.report.compute_report`, the same numbers as `kb report`.
"""

from __future__ import annotations

import streamlit as st

from kb.content import FASES
from kb.panel.resources import settings as panel_settings
from kb.report import ReportError, compute_report

settings = panel_settings()
st.subheader("Lo que buscan los agentes")
if not settings.feedback_db.exists():
    st.info("Todavía no hay búsquedas registradas. Aparecerán aquí en cuanto los agentes usen el panel.")
    st.stop()
try:
    report = compute_report(settings.feedback_db)
except ReportError as exc:
    st.error(str(exc), icon="⚠️")
    st.stop()

searches, low, up, down = (report.totals.get(k, 0) for k in ("searches", "low_confidence", "up", "down"))
a, b, c = st.columns(3)
a.metric("Búsquedas", searches)
b.metric("Sin resultado fiable", low)
c.metric("Valoraciones 👍 / 👎", f"{up} / {down}")

if report.by_fase:
    st.markdown("**Búsquedas por fase** (de la primera tarjeta mostrada)")
    st.bar_chart(
        {"fase": [FASES.get(f, f) for f, *_ in report.by_fase], "búsquedas": [n for _, n, _, _ in report.by_fase]},
        x="fase", y="búsquedas", height=220,
    )
for title, headers, rows in report.tables():
    st.markdown(f"**{title}**")
    if rows:
        st.dataframe([dict(zip(headers, row)) for row in rows], hide_index=True, use_container_width=True)
    else:
        st.caption("Sin datos todavía.")
st.download_button("Descargar CSV", report.to_csv(), file_name="informe-kb.csv", mime="text/csv")
