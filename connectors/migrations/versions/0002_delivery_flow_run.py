"""The Prefect flow run behind a delivery: the run to resume when a person decides an approval.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add `deliveries.flow_run` (nullable: CLI runs without a Prefect server have none)."""
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("flow_run", sa.Text, nullable=True))


def downgrade() -> None:
    """Drop the column again."""
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("flow_run")
