"""The hot reads — a person's list of shows and a show's detail — on the event loop.

Same rule and same answers as service.list_shows / service.read_show (the golden test holds them to it),
without the synchronous session: statements built once per shape and compiled once per dialect
(shared.adb), rows straight to JSON bytes with orjson (the response models stay for the OpenAPI; the rows
are not validated again, the serialisers already produce the contract's types), no worker-thread hop.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
from sqlalchemy import Integer, String, bindparam, column, func, select
from sqlalchemy.dialects.postgresql import ARRAY

from shared import visibility
from shared.adb import AsyncReader, Bound, Query
from shows import repository as repo
from shows.catalog.models import ShowAct
from shows.exceptions import ShowNotFound
from shows.models import Artist, Friendship, SetlistSong, Show
from shows.serialize import show_json, song_json
from shows.service import Viewer

SHOW = Query(repo._show_select().where(Show.id == bindparam("show_id")))
SONGS = Query(
    select(*SetlistSong.__table__.c).where(SetlistSong.show_id == bindparam("show_id")).order_by(SetlistSong.position)
)
FRIENDSHIP = Query(
    select(Friendship.accepted).where(Friendship.user_a == bindparam("a"), Friendship.user_b == bindparam("b"))
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


@functools.cache
def _list_queries(shape: repo.ListShape) -> tuple[Query, Query]:
    page, count = repo.list_statements(shape)
    return Query(page), Query(count)


def _bills(rows: list[Any]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for sid, role, pos, aid, name, mbid, image, dis in rows:
        out.setdefault(sid, []).append({
            "artist": {"id": aid, "name": name, "mbid": mbid, "image_url": image, "disambiguation": dis or ""},
            "role": role,
            "position": pos,
        })
    return out


async def _is_friend(conn: Bound, a: int, b: int) -> bool:
    """The friendship copy's answer (repository_copies.is_friend)."""
    if a == b:
        return False
    lo, hi = (a, b) if a < b else (b, a)
    return bool(await conn.scalar(FRIENDSHIP, a=lo, b=hi))


async def list_page(
    reader: AsyncReader,
    *,
    viewer: Viewer,
    owner_id: int | None,
    filters: repo.ShowFilters,
    sort: str | None,
    limit: int,
    offset: int,
) -> tuple[bytes, int]:
    """A page of the caller's (or someone else's visible) shows as JSON bytes, and the total."""
    owner = owner_id if owner_id is not None else viewer.id
    ascending = sort == "date" if sort else filters.when == "upcoming"
    async with reader.connection() as conn:
        friends = None if owner == viewer.id else await _is_friend(conn, owner, viewer.id)
        shape, params = repo.list_query(filters, owner_id=owner, viewer_id=viewer.id, friends=friends,
                                        ascending=ascending, limit=limit, offset=offset)
        page_q, count_q = _list_queries(shape)
        rows = await conn.all(page_q, **params)
        total = await conn.scalar(count_q, **params)
        bills: dict[int, list[dict[str, Any]]] = {}
        if rows:
            ids = [r.id for r in rows]
            bills = _bills(await conn.all(BILLS[reader.dialect],
                                          ids=ids if reader.dialect == "postgresql" else orjson.dumps(ids).decode()))
    body = orjson.dumps([show_json(r, viewer.id, bills.get(r.id)) for r in rows], option=JSON_OPTIONS)
    return body, int(total or 0)


async def read_show(reader: AsyncReader, *, viewer: Viewer, show_id: int) -> dict[str, Any]:
    """The show JSON plus its setlist if the viewer may see it (404 otherwise); media and comments are added later."""
    async with reader.connection() as conn:
        row = await conn.first(SHOW, show_id=show_id)
        if row is None:
            raise ShowNotFound()
        needs = row.user_id != viewer.id and row.visibility == "friends"
        friends = needs and await _is_friend(conn, row.user_id, viewer.id)
        if not visibility.can_view(owner_id=row.user_id, visibility=row.visibility, audience=row.visible_to,
                                   viewer_id=viewer.id, are_friends=friends):
            raise ShowNotFound()
        bill = _bills(await conn.all(BILL_ONE, show_id=show_id)).get(show_id)
        songs = await conn.all(SONGS, show_id=show_id)
    body = show_json(row, viewer.id, bill)
    body["setlist"] = [song_json(s) for s in songs]
    return body


def dumps(body: Any) -> bytes:
    """JSON bytes of an answer (dates as YYYY-MM-DD, times with Z)."""
    return orjson.dumps(body, option=JSON_OPTIONS)
