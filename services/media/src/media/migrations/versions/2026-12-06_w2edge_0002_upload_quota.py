"""upload quota: reservations of uploads in progress and a per-user lock row

Revision ID: w2edge_0002
Revises: w2outbox_0002
Create Date: 2026-12-06 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = "w2edge_0002"
down_revision: str | None = "w2outbox_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "upload_reservation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload_reservation")),
    )
    op.create_index(op.f("ix_upload_reservation_user_id"), "upload_reservation", ["user_id"], unique=False)
    op.create_table(
        "quota_lock",
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("touched_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_quota_lock")),
    )


def downgrade() -> None:
    op.drop_table("quota_lock")
    op.drop_index(op.f("ix_upload_reservation_user_id"), table_name="upload_reservation")
    op.drop_table("upload_reservation")
