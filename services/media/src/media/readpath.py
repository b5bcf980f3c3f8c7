"""Hot internal reads on the event loop: a show's media for shows's detail, a user's counts for the dashboard.

Both are asked on every show detail and every dashboard. Through the request session each cost a worker-thread
hop or two, SQLAlchemy's ORM loading the items with two selectin loads, and FastAPI encoding the dict; here
they are Core statements compiled once (shared.adb) on one pooled connection, and the JSON is written by orjson.
The records are the same `serialize.record` builds from ORM items (held by a test on the same rows).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson
from sqlalchemy import bindparam, func, select

from media.models import MediaItem, MediaSong, Rendition
from media.serialize import record
from shared.adb import AsyncReader, Query

_ITEM_COLUMNS = ("id", "show_id", "user_id", "kind", "status", "error", "progress", "original_filename",
                 "content_type", "file_size", "width", "height", "duration", "taken_at", "placeholder",
                 "comment_count", "created_at", "filed_by", "hls_status", "hls_progress", "caption", "title",
                 "description")
_show = bindparam("show_id")
ITEMS = Query(
    select(*(MediaItem.__table__.c[name] for name in _ITEM_COLUMNS))
    .where(MediaItem.show_id == _show)
    .order_by(MediaItem.created_at.desc(), MediaItem.id.desc())
)
RENDITIONS = Query(
    select(Rendition.media_id, Rendition.name)
    .join(MediaItem, MediaItem.id == Rendition.media_id)
    .where(MediaItem.show_id == _show)
)
SONGS = Query(
    select(MediaSong.media_id, MediaSong.song_id, MediaSong.source, MediaSong.score, MediaSong.start_s,
           MediaSong.end_s)
    .where(MediaSong.show_id == _show)
    .order_by(MediaSong.start_s, MediaSong.song_id)
)
COUNTS = Query(
    select(MediaItem.kind, func.count().label("n")).where(MediaItem.user_id == bindparam("user_id"))
    .group_by(MediaItem.kind)
)
GROUP = {"photo": "photos", "audio": "audio", "video": "videos"}


class _Named:
    """A rendition's name (all `serialize.urls` asks of one)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class ItemView:
    """A media item's row with what `serialize.record` reads of an ORM item (the same methods)."""

    rendition = MediaItem.rendition
    public_status = MediaItem.public_status

    def __init__(self, row: Any, renditions: list[_Named], songs: list[Any]) -> None:
        for name in _ITEM_COLUMNS:
            setattr(self, name, getattr(row, name))
        self.renditions = renditions
        self.songs = songs


async def show_media(reader: AsyncReader, show_id: int) -> bytes:
    """Every item of a show grouped by kind, newest first, as JSON (the caller, shows, checked visibility)."""
    async with reader.connection() as conn:
        items = await conn.all(ITEMS, show_id=show_id)
        renditions: dict[int, list[_Named]] = defaultdict(list)
        songs: dict[int, list[Any]] = defaultdict(list)
        if items:
            for r in await conn.all(RENDITIONS, show_id=show_id):
                renditions[r.media_id].append(_Named(r.name))
            if any(i.kind != "photo" for i in items):
                for s in await conn.all(SONGS, show_id=show_id):
                    songs[s.media_id].append(s)
    out: dict[str, list[dict[str, Any]]] = {"photos": [], "audio": [], "videos": []}
    for row in items:
        view = ItemView(row, renditions.get(row.id, []), songs.get(row.id, []))
        out[GROUP[row.kind]].append(record(view))  # type: ignore[arg-type]
    return orjson.dumps(out)


async def user_counts(reader: AsyncReader, user_id: int) -> bytes:
    """How many photos, audio recordings and videos a user uploaded, as JSON."""
    counts = {r.kind: int(r.n) for r in await reader.all(COUNTS, user_id=user_id)}
    return orjson.dumps({"photos": counts.get("photo", 0), "audio": counts.get("audio", 0),
                         "videos": counts.get("video", 0)})
