"""Queries of a concert's album and of clips on the setlist; flushes, never commits."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from media.models import FAILED, MediaItem, MediaSong

ALBUM_KINDS = ("photo", "video")
CLIP_KINDS = ("audio", "video")


def album_keys(session: Session, show_ids: Collection[int]) -> list[tuple[int, str, str | None, datetime]]:
    """(id, sha256, taken_at, created_at) of every photo and video of these shows that did not fail."""
    if not show_ids:
        return []
    stmt = select(MediaItem.id, MediaItem.sha256, MediaItem.taken_at, MediaItem.created_at).where(
        MediaItem.show_id.in_(show_ids), MediaItem.kind.in_(ALBUM_KINDS), MediaItem.status != FAILED)
    return [(r.id, r.sha256, r.taken_at, r.created_at) for r in session.execute(stmt)]


def items_by_id(session: Session, ids: Iterable[int]) -> dict[int, MediaItem]:
    """Items by id (their renditions and songs loaded in one query each)."""
    wanted = list(ids)
    if not wanted:
        return {}
    return {i.id: i for i in session.scalars(select(MediaItem).where(MediaItem.id.in_(wanted)))}


def clip_items(session: Session, show_ids: Collection[int]) -> list[MediaItem]:
    """Every audio and video item of these shows that did not fail."""
    if not show_ids:
        return []
    return list(session.scalars(select(MediaItem).where(
        MediaItem.show_id.in_(show_ids), MediaItem.kind.in_(CLIP_KINDS), MediaItem.status != FAILED)))


def lock_songs(session: Session, item: MediaItem) -> str | None:
    """Lock the item's row until the transaction ends (one writer of its song links at a time); its basis now."""
    return session.scalar(select(MediaItem.songs_basis).where(MediaItem.id == item.id).with_for_update())


def replace_songs(session: Session, item: MediaItem, source: str, rows: Iterable[MediaSong]) -> None:
    """Put `rows` in place of the item's links of one source."""
    session.execute(delete(MediaSong).where(MediaSong.media_id == item.id, MediaSong.source == source))
    session.add_all(rows)
    session.flush()
    session.expire(item, ["songs"])
