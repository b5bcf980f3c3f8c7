"""What media needs to know about a concert's shows: who may see which, and each setlist's timing.

Media owns the photos and videos but not the shows: for a concert's album and for clips on the setlist it
asks here (internal endpoints) which shows of a concert a viewer may see (shared.visibility's SQL form over
this service's friendship copy), whose they are, and each setlist with its songs' durations.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from shows import repository as repo
from shows.catalog.models import ArtistRecording
from shows.exceptions import ShowNotFound
from shows.models import Concert, Friendship, SetlistSong, Show, User

_MSS = re.compile(r"^(\d{1,3}):([0-5]\d)$")


def duration_seconds(text: str | None) -> int | None:
    """A setlist duration "m:ss" in seconds (None when absent or malformed)."""
    match = _MSS.match((text or "").strip())
    return int(match.group(1)) * 60 + int(match.group(2)) if match else None


def _friends_with(viewer_id: int) -> Any:
    # the owner of each row and the viewer are accepted friends (pairs are stored ordered, user_a < user_b)
    return exists(select(Friendship.user_a).where(Friendship.accepted.is_(True), or_(
        and_(Friendship.user_a == Show.user_id, Friendship.user_b == viewer_id),
        and_(Friendship.user_b == Show.user_id, Friendship.user_a == viewer_id),
    )))


def visible_shows(session: Session, *, concert_id: int, viewer_id: int) -> list[dict[str, Any]]:
    """The concert's shows the viewer may see, with owner and visibility (one query)."""
    stmt = (
        select(Show.id, Show.user_id, Show.visibility, Show.time, User.username)
        .outerjoin(User, User.id == Show.user_id)
        .where(Show.concert_id == concert_id, repo.visible_clause(viewer_id, _friends_with(viewer_id)))  # type: ignore[arg-type]
        .order_by(Show.id)
    )
    return [{"show_id": r.id, "owner_id": r.user_id, "username": r.username or "", "visibility": r.visibility,
             "time": r.time} for r in session.execute(stmt)]


def _songs(session: Session, show_ids: list[int], artist_id: int) -> dict[int, list[dict[str, Any]]]:
    """Each show's setlist in order with durations: the setlist's own, else a known recording's length."""
    rows = list(session.scalars(
        select(SetlistSong).where(SetlistSong.show_id.in_(show_ids)).order_by(SetlistSong.show_id,
                                                                              SetlistSong.position)))
    lengths: dict[str, int] = {}
    by_key: dict[tuple[int, str], int] = {}
    if rows:
        recs = session.execute(select(ArtistRecording.mbid, ArtistRecording.artist_id, ArtistRecording.song_key,
                                      ArtistRecording.length_ms).where(
            ArtistRecording.length_ms.is_not(None),
            or_(ArtistRecording.mbid.in_({r.recording_mbid for r in rows if r.recording_mbid}),
                ArtistRecording.song_key.in_({r.song_key for r in rows if r.song_key}))))
        for mbid, rec_artist, key, length_ms in recs:
            lengths[mbid] = length_ms
            by_key.setdefault((rec_artist, key), length_ms)
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for song in rows:
        seconds = duration_seconds(song.duration)
        if seconds is None:
            length_ms = lengths.get(song.recording_mbid or "") or by_key.get((song.artist_id or artist_id,
                                                                               song.song_key))
            seconds = round(length_ms / 1000) if length_ms else None
        out[song.show_id].append({"song_id": song.id, "position": song.position, "title": song.title,
                                  "key": song.song_key, "duration_s": seconds})
    return out


def _start(date: Any, time: str | None) -> str | None:
    # the show's local start; no import source stores a start time today (setlist.fm has none)
    return f"{date.isoformat()}T{time}:00" if time else None


def setlist_timing(session: Session, *, show_id: int) -> dict[str, Any]:
    """A show's local start and setlist with durations (404 for an unknown show)."""
    row = session.execute(select(Show.id, Show.concert_id, Show.time, Concert.date, Concert.artist_id)
                          .join(Concert, Concert.id == Show.concert_id).where(Show.id == show_id)).first()
    if row is None:
        raise ShowNotFound()
    return {"show_id": row.id, "concert_id": row.concert_id, "start": _start(row.date, row.time),
            "songs": _songs(session, [row.id], row.artist_id).get(row.id, [])}


def concert_shows(session: Session, *, concert_id: int, viewer_id: int, setlists: bool) -> dict[str, Any]:
    """The concert's shows the viewer may see; with `setlists`, each one's start and timed setlist."""
    concert = session.get(Concert, concert_id)
    if concert is None:
        return {"concert_id": concert_id, "shows": []}
    shows = visible_shows(session, concert_id=concert_id, viewer_id=viewer_id)
    songs = _songs(session, [s["show_id"] for s in shows], concert.artist_id) if setlists and shows else {}
    for show in shows:
        time = show.pop("time")
        if setlists:
            show["start"] = _start(concert.date, time)
            show["songs"] = songs.get(show["show_id"], [])
    return {"concert_id": concert_id, "shows": shows}
