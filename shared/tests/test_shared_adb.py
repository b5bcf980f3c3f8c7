"""shared.adb: a statement compiled once reads the same rows, with the same Python types, as SQLAlchemy's
synchronous session does — on SQLite (sqlite3 on the loop) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Boolean, Date, Float, Integer, MetaData, String, Table, bindparam, insert, or_, select
from sqlalchemy import Column as C

from shared.adb import AsyncReader, Query
from shared.db import UTCDateTime, make_engine

meta = MetaData()
item = Table(
    "adb_item", meta,
    C("id", Integer, primary_key=True), C("name", String(50)), C("day", Date), C("at", UTCDateTime()),
    C("tags", JSON(none_as_null=True), nullable=True), C("ok", Boolean), C("price", Float, nullable=True),
)
ROWS = [
    {"id": 1, "name": "a", "day": dt.date(2024, 1, 2), "at": dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
     "tags": [1, 2], "ok": True, "price": 1.5},
    {"id": 2, "name": "b", "day": dt.date(2025, 6, 7), "at": dt.datetime(2025, 6, 7, tzinfo=dt.UTC),
     "tags": None, "ok": False, "price": None},
    {"id": 3, "name": "c", "day": dt.date(2026, 1, 1), "at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
     "tags": {"k": "v"}, "ok": True, "price": 3.0},
]
# a parameter used twice, a date parameter, a literal compiled into the statement, LIMIT as a parameter
STMT = (
    select(item.c.id, item.c.name, item.c.day, item.c.at, item.c.tags, item.c.ok, item.c.price)
    .where(or_(item.c.id == bindparam("pick"), item.c.id == bindparam("pick") + 1), item.c.day >= bindparam("since"),
           item.c.name != "zzz")
    .order_by(item.c.id).limit(bindparam("n", type_=Integer))
)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        db = f"sqlite:///{tmp_path / 'adb.db'}"
    else:
        factory: Callable[[str], str] = request.getfixturevalue("pg_url_factory")
        db = factory(f"adb_{tmp_path.name[-20:]}")
    engine = make_engine(db)
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(item), ROWS)
    engine.dispose()
    return db


def test_reads_what_the_session_reads(url: str) -> None:
    params = {"pick": 1, "since": dt.date(2024, 1, 1), "n": 5}
    engine = make_engine(url)
    with engine.connect() as conn:
        want = [tuple(r) for r in conn.execute(STMT, params)]
    engine.dispose()
    query = Query(STMT)

    async def read() -> list[tuple[object, ...]]:
        reader = AsyncReader(url, pool_size=2)
        try:
            first = await reader.all(query, **params)
            async with reader.connection() as conn:
                again = await conn.all(query, **params)
                assert await conn.first(query, **{**params, "pick": 99}) is None
                assert await conn.scalar(query, **{**params, "n": 1}) == 1
            assert first == again
            assert first[0].name == "a" and first[0].tags == [1, 2]  # named rows
            return [tuple(r) for r in first]
        finally:
            await reader.close()

    got = asyncio.run(read())
    assert got == want
    assert [type(v) for v in got[0]] == [int, str, dt.date, dt.datetime, list, bool, float]
    assert got[0][3].tzinfo is not None and got[1][4] is None and got[1][6] is None


def test_a_sqlite_read_the_database_holds_off_waits_in_a_thread_not_on_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SQLite reads run on the loop (no thread); when the database answers "busy" (here a writer holding it
    exclusively) the read is not waited for on the loop: it waits in a worker thread and returns the rows."""
    import sqlite3
    import threading
    import time

    db = tmp_path / "busy.db"
    engine = make_engine(f"sqlite:///{db}")
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(item), ROWS)
    engine.dispose()
    query = Query(select(item.c.id).order_by(item.c.id))
    threads: list[str] = []
    real_to_thread = asyncio.to_thread

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        threads.append(func.__name__)
        return await real_to_thread(func, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", counted)

    async def free_read() -> list[int]:
        reader = AsyncReader(f"sqlite:///{db}", pool_size=1)
        try:
            return [r.id for r in await reader.all(query)]
        finally:
            await reader.close()

    assert asyncio.run(free_read()) == [1, 2, 3]
    assert threads == []  # an ordinary read: on the loop, no hand-off to a thread
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE adb_item SET name = 'held' WHERE id = 3")

    async def read() -> tuple[list[int], int]:
        reader = AsyncReader(f"sqlite:///{db}", pool_size=1)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        def release() -> None:  # an exclusive-mode connection keeps its lock until it closes
            holder.execute("COMMIT")
            holder.close()

        threading.Timer(0.5, release).start()
        try:
            rows = await reader.all(query)
            return [r.id for r in rows], ticks
        finally:
            ticker.cancel()
            await reader.close()

    started = time.monotonic()
    ids, ticks = asyncio.run(read())
    assert ids == [1, 2, 3]
    assert threads == ["_fetch_waiting"]  # the busy read went to a thread, once
    assert time.monotonic() - started >= 0.45  # it did wait for the writer
    assert ticks >= 20  # and the loop ran on meanwhile (a read waiting on the loop would have frozen it)
