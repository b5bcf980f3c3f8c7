"""tus uploads: resumable uploads in progress; HLS ladder state of videos

Revision ID: media15_0003
Revises: w2edge_0002
Create Date: 2026-12-06 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = "media15_0003"
down_revision: str | None = "w2edge_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tus_upload",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("show_id", sa.Integer(), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("metadata_raw", sa.Text(), nullable=False),
        sa.Column("prefix", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=True),
        sa.Column("content_type", sa.String(length=64), nullable=True),
        sa.Column("format", sa.String(length=16), nullable=True),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("reservation_id", sa.Integer(), nullable=True),
        sa.Column("media_id", sa.Integer(), nullable=True),
        sa.Column("created_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tus_upload")),
        sa.UniqueConstraint("prefix", name=op.f("uq_tus_upload_prefix")),
    )
    op.create_index(op.f("ix_tus_upload_user_id"), "tus_upload", ["user_id"], unique=False)
    op.create_index(op.f("ix_tus_upload_expires_at"), "tus_upload", ["expires_at"], unique=False)
    with op.batch_alter_table("media_item") as batch:
        batch.add_column(sa.Column("hls_status", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("hls_progress", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("media_item") as batch:
        batch.drop_column("hls_progress")
        batch.drop_column("hls_status")
    op.drop_index(op.f("ix_tus_upload_expires_at"), table_name="tus_upload")
    op.drop_index(op.f("ix_tus_upload_user_id"), table_name="tus_upload")
    op.drop_table("tus_upload")
