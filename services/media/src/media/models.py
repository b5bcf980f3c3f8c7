"""SQLAlchemy models: media items, their renditions and the local copy of show facts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from media.db import Base
from shared.db import utcnow

# Row status: `processing` (stored, queued), `working` (a worker holds it), `ready`, `failed`.
# The API shows `working` as `processing`.
PROCESSING = "processing"
WORKING = "working"
READY = "ready"
FAILED = "failed"
TERMINAL = (READY, FAILED)
# filing state of a library item (show_id null): examined once processed, or examined and left unfiled
FILING_PENDING = "pending"
FILING_UNFILED = "unfiled"


class MediaItem(Base):
    """One uploaded photo, audio recording or video, with its processing state and facts."""

    __tablename__ = "media_item"
    __table_args__ = (
        UniqueConstraint("user_id", "show_id", "kind", "sha256", name="uq_media_item_dedup"),
        Index("ix_media_item_status_queued_at", "status", "queued_at"),
        Index("ix_media_item_user_kind_created", "user_id", "kind", "created_at"),
        Index("ix_media_item_show_kind_created", "show_id", "kind", "created_at"),
        Index("ix_media_item_user_filing", "user_id", "filing"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    show_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # null: in its uploader's library
    user_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=PROCESSING)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    original_filename: Mapped[str] = mapped_column(String(255), default="")
    content_type: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(16))
    file_size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(200), unique=True)
    original_key: Mapped[str] = mapped_column(String(255))
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    video_codec: Mapped[str | None] = mapped_column(String(32), nullable=True)
    audio_codec: Mapped[str | None] = mapped_column(String(32), nullable=True)
    taken_at: Mapped[str | None] = mapped_column(String(40), nullable=True)
    camera: Mapped[str | None] = mapped_column(String(128), nullable=True)
    placeholder: Mapped[str | None] = mapped_column(String(128), nullable=True)
    caption: Mapped[str | None] = mapped_column(Text, nullable=True)
    title: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    comment_count: Mapped[int] = mapped_column(Integer, default=0)
    # the HLS ladder of a video, made after the item is ready (progressive MP4 first): null (not a video, or
    # made before ladders existed), working, ready, failed; progress 0-100 per rendition
    hls_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    hls_progress: Mapped[dict[str, int] | None] = mapped_column(JSON, nullable=True)
    # a hash of what the song suggestions were computed from (setlist timing, capture time, duration)
    songs_basis: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # filing (media.filing): how a library item reached its show (time, gps, checkin, user; null when uploaded
    # into the show); `filing` is pending (to examine once processed) or unfiled (examined, left in the library)
    filed_by: Mapped[str | None] = mapped_column(String(8), nullable=True)
    filing: Mapped[str | None] = mapped_column(String(8), nullable=True)
    suggestions: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    # capture facts (media.processing.capture): the instant when the offset is known, the camera's wall clock;
    # the position is private: never serialised, and stripped from every derivative
    captured_at: Mapped[datetime | None] = mapped_column(nullable=True)
    captured_local: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    queued_at: Mapped[datetime | None] = mapped_column(nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    renditions: Mapped[list[Rendition]] = relationship(
        back_populates="item", cascade="all, delete-orphan", lazy="selectin", order_by="Rendition.name"
    )

    songs: Mapped[list[MediaSong]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="MediaSong.start_s, MediaSong.song_id"
    )

    def rendition(self, name: str) -> Rendition | None:
        """The rendition called `name`, if produced."""
        return next((r for r in self.renditions if r.name == name), None)

    @property
    def public_status(self) -> str:
        """The status the API shows (`working` is still `processing`)."""
        return PROCESSING if self.status == WORKING else self.status


class Rendition(Base):
    """A derivative object of a media item (thumbnail, display copy, poster, MP4/M4A rendition, waveform)."""

    __tablename__ = "rendition"
    __table_args__ = (UniqueConstraint("media_id", "name", name="uq_rendition_media_id_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media_item.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    item: Mapped[MediaItem] = relationship(back_populates="renditions", lazy="raise")


# MediaSong.source
SUGGESTED = "suggested"
CONFIRMED = "confirmed"


class MediaSong(Base):
    """A song of the show's setlist a clip shows: suggested from its capture time, or confirmed by its uploader.

    `start_s`/`end_s` are where the song is in the clip (seconds from its start), when known.
    """

    __tablename__ = "media_song"
    __table_args__ = (
        UniqueConstraint("media_id", "song_id", "source", name="uq_media_song_media_song_source"),
        Index("ix_media_song_show_song", "show_id", "song_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media_item.id", ondelete="CASCADE"))
    song_id: Mapped[int] = mapped_column(Integer)
    show_id: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    start_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    end_s: Mapped[float | None] = mapped_column(Float, nullable=True)


class ShowRef(Base):
    """Copy of a show at a version (owner, name for dashboards, visibility); `deleted` = tombstone.

    Version 0 is a placeholder an upload creates to lock the row before show.created arrives.
    """

    __tablename__ = "show_ref"

    show_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    owner_id: Mapped[int] = mapped_column(Integer, index=True)
    show_name: Mapped[str] = mapped_column(String(300), default="")
    visibility: Mapped[str] = mapped_column(String(16), default="friends")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class SweepMark(Base):
    """Something the storage sweep found unreferenced (`prefix:<item prefix>`) or unfinished (`upload:<id>`),
    and when it first saw it: it acts only on a second sighting a grace later (media.orphans)."""

    __tablename__ = "sweep_mark"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(index=True)


class UploadReservation(Base):
    """Room an upload in progress may still fill: counted against its user's quota until it ends."""

    __tablename__ = "upload_reservation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # an upload whose process died never releases its room: it is ignored after this
    expires_at: Mapped[datetime] = mapped_column(default=utcnow)


class QuotaLock(Base):
    """One row per uploader, locked while a reservation is decided (one user's uploads queue there)."""

    __tablename__ = "quota_lock"

    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    touched_at: Mapped[datetime] = mapped_column(default=utcnow)


class TusUpload(Base):
    """A resumable (tus) upload in progress: admitted at creation, filled by PATCH requests.

    `state` is the storage's own record of what is stored (S3: the multipart upload id and its parts; local:
    the parts appended to the partial file); bytes after the last stored part wait in a spool file
    (`MEDIA_TUS_DIR`) until they make a whole part. `media_id` is set once the last byte made it an item.
    """

    __tablename__ = "tus_upload"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(8))
    show_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # null: to the library
    length: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    filename: Mapped[str] = mapped_column(String(255), default="")
    fields: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # caption / title / description
    metadata_raw: Mapped[str] = mapped_column(Text, default="")  # Upload-Metadata as sent (HEAD repeats it)
    prefix: Mapped[str] = mapped_column(String(200), unique=True)
    key: Mapped[str | None] = mapped_column(String(255), nullable=True)  # set once the head was sniffed
    content_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    format: Mapped[str | None] = mapped_column(String(16), nullable=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reservation_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    media_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
