"""The helper apps of bench/shows.py, importable by name so uvicorn can run them in several processes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Response


def stub_app() -> Any:
    """JWKS + media/social internal endpoints answering like healthy, empty services."""
    app = FastAPI()
    jwks = json.loads(Path(os.environ["BENCH_JWKS_FILE"]).read_text())

    @app.get("/jwks.json")
    def get_jwks() -> dict[str, Any]:
        return jwks

    @app.get("/api/auth/.well-known/jwks.json")
    def get_jwks_auth_path() -> dict[str, Any]:
        return jwks

    @app.get("/internal/media/show/{show_id}")
    async def media(show_id: int) -> dict[str, Any]:
        return {"photos": [], "audio": [], "videos": []}

    @app.get("/internal/comments/show/{show_id}")
    async def comments(show_id: int) -> dict[str, Any]:
        return {"comments": [], "total": 0}

    @app.get("/internal/users/{user_id}/counts")
    async def counts(user_id: int) -> dict[str, int]:
        return {"photos": 0, "audio": 0, "videos": 0, "comments": 0, "friends": 0}

    @app.get("/internal/sessions/revoked")
    async def revoked() -> dict[str, Any]:
        return {"revocations": [], "cursor": 0}  # auth's catch-up: nothing revoked

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def bare_app() -> Any:
    """The same queries as the shows service, served by plain FastAPI + SQLAlchemy (no auth, no middleware)."""
    from shared.db import make_engine, make_session_factory
    from shows import repository as repo
    from shows.db import outbox
    from shows.serialize import show_json, song_json

    engine = make_engine(os.environ["BENCH_DATABASE_URL"])
    factory = make_session_factory(engine, outbox)
    user_id = int(os.environ["BENCH_USER_ID"])
    app = FastAPI()

    @app.get("/bare/shows")
    def list_shows(response: Response, limit: int = 20, offset: int = 0) -> list[dict[str, Any]]:
        with factory() as s:
            rows, total = repo.list_shows(
                s,
                owner_id=user_id,
                viewer_id=user_id,
                friends=None,
                filters=repo.ShowFilters(),
                ascending=False,
                limit=min(max(limit, 1), 100),
                offset=offset,
            )
            response.headers["X-Total-Count"] = str(total)
            return [show_json(r, user_id) for r in rows]

    @app.get("/bare/shows/{show_id}")
    def get_show(show_id: int) -> dict[str, Any]:
        with factory() as s:
            row = repo.show_row(s, show_id)
            assert row is not None
            body = show_json(row, user_id)
            body["setlist"] = [song_json(x) for x in repo.list_songs(s, show_id)]
            body.update({"photos": [], "audio": [], "videos": [], "comments": []})
            return body

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


# ---------------------------------------------------------------- the floor: Starlette + asyncpg + orjson

_FLOOR_ROW = """
SELECT s.id, s.user_id, s.concert_id, s.time, s.notes, s.rating, s.visibility, s.visible_to,
       s.created_at, s.updated_at, c.date, a.id AS artist_id, a.name AS artist_name, a.mbid AS artist_mbid,
       a.image_url AS artist_image_url, v.id AS venue_id, v.name AS venue_name, v.city, v.state, v.country,
       v.latitude, v.longitude, coalesce(sc.photos, 0) AS photo_count, coalesce(sc.audio, 0) AS audio_count,
       coalesce(sc.videos, 0) AS video_count, coalesce(sc.comments, 0) AS comment_count,
       u.username AS owner_username,
       (SELECT count(ss.id) FROM setlist_song ss WHERE ss.show_id = s.id) AS song_count,
       (SELECT count(o.id) FROM "show" o WHERE o.concert_id = s.concert_id) AS attendee_count,
       s.festival_name, s.festival_day, s.festival_stage, s.ticket_price, s.currency, s.seat
FROM "show" s
JOIN concert c ON c.id = s.concert_id
JOIN artist a ON a.id = c.artist_id
JOIN venue v ON v.id = c.venue_id
LEFT OUTER JOIN show_counter sc ON sc.show_id = s.id
LEFT OUTER JOIN user_copy u ON u.id = s.user_id
"""
_FLOOR_PAGE = _FLOOR_ROW + "WHERE s.user_id = $1 ORDER BY s.show_date DESC, s.time DESC, s.id DESC LIMIT $2 OFFSET $3"
_FLOOR_ONE = _FLOOR_ROW + "WHERE s.id = $1"
_FLOOR_TOTAL = 'SELECT count(*) FROM "show" WHERE user_id = $1'
_FLOOR_LINEUP = """
SELECT sa.show_id, sa.role, sa.position, a.id, a.name, a.mbid, a.image_url, a.disambiguation
FROM show_act sa JOIN artist a ON a.id = sa.artist_id WHERE sa.show_id = ANY($1::int[])
ORDER BY sa.show_id, sa.position
"""
_FLOOR_SONGS = "SELECT * FROM setlist_song WHERE show_id = $1 ORDER BY position"


def _floor_location(city: str, state: str, country: str) -> str:
    return ", ".join(p for p in (city, state or country) if p)


def _floor_show(r: Any, viewer: int, bill: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The contract's show JSON, written out by hand (what any service must at least do per row)."""
    own = r["user_id"] == viewer
    loc = _floor_location(r["city"], r["state"], r["country"])
    artist = {"id": r["artist_id"], "name": r["artist_name"], "mbid": r["artist_mbid"],
              "image_url": r["artist_image_url"]}
    fest = r["festival_name"]
    return {
        "id": r["id"], "user_id": r["user_id"], "owner": {"id": r["user_id"], "username": r["owner_username"] or ""},
        "is_owner": own, "concert_id": r["concert_id"], "artist_id": r["artist_id"], "venue_id": r["venue_id"],
        "artist": artist,
        "venue": {"id": r["venue_id"], "name": r["venue_name"], "location": loc, "city": r["city"],
                  "state": r["state"], "country": r["country"], "latitude": r["latitude"],
                  "longitude": r["longitude"]},
        "artist_name": r["artist_name"], "venue_name": r["venue_name"], "venue_location": loc, "date": r["date"],
        "time": r["time"], "notes": r["notes"] or "", "rating": r["rating"], "visibility": r["visibility"],
        "visible_to": r["visible_to"] if own else None, "created_at": r["created_at"],
        "updated_at": r["updated_at"], "photo_count": r["photo_count"], "audio_count": r["audio_count"],
        "video_count": r["video_count"], "comment_count": r["comment_count"], "song_count": r["song_count"],
        "attendee_count": r["attendee_count"],
        "lineup": bill or [{"artist": {**artist, "disambiguation": ""}, "role": "headliner", "position": 1}],
        "festival": {"name": fest, "day": r["festival_day"], "stage": r["festival_stage"]} if fest else None,
        "ticket_price": r["ticket_price"] if own else None, "currency": r["currency"] if own else None,
        "seat": r["seat"] if own else None,
    }


def floor_app() -> Any:
    """The floor: the same page and detail as the service, by hand, with no framework cost beyond Starlette.

    asyncpg pool, SQL written once, rows to JSON bytes with orjson, no auth, no middleware. The detail also
    asks the (stub) media and social services concurrently, as the service's detail must.
    """
    import asyncio
    import contextlib

    import aiohttp
    import asyncpg
    import orjson
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response as RawResponse
    from starlette.routing import Route

    dsn = os.environ["BENCH_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    user_id = int(os.environ["BENCH_USER_ID"])
    peers = os.environ["BENCH_PEERS_URL"]
    state: dict[str, Any] = {}

    async def lineups(conn: Any, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        out: dict[int, list[dict[str, Any]]] = {}
        for sid, role, pos, aid, name, mbid, image, dis in await conn.fetch(_FLOOR_LINEUP, ids):
            out.setdefault(sid, []).append({"artist": {"id": aid, "name": name, "mbid": mbid, "image_url": image,
                                                       "disambiguation": dis or ""}, "role": role, "position": pos})
        return out

    async def page(request: Request) -> RawResponse:
        limit = min(max(int(request.query_params.get("limit", 20)), 1), 100)
        offset = int(request.query_params.get("offset", 0))
        async with state["pool"].acquire() as conn:
            rows = await conn.fetch(_FLOOR_PAGE, user_id, limit, offset)
            total = await conn.fetchval(_FLOOR_TOTAL, user_id)
            bills = await lineups(conn, [r["id"] for r in rows])
        body = orjson.dumps([_floor_show(r, user_id, bills.get(r["id"])) for r in rows], option=orjson.OPT_UTC_Z)
        return RawResponse(body, media_type="application/json", headers={"X-Total-Count": str(total)})

    async def peer(path: str) -> Any:
        async with state["http"].get(peers + path, params={"viewer_id": str(user_id)}) as resp:
            return orjson.loads(await resp.read())

    async def detail(request: Request) -> RawResponse:
        sid = int(request.path_params["show_id"])
        extras = asyncio.gather(peer(f"/internal/media/show/{sid}"), peer(f"/internal/comments/show/{sid}"))
        async with state["pool"].acquire() as conn:
            row = await conn.fetchrow(_FLOOR_ONE, sid)
            bills = await lineups(conn, [sid])
            songs = await conn.fetch(_FLOOR_SONGS, sid)
        media, comments = await extras
        if row is None:
            return RawResponse(b'{"error":"Show not found.","code":"show_not_found"}', 404)
        body = _floor_show(row, user_id, bills.get(sid))
        body["setlist"] = [{"id": s["id"], "show_id": s["show_id"], "title": s["title"], "song_name": s["title"],
                            "order": s["position"], "notes": s["notes"] or "", "is_cover": s["is_cover"],
                            "original_artist": s["original_artist"], "duration": s["duration"],
                            "songwriter": s["songwriter"], "with_artist": s["with_artist"],
                            "artist_id": s["artist_id"], "set_number": s["set_number"] or 1,
                            "set_name": s["set_name"] or "", "encore": s["encore"] or 0, "is_tape": s["is_tape"],
                            "recording_mbid": s["recording_mbid"], "source": s["source"] or "manual"}
                           for s in songs]
        body.update({"photos": media["photos"], "audio": media["audio"], "videos": media["videos"],
                     "comments": comments["comments"], "degraded": None})
        return RawResponse(orjson.dumps(body, option=orjson.OPT_UTC_Z), media_type="application/json")

    async def health(request: Request) -> RawResponse:
        return RawResponse(b'{"status":"ok"}', media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        async def init(conn: Any) -> None:
            await conn.set_type_codec("json", encoder=json.dumps, decoder=orjson.loads, schema="pg_catalog",
                                      format="text")

        async def keep(conn: Any) -> None:
            return None  # nothing to reset after plain SELECTs (asyncpg would spend a round trip)

        state["pool"] = await asyncpg.create_pool(dsn, min_size=2, max_size=10, init=init, reset=keep)
        state["http"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
        yield
        await state["http"].close()
        await state["pool"].close()

    return Starlette(routes=[Route("/floor/shows", page), Route("/floor/shows/{show_id:int}", detail),
                             Route("/health", health)], lifespan=lifespan)
