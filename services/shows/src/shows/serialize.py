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


def _festival(row: ShowRow) -> dict[str, Any] | None:
    name = getattr(row, "festival_name", None)
    if not name:
        return None
    return {"name": name, "day": getattr(row, "festival_day", None), "stage": getattr(row, "festival_stage", None)}


def show_json(row: ShowRow, viewer_id: int | None, lineup: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The contract's show JSON for `viewer_id` (`visible_to` only for the owner).

    `lineup` is the show's bill (shows.catalog.lineup.lineups); without it the concert's artist is the bill.
    """
    is_owner = viewer_id is not None and viewer_id == row.user_id
    location = format_location(row.city, row.state, row.country)
    if not lineup:
        lineup = [{
            "artist": {"id": row.artist_id, "name": row.artist_name, "mbid": row.artist_mbid,
                       "image_url": row.artist_image_url, "disambiguation": ""},
            "role": "headliner",
            "position": 1,
        }]
    return {
        "id": row.id,
        "user_id": row.user_id,
        "owner": {"id": row.user_id, "username": row.owner_username or ""},
        "is_owner": is_owner,
        "concert_id": row.concert_id,
        "artist_id": row.artist_id,
        "venue_id": row.venue_id,
        "artist": {
            "id": row.artist_id,
            "name": row.artist_name,
            "mbid": row.artist_mbid,
            "image_url": row.artist_image_url,
        },
        "venue": {
            "id": row.venue_id,
            "name": row.venue_name,
            "location": location,
            "city": row.city,
            "state": row.state,
            "country": row.country,
            "latitude": row.latitude,
            "longitude": row.longitude,
        },
        "artist_name": row.artist_name,
        "venue_name": row.venue_name,
        "venue_location": location,
        "date": row.date,
        "time": row.time,
        "notes": row.notes or "",
        "rating": row.rating,
        "visibility": row.visibility,
        "visible_to": list(row.visible_to) if is_owner and row.visible_to is not None else None,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "photo_count": row.photo_count,
        "audio_count": row.audio_count,
        "video_count": row.video_count,
        "comment_count": row.comment_count,
        "song_count": row.song_count,
        "attendee_count": row.attendee_count,
        "lineup": lineup,
        "festival": _festival(row),
        # ticket facts are the owner's own business
        "ticket_price": getattr(row, "ticket_price", None) if is_owner else None,
        "currency": getattr(row, "currency", None) if is_owner else None,
        "seat": getattr(row, "seat", None) if is_owner else None,
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
        "artist_id": song.artist_id,
        "set_number": song.set_number or 1,
        "set_name": song.set_name or "",
        "encore": song.encore or 0,
        "is_tape": bool(song.is_tape),
        "recording_mbid": song.recording_mbid,
        "source": song.source or "manual",
    }
