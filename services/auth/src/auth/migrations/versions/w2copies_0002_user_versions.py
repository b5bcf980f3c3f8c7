"""user versions and tombstones for event-fed copies elsewhere

Revision ID: w2copies_0002
Revises: 0001
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = "w2copies_0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
    op.create_table(
        "deleted_user",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deleted_user")),
    )
    with op.batch_alter_table("deleted_user", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deleted_user_deleted_at"), ["deleted_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deleted_user", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deleted_user_deleted_at"))
    op.drop_table("deleted_user")
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("version")
