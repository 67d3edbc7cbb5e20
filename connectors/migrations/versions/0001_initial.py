"""Initial state schema: snapshots, their stage totals, source state, the delivery ledger.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from connectors.store: a migration is a fixed record of the
# schema at this revision, and store.py will move on.
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the four state tables."""
    op.create_table(
        "snapshots",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project", sa.Text, nullable=False),
        sa.Column("as_of", UTC_DATETIME, nullable=False),
        sa.Column("stored_at", UTC_DATETIME, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("emitted", sa.Text, nullable=False),
        sa.UniqueConstraint("project", "as_of", name="uq_snapshots_project_as_of"),
    )
    op.create_table(
        "snapshot_stages",
        sa.Column(
            "snapshot_id",
            sa.Integer,
            sa.ForeignKey("snapshots.id", ondelete="CASCADE", name="fk_snapshot_stages_snapshot"),
            primary_key=True,
        ),
        sa.Column("stage_key", sa.Text, primary_key=True),
        sa.Column("stage_name", sa.Text, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
    )
    op.create_table(
        "source_state",
        sa.Column("project", sa.Text, primary_key=True),
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("last_ok", UTC_DATETIME, nullable=True),
        sa.Column("cursor", sa.Text, nullable=True),
        sa.Column("last_full", UTC_DATETIME, nullable=True),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("project", sa.Text, nullable=False),
        sa.Column("report", sa.Text, nullable=False),
        sa.Column("period", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("not_before", UTC_DATETIME, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("decided_by", sa.Text, nullable=True),
        sa.Column("decided_at", UTC_DATETIME, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("receipt", sa.Text, nullable=True),
        sa.UniqueConstraint("key", name="uq_deliveries_key"),
    )
    op.create_index("ix_deliveries_status", "deliveries", ["status"])


def downgrade() -> None:
    """Only for developers stepping back a revision by hand; the store never downgrades."""
    op.drop_index("ix_deliveries_status", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_table("source_state")
    op.drop_table("snapshot_stages")
    op.drop_table("snapshots")
