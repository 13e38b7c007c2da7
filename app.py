"""Panel de agentes: `streamlit run app.py` from a checkout runs the panel the package ships.

Everything lives in kb/panel/ (pages, view helpers, cached resources); `kb serve` runs
kb/panel/main.py, which is this same call.
"""

from kb.panel.app import run

run()
