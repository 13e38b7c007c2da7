"""Situations learned from agents' searches: what a trainer accepted or rejected, by whom and when.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "learned",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("decided_at", sa.Text, nullable=False),
        sa.Column("who", sa.Text, nullable=False),
        sa.Column("card_id", sa.Text, nullable=False),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("status", sa.Text, sa.CheckConstraint("status IN ('accepted', 'rejected')", name="learned_status")),
        sa.Column("evidence", sa.Text),
        sa.UniqueConstraint("card_id", "query", name="learned_card_query"),
    )


def downgrade() -> None:
    op.drop_table("learned")
