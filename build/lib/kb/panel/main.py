"""The script Streamlit runs for the panel (`kb serve`): the package ships it, so no checkout is needed."""

from kb.panel.app import run

run()
