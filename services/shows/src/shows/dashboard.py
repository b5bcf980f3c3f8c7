"""The caller's dashboard (totals, artists, venues), autocomplete and exports."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from shows import repository
from shows import repository_dashboard as repo
from shows.clients import Peers, fetch_user_counts
from shows.normalize import format_location, normalize
from shows.serialize import show_json


def stats(
    session: Session, *, user_id: int, peers: Peers, timeout_s: float, today: dt.date | None = None
) -> dict[str, Any]:
    """Fresh totals: shows, artists, venues here; media, comments and friends from media and social."""
    today = today or dt.date.today()
    totals = repo.user_totals(session, user_id, today)
    counts, degraded = fetch_user_counts(peers, user_id, timeout_s)
    body: dict[str, Any] = {
        "total_shows": totals["shows"],
        "total_artists": totals["artists"],
        "total_venues": totals["venues"],
        "total_photos": counts.get("photos", 0),
        "total_audio": counts.get("audio", 0),
        "total_videos": counts.get("videos", 0),
        "total_comments": counts.get("comments", 0),
        "total_friends": counts.get("friends", 0),
        "shows_per_year": [{"year": y, "count": n} for y, n in repo.shows_per_year(session, user_id)],
        "upcoming_shows": totals["upcoming"],
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
