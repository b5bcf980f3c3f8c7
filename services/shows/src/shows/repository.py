"""Every query of the shows service. Functions flush, never commit."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Integer, Result, Select, bindparam, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from shared import visibility
from shared.db import bound, bound_values, insert_for
from shows.models import (
    Artist,
    CheckIn,
    Concert,
    SetlistSong,
    Show,
    ShowAudience,
    ShowCounter,
    ShowTombstone,
    User,
    Venue,
)
from shows.normalize import like_escape
from shows.repository_copies import (  # noqa: F401 - re-exported: callers import every query from here
    COUNTER_FIELDS,
    apply_friendship,
    apply_user,
    bump_counter,
    drop_friendships_of,
    get_user,
    is_friend,
    usernames,
)


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# ---------------------------------------------------------------- catalogue (find or create)


def insert_unless_present(session: Session, model: Any, values: dict[str, Any], keys: list[str]) -> Any:
    """Insert a row unless one with the same unique `keys` exists; the new ORM object, or None if one did.

    One statement (INSERT ... ON CONFLICT DO NOTHING RETURNING) where a savepoint, the insert and its release
    were three; a concurrent writer of the same key makes this one wait for it, then insert nothing."""
    stmt = _insert_unless_statement(session.get_bind().dialect.name, model, tuple(values), tuple(keys))
    return session.scalars(stmt, bound(values)).first()


@functools.cache
def _insert_unless_statement(dialect: str, model: Any, columns: tuple[str, ...], keys: tuple[str, ...]) -> Any:
    table = model.__table__
    return (insert_for(dialect, model).values(bound_values(table, columns))
            .on_conflict_do_nothing(index_elements=list(keys)).returning(model))


def _insert_or_get(session: Session, model: Any, values: dict[str, Any], keys: list[str], refetch: Select[Any],
                   params: dict[str, Any] | None = None) -> Any:
    """Insert the row; on a unique-key race, the row the other writer created."""
    created = insert_unless_present(session, model, values, keys)
    return created if created is not None else session.scalars(refetch, params).one()


# Statements of logging a show, built once (building and keying them cost more CPU than running them).
_VENUE_BY_NAME_CITY = select(Venue).where(Venue.name_norm == bindparam("name_norm"),
                                          Venue.city_norm == bindparam("city_norm"))
_CONCERT_BY_KEY = select(Concert).where(Concert.artist_id == bindparam("artist_id"),
                                        Concert.venue_id == bindparam("venue_id"),
                                        Concert.date == bindparam("date", type_=Concert.date.type))


def find_or_create_artist(session: Session, name: str, name_norm: str, mbid: str | None) -> Artist:
    """The artist with this normalised name (created if missing; mbid filled in if it was empty)."""
    stmt = select(Artist).where(Artist.name_norm == name_norm)
    artist = session.scalars(stmt).first()
    if artist is None:
        artist = _insert_or_get(session, Artist, {"name": name, "name_norm": name_norm, "mbid": mbid},
                                ["name_norm"], stmt)
    if mbid and not artist.mbid:
        artist.mbid = mbid
    return artist


def find_or_create_venue(
    session: Session, *, name: str, name_norm: str, city: str, city_norm: str, state: str, country: str
) -> Venue:
    """The venue with this normalised name and city (created if missing; region filled in if empty)."""
    key = {"name_norm": name_norm, "city_norm": city_norm}
    venue = session.scalars(_VENUE_BY_NAME_CITY, key).first()
    if venue is None and not city_norm:
        # no city given: the venue of that name people already use (so both land on one concert)
        venue = session.scalars(select(Venue).where(Venue.name_norm == name_norm).order_by(Venue.id)).first()
    elif venue is None:
        # a city given for a venue first logged without one: complete that venue instead of splitting it
        venue = session.scalars(
            select(Venue).where(Venue.name_norm == name_norm, Venue.city_norm == "").order_by(Venue.id)
        ).first()
        if venue is not None:
            venue.city, venue.city_norm = city, city_norm
    if venue is None:
        venue = _insert_or_get(
            session, Venue,
            {"name": name, "name_norm": name_norm, "city": city, "city_norm": city_norm, "state": state,
             "country": country},
            ["name_norm", "city_norm"], _VENUE_BY_NAME_CITY, key,
        )
    if state and not venue.state:
        venue.state = state
    if country and not venue.country:
        venue.country = country
    return venue


def find_or_create_concert(session: Session, artist_id: int, venue_id: int, date: dt.date) -> Concert:
    """The concert of this artist at this venue on this date (created if missing)."""
    key = {"artist_id": artist_id, "venue_id": venue_id, "date": date}
    concert = session.scalars(_CONCERT_BY_KEY, key).first()
    if concert is None:
        concert = _insert_or_get(session, Concert, key, ["artist_id", "venue_id", "date"], _CONCERT_BY_KEY, key)
    return concert


# ---------------------------------------------------------------- shows


def get_show(session: Session, show_id: int, *, for_update: bool = False) -> Show | None:
    """A show by id; `for_update` locks its row on PostgreSQL (SQLite serialises writers anyway)."""
    stmt = select(Show).where(Show.id == show_id)
    if for_update and _is_pg(session):
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def get_user_show_for_concert(session: Session, user_id: int, concert_id: int) -> Show | None:
    """The show a user logged for a concert, if any."""
    return session.scalars(select(Show).where(Show.user_id == user_id, Show.concert_id == concert_id)).first()


_CONCERT_SHOWS = select(func.count(Show.id)).where(Show.concert_id == bindparam("concert_id"))
_CONCERT_SHOWS_BUT = _CONCERT_SHOWS.where(Show.user_id != bindparam("user_id"))


def count_concert_shows(session: Session, concert_id: int, *, excluding_user: int | None = None) -> int:
    """How many shows (people) logged a concert."""
    stmt = _CONCERT_SHOWS if excluding_user is None else _CONCERT_SHOWS_BUT
    return int(session.scalar(stmt, {"concert_id": concert_id, "user_id": excluding_user}) or 0)


def user_show_ids(session: Session, user_id: int) -> list[int]:
    """Ids of a user's shows."""
    return list(session.scalars(select(Show.id).where(Show.user_id == user_id).order_by(Show.id)))


def set_audience(session: Session, show_id: int, user_ids: Iterable[int] | None, *, new: bool = False) -> None:
    """Replace the indexed copy of a show's `visible_to` (`new`: the show was inserted in this transaction)."""
    if not new:
        session.execute(delete(ShowAudience).where(ShowAudience.show_id == show_id))
    if user_ids:
        session.add_all(ShowAudience(show_id=show_id, user_id=uid) for uid in user_ids)
        session.flush()


def delete_show(session: Session, show: Show) -> int:
    """Delete a show and everything that hangs off it here, leaving a tombstone; returns its version."""
    sid = show.id
    version = (show.version or 1) + 1
    for model in (SetlistSong, CheckIn, ShowAudience, ShowCounter):
        session.execute(delete(model).where(model.show_id == sid))
    session.add(ShowTombstone(id=sid, user_id=show.user_id, concert_id=show.concert_id, version=version))
    session.delete(show)
    session.flush()
    return version


def _facts_select() -> Select[Any]:
    # what copies elsewhere keep of a show (its event facts), without the counts of the full row
    return (
        select(
            Show.id, Show.user_id, Show.concert_id, Show.visibility, Show.visible_to, Show.version,
            Concert.date, Artist.name.label("artist_name"), Venue.name.label("venue_name"),
        )
        .join(Concert, Concert.id == Show.concert_id)
        .join(Artist, Artist.id == Concert.artist_id)
        .join(Venue, Venue.id == Concert.venue_id)
    )


def shows_snapshot(
    session: Session, *, after: int, limit: int, since: dt.datetime | None
) -> tuple[list[Any], list[ShowTombstone]]:
    """Shows (with their facts) and tombstones with id > `after`, changed since `since`, each by id."""
    live = _facts_select().where(Show.id > after).order_by(Show.id).limit(limit)
    dead = select(ShowTombstone).where(ShowTombstone.id > after).order_by(ShowTombstone.id).limit(limit)
    if since is not None:
        live = live.where(Show.updated_at >= since)
        dead = dead.where(ShowTombstone.deleted_at >= since)
    return _rows(session.execute(live)), list(session.scalars(dead))


@dataclass
class ShowFilters:
    """Filters of GET /api/shows (strings already normalised)."""

    artist: str | None = None
    artist_id: int | None = None
    venue: str | None = None
    venue_id: int | None = None
    city: str | None = None
    year: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    when: str = "all"
    q: str | None = None
    today: dt.date | None = None


class ShowRow(Protocol):
    """A show with everything its JSON needs, from one query: a flat row of columns, not ORM objects.

    Lists hydrate 20+ rows per request; plain rows cost about half of what five mapped objects per row
    do (identity map, instance state), and the statement still autoflushes because it names mapped columns.
    """

    id: int
    user_id: int
    concert_id: int
    show_date: dt.date
    time: str | None
    notes: str | None
    rating: int | None
    visibility: str
    visible_to: list[int] | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int
    date: dt.date
    artist_id: int
    artist_name: str
    artist_mbid: str | None
    artist_image_url: str | None
    venue_id: int
    venue_name: str
    city: str
    state: str
    country: str
    latitude: float | None
    longitude: float | None
    photo_count: int
    audio_count: int
    video_count: int
    comment_count: int
    owner_username: str | None
    song_count: int
    attendee_count: int
    festival_name: str | None
    festival_day: str | None
    festival_stage: str | None
    ticket_price: float | None
    currency: str | None
    seat: str | None


@functools.cache
def _show_select() -> Select[Any]:
    # built once: statements are immutable, and building this one costs more CPU than running it
    # correlated counts: an index lookup per row of the page, instead of aggregating whole tables
    song_count = (
        select(func.count(SetlistSong.id)).where(SetlistSong.show_id == Show.id).correlate(Show).scalar_subquery()
    )
    other = aliased(Show)
    attendees = (
        select(func.count(other.id)).where(other.concert_id == Show.concert_id).correlate(Show).scalar_subquery()
    )
    return (
        select(
            Show.id,
            Show.user_id,
            Show.concert_id,
            Show.show_date,
            Show.time,
            Show.notes,
            Show.rating,
            Show.visibility,
            Show.visible_to,
            Show.created_at,
            Show.updated_at,
            Show.version,
            Concert.date,
            Artist.id.label("artist_id"),
            Artist.name.label("artist_name"),
            Artist.mbid.label("artist_mbid"),
            Artist.image_url.label("artist_image_url"),
            Venue.id.label("venue_id"),
            Venue.name.label("venue_name"),
            Venue.city,
            Venue.state,
            Venue.country,
            Venue.latitude,
            Venue.longitude,
            func.coalesce(ShowCounter.photos, 0).label("photo_count"),
            func.coalesce(ShowCounter.audio, 0).label("audio_count"),
            func.coalesce(ShowCounter.videos, 0).label("video_count"),
            func.coalesce(ShowCounter.comments, 0).label("comment_count"),
            User.username.label("owner_username"),
            song_count.label("song_count"),
            attendees.label("attendee_count"),
            Show.festival_name,
            Show.festival_day,
            Show.festival_stage,
            Show.ticket_price,
            Show.currency,
            Show.seat,
        )
        .join(Concert, Concert.id == Show.concert_id)
        .join(Artist, Artist.id == Concert.artist_id)
        .join(Venue, Venue.id == Concert.venue_id)
        .outerjoin(ShowCounter, ShowCounter.show_id == Show.id)
        .outerjoin(User, User.id == Show.user_id)
    )


def _count_select(catalogue: bool) -> Select[Any]:
    # The catalogue joins only when a filter needs them: counting a person's shows is then an index-only
    # scan instead of hash joins over every concert.
    stmt = select(func.count()).select_from(Show)
    if catalogue:
        stmt = (
            stmt.join(Concert, Concert.id == Show.concert_id)
            .join(Artist, Artist.id == Concert.artist_id)
            .join(Venue, Venue.id == Concert.venue_id)
        )
    return stmt


def _rows(result: Result[Any]) -> list[ShowRow]:
    return list(result.all())  # type: ignore[arg-type]


@functools.cache
def _show_by_id() -> Select[Any]:
    return _show_select().where(Show.id == bindparam("show_id"))


def show_row(session: Session, show_id: int) -> ShowRow | None:
    """One show with its catalogue data and counts."""
    rows = _rows(session.execute(_show_by_id(), {"show_id": show_id}))
    return rows[0] if rows else None


def visible_clause(viewer_id: Any, friends: bool) -> Any:
    """SQL condition: a show of an owner whose friendship with `viewer_id` is `friends` that the viewer may see.

    `viewer_id` is an id or a bindparam (the read path's statements are compiled once for every viewer).
    """
    in_audience = exists(
        select(ShowAudience.show_id).where(ShowAudience.show_id == Show.id, ShowAudience.user_id == viewer_id)
    )
    return visibility.visible_condition(
        viewer_id=viewer_id,
        owner=Show.user_id,
        visibility=Show.visibility,
        restricted=Show.visible_to.is_not(None),
        in_audience=in_audience,
        are_friends=friends,
    )


def _pattern(needle: str) -> str:
    return f"%{like_escape(needle)}%"


def _contains(column: Any, name: str) -> Any:
    return column.like(bindparam(name), escape="\\")


# The shape of a list query: which filters are present, the order and whose list it is (None: the viewer's
# own; True/False: someone else's, the viewer being their friend or not). One statement per shape, built and
# compiled once; the values travel as parameters.
ListShape = tuple[bool, bool, bool, bool, bool, bool, bool, bool, str, bool, bool, bool | None]


def _shape(f: ShowFilters, ascending: bool, friends: bool | None) -> ListShape:
    return (
        f.artist_id is not None,
        f.artist_id is None and bool(f.artist),
        f.venue_id is not None,
        f.venue_id is None and bool(f.venue),
        bool(f.city),
        f.year is not None,
        f.date_from is not None,
        f.date_to is not None,
        f.when if f.when in ("upcoming", "past") else "all",
        bool(f.q),
        ascending,
        friends,
    )


def _params(f: ShowFilters) -> dict[str, Any]:
    p: dict[str, Any] = {}
    if f.artist_id is not None:
        p["artist_id"] = f.artist_id
    elif f.artist:
        p["artist"] = _pattern(f.artist)
    if f.venue_id is not None:
        p["venue_id"] = f.venue_id
    elif f.venue:
        p["venue"] = _pattern(f.venue)
    if f.city:
        p["city"] = _pattern(f.city)
    if f.year is not None:
        p["year_from"], p["year_to"] = dt.date(f.year, 1, 1), dt.date(f.year, 12, 31)
    if f.date_from is not None:
        p["date_from"] = f.date_from
    if f.date_to is not None:
        p["date_to"] = f.date_to
    if f.when in ("upcoming", "past"):
        p["today"] = f.today or dt.date.today()
    if f.q:
        p["q"] = _pattern(f.q)
    return p


def _shape_conditions(shape: ListShape) -> list[Any]:
    has_artist_id, has_artist, has_venue_id, has_venue, has_city, has_year, has_from, has_to, when, has_q, _, \
        friends = shape
    conds: list[Any] = [Show.user_id == bindparam("owner")]
    if has_artist_id:
        conds.append(Concert.artist_id == bindparam("artist_id"))
    elif has_artist:
        conds.append(_contains(Artist.name_norm, "artist"))
    if has_venue_id:
        conds.append(Concert.venue_id == bindparam("venue_id"))
    elif has_venue:
        conds.append(_contains(Venue.name_norm, "venue"))
    if has_city:
        conds.append(_contains(Venue.city_norm, "city"))
    if has_year:
        conds.append(Show.show_date.between(bindparam("year_from"), bindparam("year_to")))
    if has_from:
        conds.append(Show.show_date >= bindparam("date_from"))
    if has_to:
        conds.append(Show.show_date <= bindparam("date_to"))
    if when == "upcoming":
        conds.append(Show.show_date >= bindparam("today"))
    elif when == "past":
        conds.append(Show.show_date < bindparam("today"))
    if has_q:
        conds.append(
            or_(
                _contains(Artist.name_norm, "q"),
                _contains(Venue.name_norm, "q"),
                _contains(Venue.city_norm, "q"),
                _contains(Show.notes_norm, "q"),
            )
        )
    if friends is not None:
        conds.append(visible_clause(bindparam("viewer"), friends))
    return conds


@functools.cache
def list_statements(shape: ListShape) -> tuple[Select[Any], Select[Any]]:
    """The page and the count statement of a list shape (built once per shape)."""
    conds = _shape_conditions(shape)
    ascending = shape[10]
    order = (
        [Show.show_date.asc(), Show.time.asc(), Show.id.asc()]
        if ascending
        else [Show.show_date.desc(), Show.time.desc(), Show.id.desc()]
    )
    page = (
        _show_select().where(*conds).order_by(*order)
        .limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer))
    )
    catalogue = any(shape[:5]) or shape[9]  # the count joins the catalogue only when a filter needs it
    return page, _count_select(catalogue).where(*conds)


def list_query(
    filters: ShowFilters, *, owner_id: int, viewer_id: int, friends: bool | None, ascending: bool, limit: int,
    offset: int,
) -> tuple[ListShape, dict[str, Any]]:
    """The shape and the parameters of a list request (`friends` None: the viewer's own list)."""
    params = {**_params(filters), "owner": owner_id, "limit": limit, "offset": offset}
    if friends is not None:
        params["viewer"] = viewer_id
    return _shape(filters, ascending, friends), params


def list_shows(
    session: Session,
    *,
    owner_id: int,
    viewer_id: int,
    friends: bool | None,
    filters: ShowFilters,
    ascending: bool,
    limit: int,
    offset: int,
) -> tuple[list[ShowRow], int]:
    """One page of a person's shows (one query) and the total (one count query)."""
    shape, params = list_query(filters, owner_id=owner_id, viewer_id=viewer_id, friends=friends,
                               ascending=ascending, limit=limit, offset=offset)
    page, count = list_statements(shape)
    count_params = {k: v for k, v in params.items() if k not in ("limit", "offset")}
    return _rows(session.execute(page, params)), int(session.scalar(count, count_params) or 0)


def all_user_shows(session: Session, user_id: int) -> list[ShowRow]:
    """Every show of a user, oldest first (exports)."""
    stmt = _show_select().where(Show.user_id == user_id).order_by(Show.show_date, Show.time, Show.id)
    return _rows(session.execute(stmt))


# ---------------------------------------------------------------- setlists


def list_songs(session: Session, show_id: int) -> list[SetlistSong]:
    """A show's setlist in order."""
    stmt = select(SetlistSong).where(SetlistSong.show_id == show_id).order_by(SetlistSong.position)
    return list(session.scalars(stmt))


def get_song(session: Session, show_id: int, song_id: int) -> SetlistSong | None:
    """A song, only if it belongs to that show."""
    return session.scalars(select(SetlistSong).where(SetlistSong.id == song_id, SetlistSong.show_id == show_id)).first()


def apply_positions(session: Session, show_id: int, ordered_ids: list[int]) -> None:
    """Give the songs of a show positions 1..n in this order without ever breaking (show_id, position).

    Two steps: the songs that move first go to negative positions (distinct, so never colliding), then to
    their final ones, which nobody else holds by then. Works with a plain unique constraint everywhere.
    """
    stmt = select(SetlistSong.id, SetlistSong.position).where(SetlistSong.show_id == show_id)
    current: dict[int, int] = {sid: pos for sid, pos in session.execute(stmt)}
    moves = [(sid, pos) for pos, sid in enumerate(ordered_ids, start=1) if current.get(sid) != pos]
    if not moves:
        return
    table = SetlistSong.__table__
    session.flush()
    session.execute(
        update(table).where(table.c.id.in_([sid for sid, _ in moves])).values(position=-table.c.position - 1)
    )
    for sid, pos in moves:
        session.execute(update(table).where(table.c.id == sid).values(position=pos))
    # the ORM copies loaded earlier are stale now
    for obj in list(session.identity_map.values()):
        if isinstance(obj, SetlistSong) and obj.show_id == show_id:
            session.expire(obj, ["position"])


def max_position(session: Session, show_id: int) -> int:
    """The last position in a setlist (0 when empty)."""
    return int(session.scalar(select(func.max(SetlistSong.position)).where(SetlistSong.show_id == show_id)) or 0)


def songs_and_last_position(session: Session, show_id: int) -> tuple[int, int]:
    """How many songs a setlist has and its last position (0 when empty), in one statement built once."""
    count, last = session.execute(_SONGS_AND_LAST, {"show_id": show_id}).one()
    return int(count or 0), int(last or 0)


_SONGS_AND_LAST = select(func.count(SetlistSong.id), func.max(SetlistSong.position)).where(
    SetlistSong.show_id == bindparam("show_id"))


# ---------------------------------------------------------------- check-ins


def active_checkin(session: Session, user_id: int, concert_id: int, since: dt.datetime) -> CheckIn | None:
    """The user's check-in at a concert that has not ended (checked out or older than `since`)."""
    stmt = (
        select(CheckIn)
        .where(
            CheckIn.user_id == user_id,
            CheckIn.concert_id == concert_id,
            CheckIn.checked_out_at.is_(None),
            CheckIn.checked_in_at >= since,
        )
        .order_by(CheckIn.checked_in_at.desc())
    )
    return session.scalars(stmt).first()


def active_at_concert(session: Session, concert_id: int, since: dt.datetime) -> list[tuple[CheckIn, Show, str | None]]:
    """Active check-ins at a concert with each person's show and username."""
    stmt = (
        select(CheckIn, Show, User.username)
        .join(Show, Show.id == CheckIn.show_id)
        .outerjoin(User, User.id == CheckIn.user_id)
        .where(CheckIn.concert_id == concert_id, CheckIn.checked_out_at.is_(None), CheckIn.checked_in_at >= since)
        .order_by(CheckIn.checked_in_at)
    )
    return [(r[0], r[1], r[2]) for r in session.execute(stmt)]


def delete_user_checkins(session: Session, user_id: int) -> None:
    """Remove every check-in of a user."""
    session.execute(delete(CheckIn).where(CheckIn.user_id == user_id))
