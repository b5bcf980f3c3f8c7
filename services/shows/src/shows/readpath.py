"""The hot reads — a person's list of shows and a show's detail — on the event loop, with ETags.

Same rule and same answers as the synchronous implementation they replaced (service.list_shows still
serves the sync callers; the golden test holds the routes to the answers recorded before the change),
without the synchronous session: statements built once per shape and compiled once per dialect
(shared.adb), rows straight to JSON bytes with orjson (the response models stay for the OpenAPI; the rows
are not validated again, the serialisers already produce the contract's types), no worker-thread hop.

ETags. An answer depends on the owner's shows as anyone sees them (`read_version`, bumped by database
triggers in the same transaction as any such change, see migration readpath_0003), on the friendship of
owner and viewer (its copy's version), on the viewer, the request and, for the detail, on media's and
social's answers (hashed as received). The versions are read *before* the rows: a change committing in
between gives an old tag with new rows (the next request gets a 200 again), never a new tag with old rows.
`If-None-Match` with the current tag gets a 304 after that one version query (and, for the detail, the access
check and the peers' answers), without reading the rows.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import JSON, and_, bindparam, exists, func, literal_column, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from shared import visibility
from shared.adb import AsyncReader, Bound, Query
from shared.db import utcnow
from shows import repository as repo
from shows.catalog.models import ShowAct
from shows.exceptions import ShowNotFound
from shows.models import Artist, CheckIn, Concert, Friendship, ReadEpoch, ReadVersion, SetlistSong, Show, Venue
from shows.serialize import show_json, show_name, song_json
from shows.service import Viewer

SONGS = Query(
    select(*SetlistSong.__table__.c).where(SetlistSong.show_id == bindparam("show_id")).order_by(SetlistSong.position)
)


class _JsonObject(FunctionElement[Any]):
    """json_build_object (PostgreSQL) / json_object (SQLite) of alternating keys and values."""

    inherit_cache = True


class _JsonAgg(FunctionElement[Any]):
    """json_agg(value ORDER BY key) (PostgreSQL) / json_group_array(json(value)) (SQLite, order lost: callers
    sort)."""

    type = JSON()
    inherit_cache = True


@compiles(_JsonObject, "postgresql")
def _pg_object(element: _JsonObject, compiler: Any, **kw: Any) -> str:
    return f"json_build_object({compiler.process(element.clauses, **kw)})"


@compiles(_JsonObject, "sqlite")
def _sqlite_object(element: _JsonObject, compiler: Any, **kw: Any) -> str:
    return f"json_object({compiler.process(element.clauses, **kw)})"


@compiles(_JsonAgg, "postgresql")
def _pg_agg(element: _JsonAgg, compiler: Any, **kw: Any) -> str:
    value, order = element.clauses
    return f"json_agg({compiler.process(value, **kw)} ORDER BY {compiler.process(order, **kw)})"


@compiles(_JsonAgg, "sqlite")
def _sqlite_agg(element: _JsonAgg, compiler: Any, **kw: Any) -> str:
    value, _ = element.clauses
    return f"json_group_array(json({compiler.process(value, **kw)}))"


def _bill_column() -> Any:
    """A show's bill as a JSON array on the show's own row: a page and its bills in one statement, not two."""
    act = aliased(Artist)

    def key(name: str) -> Any:  # keys inline in the SQL (a bound key has no type PostgreSQL could infer)
        return literal_column(f"'{name}'")

    artist = _JsonObject(key("id"), act.id, key("name"), act.name, key("mbid"), act.mbid,
                         key("image_url"), act.image_url,
                         key("disambiguation"), func.coalesce(act.disambiguation, literal_column("''")))
    entry = _JsonObject(key("artist"), artist, key("role"), ShowAct.role, key("position"), ShowAct.position)
    return (
        select(_JsonAgg(entry, ShowAct.position))
        .select_from(ShowAct).join(act, act.id == ShowAct.artist_id)
        .where(ShowAct.show_id == Show.id).correlate(Show)
        .scalar_subquery().label("bill")
    )


def _pair_of(owner: Any, viewer: Any) -> Any:
    return or_(and_(Friendship.user_a == owner, Friendship.user_b == viewer),
               and_(Friendship.user_a == viewer, Friendship.user_b == owner))


def _owner_versions(owner: Any, viewer: Any) -> list[Any]:
    """The versions a person's shows are seen through: theirs, and the friendship's with the viewer."""
    return [
        select(ReadVersion.version).where(ReadVersion.user_id == owner).scalar_subquery().label("rv"),
        select(Friendship.accepted).where(_pair_of(owner, viewer)).scalar_subquery().label("friends"),
        select(Friendship.version).where(_pair_of(owner, viewer)).scalar_subquery().label("fv"),
    ]


BILL = _bill_column()
# The detail's row with its bill and the versions of its tag: one statement, one snapshot.
SHOW = Query(repo._show_select().add_columns(BILL, *_owner_versions(Show.user_id, bindparam("viewer")))
             .where(Show.id == bindparam("show_id")))
JSON_OPTIONS = orjson.OPT_UTC_Z
# part of every tag: change it when the JSON of a show changes shape, so no client keeps an old shape
READ_SHAPE = "1"
EPOCH = Query(select(ReadEpoch.token).where(ReadEpoch.id == 1))


LIST_VERSIONS = Query(select(*_owner_versions(bindparam("owner"), bindparam("viewer"))))
DETAIL_VERSIONS = Query(select(Show.user_id, Show.visibility, Show.visible_to,
                               *_owner_versions(Show.user_id, bindparam("viewer")))
                        .where(Show.id == bindparam("show_id")))


@dataclass
class Answer:
    """A read's JSON (None when the client's copy is current: a 304) and its ETag."""

    body: bytes | None
    etag: str
    total: int = 0


def etag(*parts: Any) -> str:
    """A weak validator over the parts (the versions an answer was built from)."""
    digest = hashlib.blake2b(repr((READ_SHAPE, *parts)).encode(), digest_size=12).hexdigest()
    return f'W/"{digest}"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """RFC 9110 weak comparison of If-None-Match against our tag."""
    if not if_none_match:
        return False
    ours = tag.removeprefix("W/")
    return any(t.strip() == "*" or t.strip().removeprefix("W/") == ours for t in if_none_match.split(","))


async def _epoch(reader: AsyncReader, conn: Bound) -> str:
    token = reader.info.get("epoch")
    if token is None:
        token = reader.info["epoch"] = str(await conn.scalar(EPOCH))
    return str(token)


@dataclass(frozen=True)
class _ListQueries:
    page: Query  # the page with its bills and the total (an uncorrelated subquery, computed once)
    own_page: Query  # the same with the owner's read version: a person's own list in one round trip
    count: Query  # the total alone, for a page past the end


@functools.cache
def _list_queries(shape: repo.ListShape) -> _ListQueries:
    page, count = repo.list_statements(shape)
    page = page.add_columns(count.correlate(None).scalar_subquery().label("total_count"), BILL)
    rv = select(ReadVersion.version).where(ReadVersion.user_id == bindparam("owner")).scalar_subquery().label("rv")
    return _ListQueries(Query(page), Query(page.add_columns(rv)), Query(count))


def _bill(value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    # SQLite's json_group_array keeps no order: the running order is restored here (PostgreSQL's is sorted)
    return sorted(value, key=lambda act: act["position"]) if value else None


async def list_page(
    reader: AsyncReader,
    *,
    viewer: Viewer,
    owner_id: int | None,
    filters: repo.ShowFilters,
    sort: str | None,
    limit: int,
    offset: int,
    query: str = "",
    if_none_match: str | None = None,
) -> Answer:
    """A page of the caller's (or someone else's visible) shows as JSON bytes, the total and the ETag."""
    owner = owner_id if owner_id is not None else viewer.id
    ascending = sort == "date" if sort else filters.when == "upcoming"
    today = (filters.today or dt.date.today()) if filters.when in ("upcoming", "past") else None
    async with reader.connection() as conn:
        epoch = await _epoch(reader, conn)
        own_fresh = owner == viewer.id and not if_none_match
        v = None if own_fresh else await conn.first(LIST_VERSIONS, owner=owner, viewer=viewer.id)
        friends = bool(v.friends) if v is not None and owner != viewer.id else None
        shape, params = repo.list_query(filters, owner_id=owner, viewer_id=viewer.id, friends=friends,
                                        ascending=ascending, limit=limit, offset=offset)
        queries = _list_queries(shape)
        if v is None:
            # one's own list with no copy to revalidate: the version rides on the page (one snapshot, one trip)
            rows = await conn.all(queries.own_page, **params)
            rv = rows[0].rv if rows else await conn.scalar(LIST_VERSIONS, owner=owner, viewer=viewer.id)
            tag = etag(epoch, "list", viewer.id, owner, rv, None, query, today)
        else:
            tag = etag(epoch, "list", viewer.id, owner, v.rv, v.fv, query, today)
            if matches(if_none_match, tag):
                return Answer(None, tag)
            rows = await conn.all(queries.page, **params)
        total = rows[0].total_count if rows else (await conn.scalar(queries.count, **params) if offset else 0)
    body = orjson.dumps([show_json(r, viewer.id, _bill(r.bill)) for r in rows], option=JSON_OPTIONS)
    return Answer(body, tag, int(total or 0))


Extras = Callable[[], Awaitable[tuple[dict[str, Any], list[str]]]]


async def read_show(
    reader: AsyncReader, *, viewer: Viewer, show_id: int, extras: Extras, if_none_match: str | None = None
) -> Answer:
    """The show with its setlist, media and comments if the viewer may see it (404 otherwise), and its ETag.

    `extras` fetches media and comments (asked only once the viewer may see the show, and before the
    show's rows are read, because their answers are part of the tag).
    """
    async with reader.connection() as conn:
        epoch = await _epoch(reader, conn)
        if if_none_match:  # the versions alone first: a current copy costs no rows
            v = await conn.first(DETAIL_VERSIONS, show_id=show_id, viewer=viewer.id)
            row = None
        else:
            v = row = await conn.first(SHOW, show_id=show_id, viewer=viewer.id)
    if v is None or not _may_view(v, viewer.id):
        raise ShowNotFound()
    media, degraded = await extras()
    peer_part = dumps({**media, "degraded": degraded or None})
    tag = etag(epoch, "detail", viewer.id, show_id, v.user_id, v.rv, v.fv, hashlib.blake2b(peer_part).hexdigest())
    if matches(if_none_match, tag):
        return Answer(None, tag)
    async with reader.connection() as conn:
        if row is None:
            row = await conn.first(SHOW, show_id=show_id, viewer=viewer.id)
            if row is None or not _may_view(row, viewer.id):
                raise ShowNotFound()  # deleted or hidden since the versions were read
        songs = await conn.all(SONGS, show_id=show_id)
    body = show_json(row, viewer.id, _bill(row.bill))
    body["setlist"] = [song_json(s) for s in songs]
    body.update(media)
    body["degraded"] = degraded or None
    return Answer(dumps(body), tag)


def _may_view(row: Any, viewer_id: int, *, friends: bool | None = None) -> bool:
    """shared.visibility's rule on a row with user_id, visibility, visible_to (and `friends` from the copy)."""
    are_friends = bool(row.friends) if friends is None else friends
    return visibility.can_view(owner_id=row.user_id, visibility=row.visibility, audience=row.visible_to,
                               viewer_id=viewer_id, are_friends=are_friends)


def dumps(body: Any) -> bytes:
    """JSON bytes of an answer (dates as YYYY-MM-DD, times with Z)."""
    return orjson.dumps(body, option=JSON_OPTIONS)


# ---------------------------------------------------------------- the internal access answer

_asker = bindparam("user_id")
_theirs = aliased(Show)
# media and social ask this for every upload, comment and read of theirs: one statement, on the loop
ACCESS = Query(
    select(Show.id, Show.user_id, Show.concert_id, Show.visibility, Show.visible_to, Concert.date,
           Artist.name.label("artist_name"), Venue.name.label("venue_name"),
           select(Friendship.accepted).where(_pair_of(Show.user_id, _asker)).scalar_subquery().label("friends"),
           exists().where(_theirs.user_id == _asker, _theirs.concert_id == Show.concert_id).label("logged"),
           exists().where(CheckIn.user_id == _asker, CheckIn.concert_id == Show.concert_id,
                          CheckIn.checked_out_at.is_(None), CheckIn.checked_in_at >= bindparam("since"))
           .label("checked_in"))
    .join(Concert, Concert.id == Show.concert_id)
    .join(Artist, Artist.id == Concert.artist_id)
    .join(Venue, Venue.id == Concert.venue_id)
    .where(Show.id == bindparam("show_id"))
)


async def show_access(reader: AsyncReader, *, show_id: int, user_id: int, ttl_hours: float,
                      are_friends: bool | None = None, now: dt.datetime | None = None) -> bytes:
    """What a user may do with a show (the internal access answer media and social act on) as JSON;
    ShowNotFound if it is gone.

    `are_friends` is the friendship as social (its owner) knows it; without it this service's copy decides.
    """
    since = (now or utcnow()) - dt.timedelta(hours=ttl_hours)
    row = await reader.first(ACCESS, show_id=show_id, user_id=user_id, since=since)
    if row is None:
        raise ShowNotFound()
    return dumps({
        "show_id": row.id, "owner_id": row.user_id, "concert_id": row.concert_id, "visibility": row.visibility,
        "can_view": _may_view(row, user_id, friends=are_friends), "can_edit": row.user_id == user_id,
        "logged_concert": bool(row.logged), "checked_in": bool(row.checked_in),
        "show_name": show_name(row.artist_name, row.venue_name), "date": row.date,
    })
