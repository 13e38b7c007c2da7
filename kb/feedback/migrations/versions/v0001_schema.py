"""The feedback schema: searches, feedback (votes) and audit.

Also adopts a SQLite file written before Alembic (kb's hand-made schema, with or
without `searches.top_fase`): tables that exist keep their rows and only get the
columns they lack; Alembic then stamps this revision as usual. The columns are
written out here, not imported from kb.feedback.store, so later model changes cannot
rewrite history.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _logged() -> list[sa.Column]:
    """The columns every logged row starts with: id, when, which panel session, what was asked."""
    return [
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("session", sa.Text),
        sa.Column("query", sa.Text, nullable=False),
    ]


def columns(table: str) -> list[sa.Column]:
    """Fresh Column objects for `table` (a Column belongs to one Table, so build them per use)."""
    if table == "searches":
        return _logged() + [
            sa.Column("fase_filter", sa.Text),
            sa.Column("top_card_id", sa.Text),
            sa.Column("top_fase", sa.Text),
            sa.Column("top_score", sa.Float),
            sa.Column("low_confidence", sa.Integer, nullable=False, server_default="0"),
            sa.Column("results", sa.Integer, nullable=False, server_default="0"),
        ]
    if table == "feedback":
        return _logged() + [
            sa.Column("card_id", sa.Text, nullable=False),
            sa.Column("rank", sa.Integer, nullable=False),
            sa.Column("score", sa.Float, nullable=False),
            sa.Column("vote", sa.Integer, sa.CheckConstraint("vote IN (-1, 1)", name="feedback_vote"), nullable=False),
            sa.Column("comment", sa.Text),
            sa.Column("fase", sa.Text),
        ]
    return [
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("who", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("detail", sa.Text),
    ]


INDEXES = {
    "feedback_card": ("feedback", ["card_id"]),
    "feedback_created": ("feedback", ["created_at"]),
    "searches_query": ("searches", ["query"]),
    "searches_created": ("searches", ["created_at"]),
}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    existing = set(inspector.get_table_names())
    for table in ("searches", "feedback", "audit"):
        if table not in existing:
            op.create_table(table, *columns(table))
            continue
        # Adopting an older file: add what it lacks. Such columns must accept the old rows,
        # so they are added nullable (they were, in every earlier version).
        have = {c["name"] for c in inspector.get_columns(table)}
        for column in columns(table):
            if column.name not in have:
                column.nullable = True
                op.add_column(table, column)
    for name, (table, cols) in INDEXES.items():
        indexes = [i["name"] for i in inspector.get_indexes(table)] if table in existing else []
        if name not in indexes:
            op.create_index(name, table, cols)


def downgrade() -> None:
    for table in ("audit", "feedback", "searches"):
        op.drop_table(table)
