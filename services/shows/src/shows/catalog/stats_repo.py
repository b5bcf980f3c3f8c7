"""Queries of the statistics: only the caller's own shows, each act of a bill counted (flush/commit free)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, String, and_, cast, distinct, false, func, literal, select
from sqlalchemy.orm import Session

from shows.catalog.models import ArtistRecording, ShowAct
from shows.models import Artist, Concert, SetlistSong, Show, ShowCounter, Venue


def _act() -> Any:
    # a song without an act belongs to the concert's headliner
    return func.coalesce(SetlistSong.artist_id, Concert.artist_id)


def _heard(user_id: int, artist_id: int | None) -> Select[Any]:
    """Setlist songs the person heard live (tape intros excluded), joined to their show and concert."""
    stmt = (
        select()
        .select_from(SetlistSong)
        .join(Show, Show.id == SetlistSong.show_id)
        .join(Concert, Concert.id == Show.concert_id)
        .where(Show.user_id == user_id, SetlistSong.is_tape.is_(false()))
    )
    if artist_id is not None:
        stmt = stmt.where(_act() == artist_id)
    return stmt


def artists_by_id(session: Session, ids: set[int]) -> dict[int, Artist]:
    """Artists by id."""
    if not ids:
        return {}
    return {a.id: a for a in session.scalars(select(Artist).where(Artist.id.in_(ids)))}


def shows_with_act(session: Session, user_id: int, artist_id: int) -> list[Any]:
    """The person's shows where the artist was on the bill (any role), oldest first."""
    stmt = (
        select(Show.id, Show.show_date, ShowAct.role, Venue.id.label("venue_id"), Venue.name, Venue.city,
               Show.festival_name)
        .join(ShowAct, ShowAct.show_id == Show.id)
        .join(Concert, Concert.id == Show.concert_id)
        .join(Venue, Venue.id == Concert.venue_id)
        .where(Show.user_id == user_id, ShowAct.artist_id == artist_id)
        .order_by(Show.show_date, Show.id)
    )
    return list(session.execute(stmt).all())


def heard_titles(session: Session, user_id: int, artist_id: int) -> list[Any]:
    """(key, title, times) of an act's songs the person heard."""
    stmt = (
        _heard(user_id, artist_id)
        .add_columns(SetlistSong.song_key, func.min(SetlistSong.title), func.count())
        .group_by(SetlistSong.song_key)
        .order_by(func.count().desc(), SetlistSong.song_key)
    )
    return list(session.execute(stmt).all())


def known_titles(session: Session, artist_id: int) -> dict[str, str]:
    """{key: title} of an artist's recordings known to MusicBrainz (empty when never looked up)."""
    stmt = (select(ArtistRecording.song_key, func.min(ArtistRecording.title))
            .where(ArtistRecording.artist_id == artist_id).group_by(ArtistRecording.song_key))
    return {k: t for k, t in session.execute(stmt)}


def year_shows(session: Session, user_id: int, start: dt.date, end: dt.date) -> list[Any]:
    """The person's shows in [start, end] with venue, place, ticket and media counts."""
    stmt = (
        select(Show.id, Show.show_date, Show.ticket_price, Show.currency, Venue.id.label("venue_id"),
               Venue.name.label("venue_name"), Venue.city, Venue.country, Venue.latitude, Venue.longitude,
               func.coalesce(ShowCounter.photos, 0).label("photos"),
               func.coalesce(ShowCounter.videos, 0).label("videos"))
        .join(Concert, Concert.id == Show.concert_id)
        .join(Venue, Venue.id == Concert.venue_id)
        .outerjoin(ShowCounter, ShowCounter.show_id == Show.id)
        .where(Show.user_id == user_id, Show.show_date.between(start, end))
        .order_by(Show.show_date, Show.id)
    )
    return list(session.execute(stmt).all())


def acts_first_seen(session: Session, user_id: int) -> list[Any]:
    """(artist id, name, first date, shows in all) of every act the person saw."""
    stmt = (
        select(Artist.id, Artist.name, func.min(Show.show_date), func.count(distinct(Show.id)))
        .select_from(ShowAct)
        .join(Show, Show.id == ShowAct.show_id)
        .join(Artist, Artist.id == ShowAct.artist_id)
        .where(Show.user_id == user_id)
        .group_by(Artist.id, Artist.name)
    )
    return list(session.execute(stmt).all())


def acts_in(session: Session, user_id: int, start: dt.date, end: dt.date) -> list[Any]:
    """(artist id, name, shows) of the acts seen in [start, end], most seen first."""
    n = func.count(distinct(Show.id)).label("n")
    stmt = (
        select(Artist.id, Artist.name, n)
        .select_from(ShowAct)
        .join(Show, Show.id == ShowAct.show_id)
        .join(Artist, Artist.id == ShowAct.artist_id)
        .where(Show.user_id == user_id, Show.show_date.between(start, end))
        .group_by(Artist.id, Artist.name)
        .order_by(n.desc(), Artist.name)
    )
    return list(session.execute(stmt).all())


def songs_in(session: Session, user_id: int, start: dt.date, end: dt.date) -> tuple[int, int]:
    """(songs heard, distinct songs) in [start, end]."""
    # SQLite counts DISTINCT over one expression only: act and key joined into one string
    pair = cast(_act(), String) + literal("|") + SetlistSong.song_key
    stmt = _heard(user_id, None).add_columns(func.count(), func.count(distinct(pair)))
    total, unique = session.execute(stmt.where(and_(Show.show_date >= start, Show.show_date <= end))).one()
    return int(total or 0), int(unique or 0)


def map_venues(session: Session, user_id: int) -> tuple[list[Any], int]:
    """Venues with coordinates where the person saw shows (with counts), and how many venues lack coordinates."""
    n = func.count(Show.id).label("n")
    stmt = (
        select(Venue.id, Venue.name, Venue.city, Venue.country, Venue.latitude, Venue.longitude, n,
               func.max(Show.show_date))
        .select_from(Show)
        .join(Concert, Concert.id == Show.concert_id)
        .join(Venue, Venue.id == Concert.venue_id)
        .where(Show.user_id == user_id)
        .group_by(Venue.id, Venue.name, Venue.city, Venue.country, Venue.latitude, Venue.longitude)
        .order_by(n.desc(), Venue.name)
    )
    rows = list(session.execute(stmt).all())
    placed = [r for r in rows if r.latitude is not None and r.longitude is not None]
    return placed, len(rows) - len(placed)
