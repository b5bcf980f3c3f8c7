"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 22:39:22.402986
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "artist",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_norm", sa.String(length=200), nullable=False),
        sa.Column("mbid", sa.String(length=36), nullable=True),
        sa.Column("spotify_id", sa.String(length=64), nullable=True),
        sa.Column("image_url", sa.String(length=500), nullable=True),
        sa.Column("created_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artist")),
        sa.UniqueConstraint("name_norm", name=op.f("uq_artist_name_norm")),
    )
    op.create_table(
        "friendship",
        sa.Column("user_a", sa.Integer(), nullable=False),
        sa.Column("user_b", sa.Integer(), nullable=False),
        sa.CheckConstraint("user_a < user_b", name=op.f("ck_friendship_ordered_pair")),
        sa.PrimaryKeyConstraint("user_a", "user_b", name=op.f("pk_friendship")),
    )
    with op.batch_alter_table("friendship", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_friendship_user_b"), ["user_b"], unique=False)

    op.create_table(
        "outbox_event",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", shared.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_event")),
    )
    with op.batch_alter_table("outbox_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_event_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_event_published_at"), ["published_at"], unique=False)

    op.create_table(
        "processed_event",
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_processed_event")),
    )
    with op.batch_alter_table("processed_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_processed_event_processed_at"), ["processed_at"], unique=False)

    op.create_table(
        "user_copy",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_copy")),
    )
    op.create_table(
        "venue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_norm", sa.String(length=200), nullable=False),
        sa.Column("city", sa.String(length=120), nullable=False),
        sa.Column("city_norm", sa.String(length=120), nullable=False),
        sa.Column("state", sa.String(length=120), nullable=False),
        sa.Column("country", sa.String(length=120), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("place_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venue")),
        sa.UniqueConstraint("name_norm", "city_norm", name="uq_venue_name_city"),
    )
    with op.batch_alter_table("venue", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_venue_city_norm"), ["city_norm"], unique=False)
        batch_op.create_index(batch_op.f("ix_venue_name_norm"), ["name_norm"], unique=False)

    op.create_table(
        "concert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("artist_id", sa.Integer(), nullable=False),
        sa.Column("venue_id", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("created_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["artist_id"], ["artist.id"], name=op.f("fk_concert_artist_id_artist")),
        sa.ForeignKeyConstraint(["venue_id"], ["venue.id"], name=op.f("fk_concert_venue_id_venue")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concert")),
        sa.UniqueConstraint("artist_id", "venue_id", "date", name="uq_concert_artist_venue_date"),
    )
    with op.batch_alter_table("concert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_concert_artist_id"), ["artist_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_concert_date"), ["date"], unique=False)
        batch_op.create_index(batch_op.f("ix_concert_venue_id"), ["venue_id"], unique=False)

    op.create_table(
        "show",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("concert_id", sa.Integer(), nullable=False),
        sa.Column("show_date", sa.Date(), nullable=False),
        sa.Column("time", sa.String(length=5), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("notes_norm", sa.Text(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("visible_to", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("created_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("visibility IN ('private', 'friends', 'public')", name=op.f("ck_show_visibility_values")),
        sa.CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name=op.f("ck_show_rating_range")),
        sa.ForeignKeyConstraint(["concert_id"], ["concert.id"], name=op.f("fk_show_concert_id_concert")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_show")),
        sa.UniqueConstraint("user_id", "concert_id", name="uq_show_user_concert"),
    )
    with op.batch_alter_table("show", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_show_concert_id"), ["concert_id"], unique=False)
        batch_op.create_index("ix_show_user_date", ["user_id", "show_date"], unique=False)

    op.create_table(
        "checkin",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("concert_id", sa.Integer(), nullable=False),
        sa.Column("show_id", sa.Integer(), nullable=False),
        sa.Column("checked_in_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("checked_out_at", shared.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["concert_id"], ["concert.id"], name=op.f("fk_checkin_concert_id_concert")),
        sa.ForeignKeyConstraint(["show_id"], ["show.id"], name=op.f("fk_checkin_show_id_show"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin")),
    )
    with op.batch_alter_table("checkin", schema=None) as batch_op:
        batch_op.create_index("ix_checkin_concert_active", ["concert_id", "checked_out_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_checkin_show_id"), ["show_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_checkin_user_id"), ["user_id"], unique=False)

    op.create_table(
        "setlist_song",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("show_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("notes", sa.String(length=500), nullable=False),
        sa.Column("is_cover", sa.Boolean(), nullable=False),
        sa.Column("original_artist", sa.String(length=200), nullable=True),
        sa.Column("duration", sa.String(length=10), nullable=True),
        sa.Column("songwriter", sa.String(length=200), nullable=True),
        sa.Column("with_artist", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["show_id"], ["show.id"], name=op.f("fk_setlist_song_show_id_show"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_setlist_song")),
        sa.UniqueConstraint("show_id", "position", name="uq_setlist_song_show_position"),
    )
    with op.batch_alter_table("setlist_song", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_setlist_song_show_id"), ["show_id"], unique=False)

    op.create_table(
        "show_audience",
        sa.Column("show_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["show_id"], ["show.id"], name=op.f("fk_show_audience_show_id_show"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("show_id", "user_id", name=op.f("pk_show_audience")),
    )
    op.create_table(
        "show_counter",
        sa.Column("show_id", sa.Integer(), nullable=False),
        sa.Column("photos", sa.Integer(), nullable=False),
        sa.Column("audio", sa.Integer(), nullable=False),
        sa.Column("videos", sa.Integer(), nullable=False),
        sa.Column("comments", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["show_id"], ["show.id"], name=op.f("fk_show_counter_show_id_show"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("show_id", name=op.f("pk_show_counter")),
    )


def downgrade() -> None:
    op.drop_table("show_counter")
    op.drop_table("show_audience")
    with op.batch_alter_table("setlist_song", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_setlist_song_show_id"))

    op.drop_table("setlist_song")
    with op.batch_alter_table("checkin", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkin_user_id"))
        batch_op.drop_index(batch_op.f("ix_checkin_show_id"))
        batch_op.drop_index("ix_checkin_concert_active")

    op.drop_table("checkin")
    with op.batch_alter_table("show", schema=None) as batch_op:
        batch_op.drop_index("ix_show_user_date")
        batch_op.drop_index(batch_op.f("ix_show_concert_id"))

    op.drop_table("show")
    with op.batch_alter_table("concert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_concert_venue_id"))
        batch_op.drop_index(batch_op.f("ix_concert_date"))
        batch_op.drop_index(batch_op.f("ix_concert_artist_id"))

    op.drop_table("concert")
    with op.batch_alter_table("venue", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_venue_name_norm"))
        batch_op.drop_index(batch_op.f("ix_venue_city_norm"))

    op.drop_table("venue")
    op.drop_table("user_copy")
    with op.batch_alter_table("processed_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_processed_event_processed_at"))

    op.drop_table("processed_event")
    with op.batch_alter_table("outbox_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_event_published_at"))
        batch_op.drop_index(batch_op.f("ix_outbox_event_created_at"))

    op.drop_table("outbox_event")
    with op.batch_alter_table("friendship", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_friendship_user_b"))

    op.drop_table("friendship")
    op.drop_table("artist")
