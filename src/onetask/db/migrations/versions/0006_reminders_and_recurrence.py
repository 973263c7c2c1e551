"""task reminders, overdue notices and recurring tasks

`task_reminders`: a task's reminders, each for one recipient, absolute (`at`) or relative
to the due date (`before_s`); `fire_at` is the scheduler's indexed due time.
`tasks.overdue_at`: when the assignee is told the task is overdue (indexed, NULL once
told). `tasks.recurrence_*`: the task's RRULE, its time zone and the series' start;
`tasks.follows_id`: the occurrence whose completion created the task, unique, so one
completion creates at most one next occurrence.

Columns are added in place (no batch rebuild of `tasks`, which would drop the full-text
triggers of 0004 on SQLite); hence `follows_id` has a unique index and no foreign key.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from onetask.db.types import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("overdue_at", UTCDateTime(), nullable=True))
    op.add_column("tasks", sa.Column("recurrence_rule", sa.String(length=500), nullable=True))
    op.add_column("tasks", sa.Column("recurrence_tz", sa.String(length=64), nullable=True))
    op.add_column("tasks", sa.Column("recurrence_start", UTCDateTime(), nullable=True))
    op.add_column("tasks", sa.Column("follows_id", sa.Integer(), nullable=True))
    op.create_index("ix_tasks_overdue_at", "tasks", ["overdue_at"])
    op.create_index("uq_tasks_follows_id", "tasks", ["follows_id"], unique=True)
    op.create_table(
        "task_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=True),
        sa.Column("before_s", sa.Integer(), nullable=True),
        sa.Column("fire_at", UTCDateTime(), nullable=True),
        sa.Column("fired_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["tasks.id"],
            name=op.f("fk_task_reminders_task_id_tasks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_task_reminders_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_task_reminders_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_reminders")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_task_reminders_task_id", "task_reminders", ["task_id"])
    op.create_index("ix_task_reminders_user_id", "task_reminders", ["user_id"])
    op.create_index("ix_task_reminders_fire_at", "task_reminders", ["fire_at"])


def downgrade() -> None:
    op.drop_table("task_reminders")
    op.drop_index("uq_tasks_follows_id", table_name="tasks")
    op.drop_index("ix_tasks_overdue_at", table_name="tasks")
    for column in ("follows_id", "recurrence_start", "recurrence_tz", "recurrence_rule"):
        op.drop_column("tasks", column)
    op.drop_column("tasks", "overdue_at")
