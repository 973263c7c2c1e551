"""focus sessions keep the length of their minute

Each session records the seconds in one of its "minutes" when it is created, so every
process computes the same phase boundaries for it whatever its own settings.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 05:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (with a default) works on SQLite too, without a table rebuild.
    op.add_column(
        "focus_sessions",
        sa.Column("minute_s", sa.Double(), server_default=sa.text("60"), nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("focus_sessions", schema=None) as batch_op:
        batch_op.drop_column("minute_s")
