"""Alembic environment for the feedback database, run from `kb.feedback.database.migrate`.

Always online and always on the caller's connection (`config.attributes["connection"]`):
the caller holds the migration lock and owns the transaction, so this file neither
builds an engine nor reads alembic.ini.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:  # e.g. `alembic upgrade` run by hand without going through kb
    raise RuntimeError("Las migraciones de kb se ejecutan con kb.feedback.database.migrate(engine).")

context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
