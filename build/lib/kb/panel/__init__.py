"""The agents' panel (Streamlit): pages, view helpers and the resources every session shares."""
