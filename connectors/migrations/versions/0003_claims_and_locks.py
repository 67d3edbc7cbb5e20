"""Crash recovery: who holds a delivery's claim and until when, how far a multi-part post got,
whether a failure is worth retrying; and one row per project for the sync's lock.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the claim, progress and classification columns and the `project_locks` table."""
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("claimed_by", sa.Text, nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("parts_done", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("in_flight", sa.Integer, nullable=True))
        batch.add_column(sa.Column("retryable", sa.Boolean, nullable=True))
        batch.add_column(sa.Column("config_hash", sa.Text, nullable=True))
    op.create_table(
        "project_locks",
        sa.Column("project", sa.Text, primary_key=True),
        sa.Column("owner", sa.Text, nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    """Drop them again."""
    op.drop_table("project_locks")
    with op.batch_alter_table("deliveries") as batch:
        for column in (
            "config_hash",
            "retryable",
            "in_flight",
            "parts_done",
            "lease_until",
            "claimed_by",
        ):
            batch.drop_column(column)
