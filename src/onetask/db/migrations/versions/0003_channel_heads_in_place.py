"""channel heads are updated in place

Every task change advances its channels' heads. The index on `updated_at` made each of
those updates write new index entries: on PostgreSQL no update could be HOT (a head
updated 20,000 times took 1,064 kB and 312 bytes of WAL per update, against 56 kB and
179 without the index), and on SQLite each commit wrote one more page to the WAL (46.5
against 42.4 KiB per task PATCH). The relay's sweep, the only query that filters on
`updated_at`, matches nearly every head with it and gained nothing from the index.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 14:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("channel_heads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_heads_updated_at"))


def downgrade() -> None:
    with op.batch_alter_table("channel_heads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_channel_heads_updated_at"), ["updated_at"], unique=False
        )
