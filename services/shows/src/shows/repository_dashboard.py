"""Read-only aggregate queries: the dashboard and autocomplete (flush/commit free)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from shared.adb import Query
from shows.models import Artist, Concert, Show, Venue
from shows.normalize import like_escape


def _of(user_id: int, public_only: bool) -> list[Any]:
    """A person's shows, or only their public ones (the public profile)."""
    return [Show.user_id == user_id, *([Show.visibility == "public"] if public_only else [])]


def _totals(of: list[Any], today: Any) -> Any:
    """Shows, distinct artists, distinct venues and upcoming shows of some shows, in one statement."""
    upcoming = select(func.count(Show.id)).where(*of, Show.show_date >= today).scalar_subquery()
    return (
        select(func.count(Show.id), func.count(func.distinct(Concert.artist_id)),
               func.count(func.distinct(Concert.venue_id)), upcoming)
        .select_from(Show)
        .join(Concert, Concert.id == Show.concert_id)
        .where(*of)
    )


def user_totals(session: Session, user_id: int, today: dt.date, public_only: bool = False) -> dict[str, int]:
    """A person's show, artist, venue and upcoming counts."""
    shows, artists, venues, upcoming = session.execute(_totals(_of(user_id, public_only), today)).one()
    return {"shows": shows, "artists": artists, "venues": venues, "upcoming": int(upcoming or 0)}


# The dashboard's totals on the event loop (shared.adb): one statement for the counts, one for the dates.
TOTALS = Query(_totals([Show.user_id == bindparam("user_id")], bindparam("today")))
SHOW_DATES = Query(select(Show.show_date).where(Show.user_id == bindparam("user_id")))


def per_year(dates: Any) -> list[tuple[int, int]]:
    """(year, count) of some dates, oldest year first (portable: no dialect-specific date functions)."""
    counts: dict[int, int] = {}
    for d in dates:
        counts[d.year] = counts.get(d.year, 0) + 1
    return sorted(counts.items())


def public_shows(session: Session, user_id: int, limit: int) -> list[Any]:
    """A person's public shows, newest first: (id, date, artist id, artist name, venue id, venue name)."""
    stmt = (
        select(Show.id, Show.show_date, Artist.id, Artist.name, Venue.id, Venue.name)
        .join(Concert, Concert.id == Show.concert_id)
        .join(Artist, Artist.id == Concert.artist_id)
        .join(Venue, Venue.id == Concert.venue_id)
        .where(*_of(user_id, True))
        .order_by(Show.show_date.desc(), Show.id.desc())
        .limit(limit)
    )
    return list(session.execute(stmt).all())


def _most_seen(session: Session, user_id: int, limit: int, entity: Any, fk: Any,
               public_only: bool = False) -> tuple[list[Any], int]:
    """Rows of `entity` (artist or venue) with show count and first/last dates, and the distinct total."""
    n = func.count(Show.id).label("n")
    stmt = (
        select(entity, n, func.min(Show.show_date), func.max(Show.show_date))
        .select_from(Show)
        .join(Concert, Concert.id == Show.concert_id)
        .join(entity, entity.id == fk)
        .where(*_of(user_id, public_only))
        .group_by(entity.id)
        .order_by(n.desc(), entity.name_norm)
        .limit(limit)
    )
    total = session.scalar(
        select(func.count(func.distinct(fk)))
        .select_from(Show)
        .join(Concert, Concert.id == Show.concert_id)
        .where(*_of(user_id, public_only))
    )
    return list(session.execute(stmt).all()), int(total or 0)


def dashboard_artists(session: Session, user_id: int, limit: int,
                      public_only: bool = False) -> tuple[list[Any], int]:
    """The artists a person has seen, most seen first, and how many distinct ones."""
    return _most_seen(session, user_id, limit, Artist, Concert.artist_id, public_only)


def dashboard_venues(session: Session, user_id: int, limit: int) -> tuple[list[Any], int]:
    """The venues a person has been to, most visited first, and how many distinct ones."""
    return _most_seen(session, user_id, limit, Venue, Concert.venue_id)


def suggest_artists(session: Session, prefix: str, limit: int) -> list[tuple[Artist, int]]:
    """Artists whose normalised name starts with `prefix`, most used first."""
    n = func.count(Show.id).label("n")
    stmt = (
        select(Artist, n)
        .outerjoin(Concert, Concert.artist_id == Artist.id)
        .outerjoin(Show, Show.concert_id == Concert.id)
        .where(Artist.name_norm.like(f"{like_escape(prefix)}%", escape="\\"))
        .group_by(Artist.id)
        .order_by(n.desc(), Artist.name_norm)
        .limit(limit)
    )
    return [(r[0], int(r[1])) for r in session.execute(stmt)]


def suggest_venues(session: Session, prefix: str, limit: int) -> list[tuple[Venue, int]]:
    """Venues whose normalised name starts with `prefix`, most used first."""
    n = func.count(Show.id).label("n")
    stmt = (
        select(Venue, n)
        .outerjoin(Concert, Concert.venue_id == Venue.id)
        .outerjoin(Show, Show.concert_id == Concert.id)
        .where(Venue.name_norm.like(f"{like_escape(prefix)}%", escape="\\"))
        .group_by(Venue.id)
        .order_by(n.desc(), Venue.name_norm)
        .limit(limit)
    )
    return [(r[0], int(r[1])) for r in session.execute(stmt)]
