"""Snapshots in a numbered format, their bodies shared: a sync that found nothing new stores a
small row pointing at the body it shares with the sync before it, instead of a full copy.

Rows stored before keep their whole snapshot in `data` and are format 0; nothing is rewritten.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add `snapshot_bodies`, and `format` and `body_id` to `snapshots`."""
    op.create_table(
        "snapshot_bodies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project", sa.Text, nullable=False),
        sa.Column("digest", sa.Text, nullable=False),
        sa.Column("format", sa.Integer, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.UniqueConstraint("project", "digest", name="uq_snapshot_bodies_project_digest"),
    )
    op.add_column("snapshots", sa.Column("format", sa.Integer, nullable=False, server_default="0"))
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot add a foreign key with ALTER, and batch mode would copy `snapshots` to a
        # new table and drop the old one, which (foreign keys being on) deletes every row of
        # `snapshot_stages` by its ON DELETE CASCADE. SQLite's own ADD COLUMN takes the
        # reference inline.
        op.execute(
            "ALTER TABLE snapshots ADD COLUMN body_id INTEGER"
            " CONSTRAINT fk_snapshots_body REFERENCES snapshot_bodies (id)"
        )
    else:
        op.add_column(
            "snapshots",
            sa.Column(
                "body_id",
                sa.Integer,
                sa.ForeignKey("snapshot_bodies.id", name="fk_snapshots_body"),
                nullable=True,
            ),
        )


def downgrade() -> None:
    """Refused: revision 0003's code cannot read snapshots stored in format 1. Going back to an
    older release means restoring the backup taken before the upgrade (docs/operations.md,
    "Upgrades"), as for every revision."""
    raise NotImplementedError(
        "snapshots stored since revision 0004 cannot be read by older code: restore a backup"
    )
