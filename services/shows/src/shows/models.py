"""SQLAlchemy models of the shows service (catalogue, shows, setlists, check-ins, local copies)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import utcnow
from shows.db import Base


class Artist(Base):
    """A performer; `name_norm` makes names unique case- and accent-insensitively."""

    __tablename__ = "artist"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_norm: Mapped[str] = mapped_column(String(200), unique=True)
    mbid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    spotify_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    image_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # catalogue facts (issue 14): filled by the catalog worker from MusicBrainz / Wikidata
    sort_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    disambiguation: Mapped[str | None] = mapped_column(String(200), nullable=True)
    description: Mapped[str | None] = mapped_column(String(500), nullable=True)
    aliases: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    catalog_fetched_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class Venue(Base):
    """A place where concerts happen; unique by normalised name + normalised city."""

    __tablename__ = "venue"
    __table_args__ = (UniqueConstraint("name_norm", "city_norm", name="uq_venue_name_city"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_norm: Mapped[str] = mapped_column(String(200), index=True)
    city: Mapped[str] = mapped_column(String(120), default="")
    city_norm: Mapped[str] = mapped_column(String(120), default="", index=True)
    state: Mapped[str] = mapped_column(String(120), default="")
    country: Mapped[str] = mapped_column(String(120), default="")
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    place_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    mbid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    setlistfm_id: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)


class Concert(Base):
    """The real-world event: one artist at one venue on one date."""

    __tablename__ = "concert"
    __table_args__ = (UniqueConstraint("artist_id", "venue_id", "date", name="uq_concert_artist_venue_date"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    artist_id: Mapped[int] = mapped_column(ForeignKey("artist.id"), index=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("venue.id"), index=True)
    date: Mapped[dt.date] = mapped_column(Date, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Show(Base):
    """One person's attendance of a concert."""

    __tablename__ = "show"
    __table_args__ = (
        UniqueConstraint("user_id", "concert_id", name="uq_show_user_concert"),
        CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="rating_range"),
        CheckConstraint("visibility IN ('private', 'friends', 'public')", name="visibility_values"),
        Index("ix_show_user_date", "user_id", "show_date"),
        # never reuse the id of a deleted show: copies elsewhere keep its tombstone under that id
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer)  # indexed by ix_show_user_date
    concert_id: Mapped[int] = mapped_column(ForeignKey("concert.id"), index=True)
    # copy of concert.date so a person's list sorts and filters on one index
    show_date: Mapped[dt.date] = mapped_column(Date)
    time: Mapped[str | None] = mapped_column(String(5), nullable=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    notes_norm: Mapped[str] = mapped_column(Text, default="")
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)
    visibility: Mapped[str] = mapped_column(String(16), default="friends")
    visible_to: Mapped[list[int] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # festival and ticket facts (issue 14)
    festival_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    festival_day: Mapped[str | None] = mapped_column(String(40), nullable=True)
    festival_stage: Mapped[str | None] = mapped_column(String(120), nullable=True)
    ticket_price: Mapped[float | None] = mapped_column(Float, nullable=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    seat: Mapped[str | None] = mapped_column(String(120), nullable=True)
    # bumped (under the row lock) by every show.* event; copies in media and social compare it
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class ShowTombstone(Base):
    """A deleted show's id and final version, served in the snapshot so copies elsewhere converge."""

    __tablename__ = "show_tombstone"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(Integer)
    concert_id: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    deleted_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class ShowAudience(Base):
    """Index of `Show.visible_to` (friend ids allowed to see a friends-only show), for SQL filtering."""

    __tablename__ = "show_audience"
    show_id: Mapped[int] = mapped_column(ForeignKey("show.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class SetlistSong(Base):
    """A song of a show's setlist at a dense 1-based position (`order` in the API)."""

    __tablename__ = "setlist_song"
    __table_args__ = (UniqueConstraint("show_id", "position", name="uq_setlist_song_show_position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("show.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(String(500), default="")
    is_cover: Mapped[bool] = mapped_column(default=False)
    original_artist: Mapped[str | None] = mapped_column(String(200), nullable=True)
    duration: Mapped[str | None] = mapped_column(String(10), nullable=True)
    songwriter: Mapped[str | None] = mapped_column(String(200), nullable=True)
    with_artist: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # per-act setlists and imported structure (issue 14); artist_id NULL = the concert's headliner
    artist_id: Mapped[int | None] = mapped_column(ForeignKey("artist.id"), nullable=True)
    set_number: Mapped[int] = mapped_column(Integer, default=1)
    set_name: Mapped[str] = mapped_column(String(120), default="")
    encore: Mapped[int] = mapped_column(Integer, default=0)
    is_tape: Mapped[bool] = mapped_column(default=False)
    recording_mbid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # the match key of "songs heard live": the normalised title (or the MusicBrainz recording's)
    song_key: Mapped[str] = mapped_column(String(200), default="", index=True)
    source: Mapped[str] = mapped_column(String(16), default="manual")


class CheckIn(Base):
    """Someone at a concert now (through their show); ended by check-out or by age."""

    __tablename__ = "checkin"
    __table_args__ = (Index("ix_checkin_concert_active", "concert_id", "checked_out_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    concert_id: Mapped[int] = mapped_column(ForeignKey("concert.id"))
    show_id: Mapped[int] = mapped_column(ForeignKey("show.id", ondelete="CASCADE"), index=True)
    checked_in_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    checked_out_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class User(Base):
    """Copy of auth's user (user.* events, repaired from auth's snapshot); `deleted` rows are tombstones."""

    __tablename__ = "user_copy"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    username: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    deleted: Mapped[bool] = mapped_column(default=False, server_default=false())


class Friendship(Base):
    """Copy of social's friendship of a pair (user_a < user_b) at a version; `accepted` false = not friends."""

    __tablename__ = "friendship"
    __table_args__ = (CheckConstraint("user_a < user_b", name="ordered_pair"),)
    user_a: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_b: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    accepted: Mapped[bool] = mapped_column(default=True, server_default=true())
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ShowCounter(Base):
    """Per-show media and comment counts kept from media's and social's events."""

    __tablename__ = "show_counter"
    show_id: Mapped[int] = mapped_column(ForeignKey("show.id", ondelete="CASCADE"), primary_key=True)
    photos: Mapped[int] = mapped_column(Integer, default=0)
    audio: Mapped[int] = mapped_column(Integer, default=0)
    videos: Mapped[int] = mapped_column(Integer, default=0)
    comments: Mapped[int] = mapped_column(Integer, default=0)


class ReadVersion(Base):
    """Per owner: changes whenever any of their shows would read differently (bumped by database triggers).

    The ETags of the list and the detail are built from it; see migration readpath_0003 for what bumps it.
    """

    __tablename__ = "read_version"
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ReadEpoch(Base):
    """A random token per database (one row), so ETags of a recreated database never match old ones."""

    __tablename__ = "read_epoch"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    token: Mapped[str] = mapped_column(String(64))


from shows.catalog import models as _catalog_models  # noqa: E402, F401 - registers the catalogue tables


def as_dict(obj: Any) -> dict[str, Any]:
    """Column values of a model instance (for tests and debugging)."""
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns}
