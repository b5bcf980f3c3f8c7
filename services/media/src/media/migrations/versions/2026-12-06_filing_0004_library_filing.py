"""library uploads and filing: items without a show, capture time and private GPS, filing state

Revision ID: filing_0004
Revises: media15_0003
Create Date: 2026-12-06 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = "filing_0004"
down_revision: str | None = "media15_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("media_item") as batch:
        batch.alter_column("show_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("filed_by", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("filing", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("suggestions", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("captured_at", shared.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("captured_local", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("latitude", sa.Float(), nullable=True))
        batch.add_column(sa.Column("longitude", sa.Float(), nullable=True))
        batch.create_index("ix_media_item_user_filing", ["user_id", "filing"])
    with op.batch_alter_table("tus_upload") as batch:
        batch.alter_column("show_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    # library items have no show to go back to: they are dropped with the columns that describe them
    op.execute("DELETE FROM media_item WHERE show_id IS NULL")
    op.execute("DELETE FROM tus_upload WHERE show_id IS NULL")
    with op.batch_alter_table("tus_upload") as batch:
        batch.alter_column("show_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("media_item") as batch:
        batch.drop_index("ix_media_item_user_filing")
        for name in ("longitude", "latitude", "captured_local", "captured_at", "suggestions", "filing", "filed_by"):
            batch.drop_column(name)
        batch.alter_column("show_id", existing_type=sa.Integer(), nullable=False)
