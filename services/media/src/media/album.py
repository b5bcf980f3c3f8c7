"""A concert's album and clips on the setlist: media of every visible show of a concert, songs of each clip.

shows decides which shows of a concert a viewer may see and serves their setlists with timing (one internal
call per request); the items, their song links and the order are media's.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from media import clips
from media import repository_songs as repo
from media.clients import ShowsAccess
from media.concerts import ConcertFacts
from media.exceptions import ConcertNotFound, MediaNotFound, NotAllowed, ShowNotFound, SongNotFound
from media.models import CONFIRMED, READY, SUGGESTED, MediaItem, MediaSong
from media.serialize import chapter_songs, record
from media.service import _page, visible_item
from shared.db import session_scope
from shared.errors import ServiceError, ValidationFailed

log = logging.getLogger("media.album")

CLIP_MIN_SCORE = 0.5  # an unconfirmed clip counts for a song when at least half of it is expected there

AlbumKey = tuple[int, str, str | None, datetime]


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def capture_instant(taken_at: str | None) -> datetime | None:
    """A capture time as a naive UTC instant (one without an offset is taken as is); None if unreadable."""
    if not taken_at:
        return None
    try:
        return _naive_utc(datetime.fromisoformat(taken_at.strip().replace("Z", "+00:00")))
    except ValueError:
        return None


def _capture_key(row: AlbumKey) -> tuple[bool, datetime, datetime, int]:
    media_id, _sha, taken_at, created_at = row
    taken = capture_instant(taken_at)
    return taken is None, taken or datetime.min, _naive_utc(created_at), media_id


def album_order(rows: Iterable[AlbumKey]) -> list[int]:
    """Ids in capture-time order (`taken_at`, then upload time), each file (SHA-256) once: its first upload."""
    first: dict[str, AlbumKey] = {}
    for row in sorted(rows, key=lambda r: r[0]):
        first.setdefault(row[1], row)
    return [row[0] for row in sorted(first.values(), key=_capture_key)]


def _item_json(item: MediaItem, show: dict[str, Any], **extra: Any) -> dict[str, Any]:
    # only a show's owner adds media to it: the uploader is the owner shows named
    name = show.get("username", "") if show.get("owner_id") == item.user_id else ""
    return record(item, user={"id": item.user_id, "username": name}, visibility=show.get("visibility"), **extra)


# ---------------------------------------------------------------- suggestions


def _setlist(songs: Sequence[dict[str, Any]]) -> list[clips.SetlistSong]:
    return [clips.SetlistSong(int(s["song_id"]), int(s["position"]), s.get("duration_s")) for s in songs]


def _basis(item: MediaItem, start: str | None, songs: Sequence[dict[str, Any]]) -> str:
    facts = [start, item.taken_at, item.duration, [(s["song_id"], s["position"], s.get("duration_s")) for s in songs]]
    return hashlib.sha256(json.dumps(facts).encode()).hexdigest()


def refresh_suggestions(session: Session, item: MediaItem, start: str | None, songs: Sequence[dict[str, Any]]) -> None:
    """Recompute a ready clip's suggested songs when its setlist, start or capture facts changed.

    Confirmed songs no longer on the setlist are dropped with them.
    """
    if item.status != READY or item.kind not in repo.CLIP_KINDS:
        return
    basis = _basis(item, start, songs)
    if item.songs_basis == basis:
        return
    if repo.lock_songs(session, item) == basis:  # another request made them meanwhile
        session.expire(item, ["songs", "songs_basis"])
        return
    found = clips.suggest(start, _setlist(songs), item.taken_at, item.duration)
    repo.replace_songs(session, item, SUGGESTED, [
        MediaSong(media_id=item.id, song_id=s.song_id, show_id=item.show_id, source=SUGGESTED, score=s.score,
                  start_s=s.start_s, end_s=s.end_s) for s in found])
    on_setlist = {int(s["song_id"]) for s in songs}
    stale = [s for s in item.songs if s.source == CONFIRMED and s.song_id not in on_setlist]
    for link in stale:
        session.delete(link)
    item.songs_basis = basis
    session.flush()
    if stale:
        session.expire(item, ["songs"])


def suggest_after_processing(session_factory: sessionmaker[Session], concerts: ConcertFacts, media_id: int) -> None:
    """A clip that just became ready gets its suggested songs (best effort: if shows cannot answer now, the
    album, the clips and a PUT recompute them later)."""
    with session_scope(session_factory) as session:
        item = session.get(MediaItem, media_id)
        if item is None or item.status != READY or item.kind not in repo.CLIP_KINDS:
            return
        show_id = item.show_id
    try:
        timing = concerts.setlist_timing(show_id)  # outside any transaction
    except ServiceError as exc:
        log.info("no song suggestions for item %s now: %s", media_id, exc)
        return
    if not timing:
        return
    with session_scope(session_factory) as session:
        item = session.get(MediaItem, media_id)
        if item is not None and item.show_id == show_id:
            refresh_suggestions(session, item, timing.get("start"), timing.get("songs") or [])


def _refresh_concert(session: Session, shows: Sequence[dict[str, Any]]) -> list[MediaItem]:
    by_id = {int(s["show_id"]): s for s in shows}
    items = repo.clip_items(session, list(by_id))
    for item in items:
        show = by_id[item.show_id]
        refresh_suggestions(session, item, show.get("start"), show.get("songs") or [])
    return items


def set_song_ids(session: Session, shows: ShowsAccess, concerts: ConcertFacts, *, kind: str, media_id: int,
                 user_id: int, song_ids: list[int]) -> MediaItem:
    """The uploader confirms which songs of the show's setlist a clip shows (422 for songs not on it)."""
    item = visible_item(session, shows, kind=kind, media_id=media_id, user_id=user_id)
    if item.user_id != user_id:
        raise NotAllowed("Only the person who uploaded this item can edit it.")
    timing = concerts.setlist_timing(item.show_id)
    if timing is None:
        raise MediaNotFound()
    songs = timing.get("songs") or []
    unknown = [i for i in song_ids if i not in {int(s["song_id"]) for s in songs}]
    if unknown:
        raise ValidationFailed(f"Not on this show's setlist: {', '.join(map(str, unknown))}.", field="song_ids")
    start, setlist = timing.get("start"), _setlist(songs)
    repo.lock_songs(session, item)  # concurrent edits of its songs go one after another
    refresh_suggestions(session, item, start, songs)
    suggested = {s.song_id: s for s in item.songs if s.source == SUGGESTED}
    rows = []
    for song_id in dict.fromkeys(song_ids):
        hint = suggested.get(song_id)
        begin, end = (hint.start_s, hint.end_s) if hint else clips.slot_in_clip(start, setlist, item.taken_at,
                                                                                 item.duration, song_id)
        rows.append(MediaSong(media_id=item.id, song_id=song_id, show_id=item.show_id, source=CONFIRMED,
                              start_s=begin, end_s=end))
    repo.replace_songs(session, item, CONFIRMED, rows)
    return item


# ---------------------------------------------------------------- album


def album(session: Session, concerts: ConcertFacts, *, concert_id: int, viewer_id: int, limit: int | None,
          offset: int | None, default_limit: int, max_limit: int) -> tuple[list[dict[str, Any]], int]:
    """Every photo and video of the concert's shows the viewer may see, in capture-time order, each file once."""
    shows = concerts.visible_shows(concert_id, viewer_id, setlists=True)
    if not shows:
        raise ConcertNotFound()
    by_id = {int(s["show_id"]): s for s in shows}
    _refresh_concert(session, shows)
    order = album_order(repo.album_keys(session, list(by_id)))
    lim, off = _page(limit, offset, default_limit, max_limit)
    page = order[off:off + lim]
    items = repo.items_by_id(session, page)
    return [_item_json(items[i], by_id[items[i].show_id]) for i in page], len(order)


# ---------------------------------------------------------------- clips on the setlist


def _targets(shows: Sequence[dict[str, Any]], show_id: int) -> tuple[set[int], dict[tuple[int, int], int]]:
    """The show's song ids, and (show, song) of every visible setlist of the concert -> the show's same song."""
    own = next((s for s in shows if int(s["show_id"]) == show_id), None)
    if own is None:
        raise ShowNotFound()
    by_key = {key: song_id for song_id, key in clips.match_keys(own.get("songs") or []).items()}
    mapping: dict[tuple[int, int], int] = {}
    for show in shows:
        for song_id, key in clips.match_keys(show.get("songs") or []).items():
            if key in by_key:
                mapping[(int(show["show_id"]), song_id)] = by_key[key]
    return set(by_key.values()), mapping


def _clip_links(item: MediaItem) -> list[MediaSong]:
    confirmed = [s for s in item.songs if s.source == CONFIRMED]
    return confirmed or [s for s in item.songs if s.source == SUGGESTED and (s.score or 0) >= CLIP_MIN_SCORE]


def _concert_clips(session: Session, shows: ShowsAccess, concerts: ConcertFacts, show_id: int,
                   viewer_id: int) -> tuple[set[int], dict[int, list[tuple[MediaItem, MediaSong]]],
                                            dict[int, dict[str, Any]]]:
    access = shows.access(show_id, viewer_id)
    if access is None or not access.can_view:
        raise ShowNotFound()
    visible = concerts.visible_shows(access.concert_id, viewer_id, setlists=True)
    own_songs, mapping = _targets(visible, show_id)
    by_song: dict[int, list[tuple[MediaItem, MediaSong]]] = {}
    seen: set[tuple[int, str]] = set()
    items = sorted((i for i in _refresh_concert(session, visible) if i.status == READY),
                   key=lambda i: _capture_key((i.id, i.sha256, i.taken_at, i.created_at)))
    for item in items:
        for link in _clip_links(item):
            target = mapping.get((item.show_id, link.song_id))
            if target is not None and (target, item.sha256) not in seen:
                seen.add((target, item.sha256))
                by_song.setdefault(target, []).append((item, link))
    return own_songs, by_song, {int(s["show_id"]): s for s in visible}


def setlist_clip_counts(session: Session, shows: ShowsAccess, concerts: ConcertFacts, *, show_id: int,
                        viewer_id: int) -> list[dict[str, int]]:
    """How many visible clips each song of the show's setlist has, across the concert (songs with clips)."""
    _own, by_song, _shows = _concert_clips(session, shows, concerts, show_id, viewer_id)
    counts = Counter({song: len(found) for song, found in by_song.items()})
    return [{"song_id": song, "clips": n} for song, n in sorted(counts.items())]


def song_clips(session: Session, shows: ShowsAccess, concerts: ConcertFacts, *, show_id: int, song_id: int,
               viewer_id: int, limit: int | None, offset: int | None, default_limit: int,
               max_limit: int) -> tuple[list[dict[str, Any]], int]:
    """Every visible clip of one song of the show's setlist, from every attendee's show of the concert."""
    own, by_song, visible = _concert_clips(session, shows, concerts, show_id, viewer_id)
    if song_id not in own:
        raise SongNotFound()
    found = by_song.get(song_id, [])
    lim, off = _page(limit, offset, default_limit, max_limit)
    return [_item_json(item, visible[item.show_id], clip={"song_id": link.song_id, "source": link.source,
                                                          "start_s": link.start_s, "end_s": link.end_s})
            for item, link in found[off:off + lim]], len(found)


# ---------------------------------------------------------------- chapters


def chapters(session: Session, shows: ShowsAccess, concerts: ConcertFacts, *, media_id: int, user_id: int) -> str:
    """The WebVTT chapters of a video spanning several songs (404 when it has fewer than two)."""
    item = visible_item(session, shows, kind="video", media_id=media_id, user_id=user_id)
    links = chapter_songs(item)
    timing = concerts.setlist_timing(item.show_id) if len(links) > 1 else None
    if timing is None:
        raise MediaNotFound("This video has no chapters.")
    songs = {int(s["song_id"]): s for s in timing.get("songs") or []}
    links = sorted((s for s in links if s.song_id in songs), key=lambda s: songs[s.song_id]["position"])
    if len(links) < 2:
        raise MediaNotFound("This video has no chapters.")
    return clips.chapters_vtt([(songs[s.song_id]["title"], s.start_s) for s in links], item.duration or 0.0)
