"""The person's statistics (their own shows only): songs heard live, one artist, a year in review, the map."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from shared.errors import NotFound
from shows.catalog import heard
from shows.catalog import stats_repo as repo
from shows.catalog.models import HomePlace
from shows.models import Artist


class ArtistNotFound(NotFound):
    default_code = "artist_not_found"
    default_message = "Artist not found."


def _ref(artist: Artist | None, artist_id: int) -> dict[str, Any]:
    return {"id": artist_id, "name": artist.name if artist else ""}


def songs(session: Session, *, user_id: int, artist_id: int | None, limit: int, offset: int) -> dict[str, Any]:
    """Every song the person heard live, matched across setlists by song key, most heard first."""
    rows, total = heard.page(session, user_id, artist_id, limit, offset)
    artists = repo.artists_by_id(session, {r.artist_id for r in rows})
    return {
        "songs": [
            {
                "title": r.title,
                "song_key": r.song_key,
                "artist": _ref(artists.get(r.artist_id), r.artist_id),
                "times_heard": r.times,
                "first_heard": r.first_heard,
                "last_heard": r.last_heard,
                "show_ids": list(r.show_ids),
            }
            for r in rows
        ],
        "total": total,
    }


def artist_detail(artist: Artist) -> dict[str, Any]:
    """The catalogue's facts of an artist (public)."""
    return {
        "id": artist.id,
        "name": artist.name,
        "mbid": artist.mbid,
        "image_url": artist.image_url,
        "disambiguation": artist.disambiguation or "",
        "sort_name": artist.sort_name,
        "description": artist.description,
        "aliases": list(artist.aliases or []),
        "catalog_fetched_at": artist.catalog_fetched_at,
    }


def get_artist(session: Session, artist_id: int) -> Artist:
    """An artist by id (404 when unknown)."""
    artist = session.get(Artist, artist_id)
    if artist is None:
        raise ArtistNotFound()
    return artist


def artist_history(session: Session, *, user_id: int, artist_id: int) -> dict[str, Any]:
    """The person's history with one artist: shows, first/last, songs heard and not yet heard."""
    artist = get_artist(session, artist_id)
    shows = repo.shows_with_act(session, user_id, artist_id)
    heard = repo.heard_titles(session, user_id, artist_id)
    known = repo.known_titles(session, artist_id)
    heard_keys = {h[0] for h in heard}
    known_count = len(known) if known else None
    return {
        "artist": artist_detail(artist),
        "shows": [{"show_id": s.id, "date": s.show_date, "role": s.role, "venue": {"id": s.venue_id, "name": s.name,
                   "city": s.city}, "festival": s.festival_name} for s in shows],
        "first_seen": shows[0].show_date if shows else None,
        "last_seen": shows[-1].show_date if shows else None,
        "songs_heard": len(heard_keys),
        "songs_known": known_count,
        "coverage": round(len(heard_keys & set(known)) / len(known), 3) if known else None,
        "heard": [{"title": t, "times_heard": int(n)} for _, t, n in heard],
        "not_heard": sorted((t for k, t in known.items() if k not in heard_keys), key=str.casefold)[:500],
    }


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def year_in_review(session: Session, *, user_id: int, year: int) -> dict[str, Any]:
    """Shows, new artists, venues, cities, songs, most-seen artist, longest trip, spending, photos and videos."""
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    shows = repo.year_shows(session, user_id, start, end)
    acts = repo.acts_in(session, user_id, start, end)
    first_seen = repo.acts_first_seen(session, user_id)
    new = sorted((a for a in first_seen if start <= a[2] <= end), key=lambda a: (a[2], a[1]))
    heard, unique = repo.songs_in(session, user_id, start, end)
    spending: dict[str, dict[str, Any]] = defaultdict(lambda: {"total": 0.0, "shows": 0})
    for s in shows:
        if s.ticket_price is not None:
            bucket = spending[s.currency or ""]
            bucket["total"] += float(s.ticket_price)
            bucket["shows"] += 1
    home = session.get(HomePlace, user_id)
    trip = None
    if home is not None:
        for s in shows:
            if s.latitude is None or s.longitude is None:
                continue
            km = distance_km(home.latitude, home.longitude, s.latitude, s.longitude)
            if trip is None or km > trip["km"]:
                trip = {"show_id": s.id, "venue_id": s.venue_id, "venue": s.venue_name, "city": s.city,
                        "km": round(km, 1)}
    months = Counter(s.show_date.month for s in shows)
    return {
        "year": year,
        "shows": len(shows),
        "artists": len(acts),
        "new_artists": [{"id": a[0], "name": a[1], "first_seen": a[2]} for a in new],
        "venues": len({s.venue_id for s in shows}),
        "cities": sorted({s.city for s in shows if s.city}, key=str.casefold),
        "songs_heard": heard,
        "unique_songs": unique,
        "most_seen_artist": {"id": acts[0][0], "name": acts[0][1], "shows": int(acts[0][2])} if acts else None,
        "top_artists": [{"id": a[0], "name": a[1], "shows": int(a[2])} for a in acts[:10]],
        "longest_trip": trip,
        "home": {"city": home.city, "latitude": home.latitude, "longitude": home.longitude} if home else None,
        "spending": [{"currency": c or None, "total": round(v["total"], 2), "shows": v["shows"]}
                     for c, v in sorted(spending.items())],
        "photos": sum(int(s.photos) for s in shows),
        "videos": sum(int(s.videos) for s in shows),
        "months": [{"month": m, "shows": months.get(m, 0)} for m in range(1, 13)],
    }


def venue_map(session: Session, *, user_id: int) -> dict[str, Any]:
    """Every venue (with coordinates) the person has been to, with their show count."""
    placed, missing = repo.map_venues(session, user_id)
    return {
        "venues": [{"venue_id": v.id, "name": v.name, "city": v.city, "country": v.country, "latitude": v.latitude,
                    "longitude": v.longitude, "show_count": int(v.n), "last_seen": v[7]} for v in placed],
        "without_coordinates": missing,
    }


def get_home(session: Session, *, user_id: int) -> dict[str, Any]:
    """The person's home place (null fields when unset)."""
    home = session.get(HomePlace, user_id)
    return {"city": home.city if home else None, "latitude": home.latitude if home else None,
            "longitude": home.longitude if home else None}


def set_home(session: Session, *, user_id: int, city: str, latitude: float, longitude: float) -> dict[str, Any]:
    """Set (or replace) the home place."""
    session.execute(delete(HomePlace).where(HomePlace.user_id == user_id))
    session.add(HomePlace(user_id=user_id, city=city, latitude=latitude, longitude=longitude))
    session.flush()
    return get_home(session, user_id=user_id)
