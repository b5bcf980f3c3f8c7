"""The caller's dashboard (totals, artists, venues), autocomplete and exports."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.orm import Session

from shared.adb import AsyncReader
from shows import repository
from shows import repository_dashboard as repo
from shows.normalize import format_location, normalize
from shows.serialize import show_json


async def stats(
    reader: AsyncReader, *, user_id: int, counts: Callable[[], Awaitable[tuple[dict[str, int], list[str]]]],
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Fresh totals: shows, artists, venues here; media, comments and friends from media and social (asked while
    the two statements run; a service that fails counts as zeros and is listed in `degraded`)."""
    today = today or dt.date.today()
    peers = asyncio.ensure_future(counts())
    try:
        async with reader.connection() as conn:
            shows, artists, venues, upcoming = await conn.first(repo.TOTALS, user_id=user_id, today=today)
            dates = [r.show_date for r in await conn.all(repo.SHOW_DATES, user_id=user_id)]
    except BaseException:
        peers.cancel()
        raise
    found, degraded = await peers
    body: dict[str, Any] = {
        "total_shows": shows,
        "total_artists": artists,
        "total_venues": venues,
        "total_photos": found.get("photos", 0),
        "total_audio": found.get("audio", 0),
        "total_videos": found.get("videos", 0),
        "total_comments": found.get("comments", 0),
        "total_friends": found.get("friends", 0),
        "shows_per_year": [{"year": y, "count": n} for y, n in repo.per_year(dates)],
        "upcoming_shows": int(upcoming or 0),
    }
    if degraded:
        body["degraded"] = degraded
    return body


def artists(session: Session, *, user_id: int, limit: int) -> dict[str, Any]:
    """The caller's artists, most seen first."""
    rows, total = repo.dashboard_artists(session, user_id, limit)
    return {
        "artists": [
            {
                "artist_id": a.id,
                "artist_name": a.name,
                "show_count": n,
                "first_seen": first,
                "last_seen": last,
                "image_url": a.image_url,
            }
            for a, n, first, last in rows
        ],
        "total": total,
    }


PROFILE_SHOWS = 100  # newest public shows on a public profile (the counts cover all of them)
PROFILE_TOP_ARTISTS = 10


def public_profile(session: Session, *, user_id: int) -> dict[str, Any]:
    """What a person's opt-in public profile shows (social asks): only their public shows, counted, and the
    artists most seen among them. social decides whether the profile is public at all."""
    totals = repo.user_totals(session, user_id, dt.date.today(), public_only=True)
    top, _ = repo.dashboard_artists(session, user_id, PROFILE_TOP_ARTISTS, public_only=True)
    return {
        "shows": [{"id": sid, "date": day.isoformat(), "artist": {"id": aid, "name": aname},
                   "venue": {"id": vid, "name": vname}}
                  for sid, day, aid, aname, vid, vname in repo.public_shows(session, user_id, PROFILE_SHOWS)],
        "counts": {k: totals[k] for k in ("shows", "artists", "venues")},
        "top_artists": [{"artist": {"id": a.id, "name": a.name}, "shows": n} for a, n, _first, _last in top],
    }


def venues(session: Session, *, user_id: int, limit: int) -> dict[str, Any]:
    """The caller's venues, most visited first."""
    rows, total = repo.dashboard_venues(session, user_id, limit)
    return {
        "venues": [
            {
                "venue_id": v.id,
                "venue_name": v.name,
                "city": v.city,
                "state": v.state,
                "show_count": n,
                "first_seen": first,
                "last_seen": last,
            }
            for v, n, first, last in rows
        ],
        "total": total,
    }


def suggest_artists(session: Session, *, q: str, limit: int = 10) -> dict[str, Any]:
    """Autocomplete artists by normalised prefix, ranked by how many shows use them."""
    prefix = normalize(q)
    if not prefix:
        return {"artists": []}
    return {
        "artists": [
            {"id": a.id, "name": a.name, "mbid": a.mbid, "image_url": a.image_url, "show_count": n,
             "disambiguation": a.disambiguation or ""}
            for a, n in repo.suggest_artists(session, prefix, limit)
        ]
    }


def suggest_venues(session: Session, *, q: str, limit: int = 10) -> dict[str, Any]:
    """Autocomplete venues by normalised prefix, ranked by how many shows use them."""
    prefix = normalize(q)
    if not prefix:
        return {"venues": []}
    return {
        "venues": [
            {
                "id": v.id,
                "name": v.name,
                "city": v.city,
                "state": v.state,
                "country": v.country,
                "location": format_location(v.city, v.state, v.country),
                "show_count": n,
            }
            for v, n in repo.suggest_venues(session, prefix, limit)
        ]
    }


def export_rows(session: Session, *, user_id: int) -> list[dict[str, Any]]:
    """Every show of the caller as show JSON (for CSV and iCalendar exports)."""
    return [show_json(r, user_id) for r in repository.all_user_shows(session, user_id)]
