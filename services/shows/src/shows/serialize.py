"""Turn rows into the contract's JSON shapes (plain dicts validated by the response models)."""

from __future__ import annotations

from typing import Any

from shared.db import iso
from shows.models import SetlistSong
from shows.normalize import format_location
from shows.repository import ShowRow


def show_name(artist_name: str, venue_name: str) -> str:
    """The human name of a show: "Artist at Venue"."""
    return f"{artist_name} at {venue_name}"


def show_json(row: ShowRow, viewer_id: int | None) -> dict[str, Any]:
    """The contract's show JSON for `viewer_id` (`visible_to` only for the owner)."""
    s, a, v, c = row.show, row.artist, row.venue, row.counter
    is_owner = viewer_id is not None and viewer_id == s.user_id
    location = format_location(v.city, v.state, v.country)
    return {
        "id": s.id,
        "user_id": s.user_id,
        "owner": {"id": s.user_id, "username": row.owner_username or ""},
        "is_owner": is_owner,
        "concert_id": s.concert_id,
        "artist_id": a.id,
        "venue_id": v.id,
        "artist": {"id": a.id, "name": a.name, "mbid": a.mbid, "image_url": a.image_url},
        "venue": {
            "id": v.id,
            "name": v.name,
            "location": location,
            "city": v.city,
            "state": v.state,
            "country": v.country,
            "latitude": v.latitude,
            "longitude": v.longitude,
        },
        "artist_name": a.name,
        "venue_name": v.name,
        "venue_location": location,
        "date": row.concert.date,
        "time": s.time,
        "notes": s.notes or "",
        "rating": s.rating,
        "visibility": s.visibility,
        "visible_to": list(s.visible_to) if is_owner and s.visible_to is not None else None,
        "created_at": iso(s.created_at),
        "updated_at": iso(s.updated_at),
        "photo_count": c.photos if c else 0,
        "audio_count": c.audio if c else 0,
        "video_count": c.videos if c else 0,
        "comment_count": c.comments if c else 0,
        "song_count": row.song_count,
        "attendee_count": row.attendee_count,
    }


def song_json(song: SetlistSong) -> dict[str, Any]:
    """A setlist song (`song_name` mirrors `title`)."""
    return {
        "id": song.id,
        "show_id": song.show_id,
        "title": song.title,
        "song_name": song.title,
        "order": song.position,
        "notes": song.notes or "",
        "is_cover": bool(song.is_cover),
        "original_artist": song.original_artist,
        "duration": song.duration,
        "songwriter": song.songwriter,
        "with_artist": song.with_artist,
    }
