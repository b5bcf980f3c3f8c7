"""clips on the setlist: songs linked to media items (suggested or confirmed); what suggestions were made from

Revision ID: album_0005
Revises: filing_0004
Create Date: 2026-12-06 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "album_0005"
down_revision: str | None = "filing_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "media_song",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("song_id", sa.Integer(), nullable=False),
        sa.Column("show_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("start_s", sa.Float(), nullable=True),
        sa.Column("end_s", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["media_id"], ["media_item.id"], name=op.f("fk_media_song_media_id_media_item"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_song")),
        sa.UniqueConstraint("media_id", "song_id", "source", name="uq_media_song_media_song_source"),
    )
    op.create_index("ix_media_song_show_song", "media_song", ["show_id", "song_id"], unique=False)
    with op.batch_alter_table("media_item") as batch:
        batch.add_column(sa.Column("songs_basis", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("media_item") as batch:
        batch.drop_column("songs_basis")
    op.drop_index("ix_media_song_show_song", table_name="media_song")
    op.drop_table("media_song")
