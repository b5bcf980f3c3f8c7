"""Tables of the catalogue: lineups, background jobs, cached source answers, recordings, home places."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import utcnow
from shows.db import Base


class ShowAct(Base):
    """One act of a show's bill (the headliner included), in running order; the person saw each of them."""

    __tablename__ = "show_act"
    __table_args__ = (
        UniqueConstraint("show_id", "artist_id", name="uq_show_act_show_artist"),
        Index("ix_show_act_artist", "artist_id", "show_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("show.id", ondelete="CASCADE"))
    artist_id: Mapped[int] = mapped_column(ForeignKey("artist.id"))
    role: Mapped[str] = mapped_column(String(16), default="headliner")  # headliner | support | guest
    position: Mapped[int] = mapped_column(Integer, default=1)


class Job(Base):
    """A background job of a person (setlist import, history import, artist lookup) and its outcome."""

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_status_queued", "status", "queued_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued | running | succeeded | failed
    progress: Mapped[int] = mapped_column(Integer, default=0)  # 0..100
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # large inputs (an uploaded CSV) kept apart from params so listing jobs stays light
    payload: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class SourceCache(Base):
    """A cached answer of an outside source (by source and request key) with its fetch time."""

    __tablename__ = "source_cache"
    __table_args__ = (UniqueConstraint("source", "key", name="uq_source_cache_source_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(500))
    status: Mapped[int] = mapped_column(Integer, default=200)
    body: Mapped[Any] = mapped_column(JSON(none_as_null=True), nullable=True)
    fetched_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ArtistRecording(Base):
    """A recording of an artist known to MusicBrainz (for "songs known" and "not heard yet")."""

    __tablename__ = "artist_recording"
    __table_args__ = (UniqueConstraint("artist_id", "mbid", name="uq_artist_recording_artist_mbid"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    artist_id: Mapped[int] = mapped_column(ForeignKey("artist.id", ondelete="CASCADE"), index=True)
    mbid: Mapped[str] = mapped_column(String(36))
    title: Mapped[str] = mapped_column(String(300))
    song_key: Mapped[str] = mapped_column(String(200))
    length_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)


class HomePlace(Base):
    """A person's home city and coordinates (for the longest trip of a year in review)."""

    __tablename__ = "home_place"
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    city: Mapped[str] = mapped_column(String(120), default="")
    latitude: Mapped[float] = mapped_column()
    longitude: Mapped[float] = mapped_column()


class HeardSong(Base):
    """One song a person heard live, summed over their setlists (kept current on every setlist or show change)."""

    __tablename__ = "heard_song"
    __table_args__ = (
        UniqueConstraint("user_id", "artist_id", "song_key", name="uq_heard_song_user_artist_key"),
        Index("ix_heard_song_user_times", "user_id", "times"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer)
    artist_id: Mapped[int] = mapped_column(Integer)
    song_key: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200))
    times: Mapped[int] = mapped_column(Integer)
    first_heard: Mapped[dt.date] = mapped_column(Date)
    last_heard: Mapped[dt.date] = mapped_column(Date)
    show_ids: Mapped[list[int]] = mapped_column(JSON)


class HeardState(Base):
    """Whose `heard_song` rows have been built (people with none are built on their first read)."""

    __tablename__ = "heard_state"
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    built_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
