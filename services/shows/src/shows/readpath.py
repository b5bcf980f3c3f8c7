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
from sqlalchemy import Integer, String, and_, bindparam, column, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY

from shared import visibility
from shared.adb import AsyncReader, Bound, Query
from shows import repository as repo
from shows.catalog.models import ShowAct
from shows.exceptions import ShowNotFound
from shows.models import Artist, Friendship, ReadEpoch, ReadVersion, SetlistSong, Show
from shows.serialize import show_json, song_json
from shows.service import Viewer

SHOW = Query(repo._show_select().where(Show.id == bindparam("show_id")))
SONGS = Query(
    select(*SetlistSong.__table__.c).where(SetlistSong.show_id == bindparam("show_id")).order_by(SetlistSong.position)
)
_BILL = select(ShowAct.show_id, ShowAct.role, ShowAct.position, Artist.id, Artist.name, Artist.mbid,
               Artist.image_url, Artist.disambiguation).join(Artist, Artist.id == ShowAct.artist_id)
BILL_ONE = Query(_BILL.where(ShowAct.show_id == bindparam("show_id")).order_by(ShowAct.position))
# a page's bills in one statement with one parameter: an array on PostgreSQL, a JSON list on SQLite
BILLS = {
    "postgresql": Query(
        _BILL.where(ShowAct.show_id == func.any(bindparam("ids", type_=ARRAY(Integer))))
        .order_by(ShowAct.show_id, ShowAct.position)
    ),
    "sqlite": Query(
        _BILL.where(ShowAct.show_id.in_(select(column("value")).select_from(
            func.json_each(bindparam("ids", type_=String)))))
        .order_by(ShowAct.show_id, ShowAct.position)
    ),
}
JSON_OPTIONS = orjson.OPT_UTC_Z
# part of every tag: change it when the JSON of a show changes shape, so no client keeps an old shape
READ_SHAPE = "1"
EPOCH = Query(select(ReadEpoch.token).where(ReadEpoch.id == 1))


def _pair_of(owner: Any, viewer: Any) -> Any:
    return or_(and_(Friendship.user_a == owner, Friendship.user_b == viewer),
               and_(Friendship.user_a == viewer, Friendship.user_b == owner))


LIST_VERSIONS = Query(select(
    select(ReadVersion.version).where(ReadVersion.user_id == bindparam("owner")).scalar_subquery().label("rv"),
    select(Friendship.accepted).where(_pair_of(bindparam("owner"), bindparam("viewer")))
    .scalar_subquery().label("friends"),
    select(Friendship.version).where(_pair_of(bindparam("owner"), bindparam("viewer")))
    .scalar_subquery().label("fv"),
))
DETAIL_VERSIONS = Query(select(
    Show.user_id, Show.visibility, Show.visible_to,
    select(ReadVersion.version).where(ReadVersion.user_id == Show.user_id).scalar_subquery().label("rv"),
    select(Friendship.accepted).where(_pair_of(Show.user_id, bindparam("viewer"))).scalar_subquery().label("friends"),
    select(Friendship.version).where(_pair_of(Show.user_id, bindparam("viewer"))).scalar_subquery().label("fv"),
).where(Show.id == bindparam("show_id")))


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


@functools.cache
def _list_queries(shape: repo.ListShape) -> tuple[Query, Query]:
    page, count = repo.list_statements(shape)
    # the total rides on the page as an uncorrelated subquery (computed once), so a page is one round trip;
    # the count alone is asked only for a page past the end
    with_total = page.add_columns(count.correlate(None).scalar_subquery().label("total_count"))
    return Query(with_total), Query(count)


def _bills(rows: list[Any]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for sid, role, pos, aid, name, mbid, image, dis in rows:
        out.setdefault(sid, []).append({
            "artist": {"id": aid, "name": name, "mbid": mbid, "image_url": image, "disambiguation": dis or ""},
            "role": role,
            "position": pos,
        })
    return out


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
        v = await conn.first(LIST_VERSIONS, owner=owner, viewer=viewer.id)
        tag = etag(epoch, "list", viewer.id, owner, v.rv, v.fv, query, today)
        if matches(if_none_match, tag):
            return Answer(None, tag)
        friends = None if owner == viewer.id else bool(v.friends)
        shape, params = repo.list_query(filters, owner_id=owner, viewer_id=viewer.id, friends=friends,
                                        ascending=ascending, limit=limit, offset=offset)
        page_q, count_q = _list_queries(shape)
        rows = await conn.all(page_q, **params)
        total = rows[0].total_count if rows else (await conn.scalar(count_q, **params) if offset else 0)
        bills: dict[int, list[dict[str, Any]]] = {}
        if rows:
            ids = [r.id for r in rows]
            bills = _bills(await conn.all(BILLS[reader.dialect],
                                          ids=ids if reader.dialect == "postgresql" else orjson.dumps(ids).decode()))
    body = orjson.dumps([show_json(r, viewer.id, bills.get(r.id)) for r in rows], option=JSON_OPTIONS)
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
        v = await conn.first(DETAIL_VERSIONS, show_id=show_id, viewer=viewer.id)
    if v is None or not _may_view(v, viewer.id):
        raise ShowNotFound()
    media, degraded = await extras()
    peer_part = dumps({**media, "degraded": degraded or None})
    tag = etag(epoch, "detail", viewer.id, show_id, v.user_id, v.rv, v.fv, hashlib.blake2b(peer_part).hexdigest())
    if matches(if_none_match, tag):
        return Answer(None, tag)
    async with reader.connection() as conn:
        row = await conn.first(SHOW, show_id=show_id)
        if row is None or not _may_view(row, viewer.id, friends=bool(v.friends)):
            raise ShowNotFound()  # deleted or hidden since the versions were read
        bill = _bills(await conn.all(BILL_ONE, show_id=show_id)).get(show_id)
        songs = await conn.all(SONGS, show_id=show_id)
    body = show_json(row, viewer.id, bill)
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
