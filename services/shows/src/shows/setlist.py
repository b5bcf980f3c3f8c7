"""Setlist logic: dense 1-based positions kept ordered under inserts, moves, deletes and concurrency."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from shows import repository as repo
from shows.catalog import heard
from shows.catalog.lineup import act_for_song
from shows.catalog.text import song_key
from shows.exceptions import SetlistFull, SongNotFound
from shows.models import SetlistSong
from shows.schemas import SongCreate, SongUpdate
from shows.serialize import song_json
from shows.service import Viewer, get_owned_show, get_viewable_show


def list_setlist(session: Session, *, viewer: Viewer, show_id: int) -> list[dict[str, Any]]:
    """The setlist of a show the viewer may see."""
    get_viewable_show(session, show_id, viewer.id)
    return [song_json(s) for s in repo.list_songs(session, show_id)]


def _reorder(session: Session, show_id: int, song_id: int, target: int | None) -> None:
    """Move `song_id` to position `target` (beyond the end = last) and close every gap."""
    ids = [s.id for s in repo.list_songs(session, show_id) if s.id != song_id]
    index = len(ids) if target is None else min(max(target, 1), len(ids) + 1) - 1
    ids.insert(index, song_id)
    repo.apply_positions(session, show_id, ids)


def add_song(session: Session, *, viewer: Viewer, show_id: int, data: SongCreate, max_songs: int) -> dict[str, Any]:
    """Append a song, or insert it at `order` shifting the rest down (owner only)."""
    # the row lock serialises concurrent setlist edits of this show on PostgreSQL
    show = get_owned_show(session, show_id, viewer.id, for_update=True)
    count, last = repo.songs_and_last_position(session, show_id)
    if count >= max_songs:
        raise SetlistFull()
    title = data.song_title() or ""
    song = SetlistSong(
        show_id=show_id,
        position=last + 1,
        title=title,
        notes=data.notes or "",
        is_cover=bool(data.is_cover),
        original_artist=data.original_artist or None,
        duration=data.duration,
        songwriter=data.songwriter or None,
        with_artist=data.with_artist or None,
        artist_id=act_for_song(session, show_id, data.artist_id, data.artist_name),
        set_number=data.set_number or 1,
        set_name=data.set_name or "",
        encore=data.encore or 0,
        is_tape=bool(data.is_tape),
        recording_mbid=data.recording_mbid,
        song_key=song_key(title),
        source="manual",
    )
    session.add(song)
    session.flush()
    if data.order is not None:
        _reorder(session, show_id, song.id, data.order)
    heard.refresh_added(session, show.user_id, [song.id])
    session.refresh(song)
    return song_json(song)


def update_song(session: Session, *, viewer: Viewer, show_id: int, song_id: int, data: SongUpdate) -> dict[str, Any]:
    """Change a song of this show (owner only); `order` moves it and renumbers the rest."""
    show = get_owned_show(session, show_id, viewer.id, for_update=True)
    song = repo.get_song(session, show_id, song_id)
    if song is None:
        raise SongNotFound()
    before = heard.keys_of_shows(session, [show_id])
    fields = data.model_fields_set
    title = data.song_title()
    if title is not None:
        song.title = title
        song.song_key = song_key(title)
    if "artist_id" in fields or "artist_name" in fields:
        song.artist_id = act_for_song(session, show_id, data.artist_id, data.artist_name)
    for name in ("set_number", "encore"):
        if name in fields and getattr(data, name) is not None:
            setattr(song, name, getattr(data, name))
    if "set_name" in fields:
        song.set_name = data.set_name or ""
    if "is_tape" in fields and data.is_tape is not None:
        song.is_tape = data.is_tape
    if "recording_mbid" in fields:
        song.recording_mbid = data.recording_mbid
    if "notes" in fields:
        song.notes = data.notes or ""
    if "is_cover" in fields and data.is_cover is not None:
        song.is_cover = data.is_cover
    for name in ("original_artist", "duration", "songwriter", "with_artist"):
        if name in fields:
            setattr(song, name, getattr(data, name) or None)
    session.flush()
    if data.order is not None:
        _reorder(session, show_id, song.id, data.order)
    heard.refresh_shows(session, show.user_id, [show_id], before)
    session.refresh(song)
    return song_json(song)


def remove_song(session: Session, *, viewer: Viewer, show_id: int, song_id: int) -> None:
    """Remove a song of this show (owner only) and close the gap."""
    show = get_owned_show(session, show_id, viewer.id, for_update=True)
    song = repo.get_song(session, show_id, song_id)
    if song is None:
        raise SongNotFound()
    before = heard.keys_of_shows(session, [show_id])
    session.delete(song)
    session.flush()
    repo.apply_positions(session, show_id, [s.id for s in repo.list_songs(session, show_id)])
    heard.refresh_shows(session, show.user_id, [show_id], before)
