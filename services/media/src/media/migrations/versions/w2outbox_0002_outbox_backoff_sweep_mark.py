"""outbox: aggregate ordering key and per-row backoff; sweep_mark for the storage sweep

Revision ID: w2outbox_0002
Revises: w2copies_0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db
from shared.migrations import add_outbox_backoff_columns, drop_outbox_backoff_columns

revision: str = "w2outbox_0002"
down_revision: str | None = "w2copies_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_outbox_backoff_columns()
    op.create_table(
        "sweep_mark",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("first_seen_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sweep_mark")),
    )
    with op.batch_alter_table("sweep_mark", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sweep_mark_first_seen_at"), ["first_seen_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sweep_mark", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sweep_mark_first_seen_at"))
    op.drop_table("sweep_mark")
    drop_outbox_backoff_columns()
