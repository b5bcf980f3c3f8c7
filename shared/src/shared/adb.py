"""Async reads for hot routes: SQL compiled once per dialect, run on asyncpg (PostgreSQL) or on the loop (SQLite).

The request session (shared.db) is synchronous: an endpoint using it costs a worker-thread hop or two and
SQLAlchemy's per-execution work (statement cache lookup, result metadata, row objects). A read that runs on
every page view needs none of that: `Query` compiles a Core statement once per dialect into driver SQL with
its parameter order, bind and result processors (the same type conversions SQLAlchemy would apply, e.g. dates
stored as text in SQLite, UTC-aware timestamps), and `AsyncReader` runs it on the event loop over a pool.

Statements use named `bindparam`s for everything that varies per request; constants compiled into the
statement (literals such as `visibility == 'public'`) keep their compiled value. Writes stay on the
synchronous session: this is for reads only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections import namedtuple
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.sql import ClauseElement

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class Compiled:
    """One statement as one dialect's driver runs it."""

    sql: str
    names: tuple[str, ...]
    defaults: dict[str, Any]
    binds: dict[str, Processor]
    results: tuple[Processor, ...]
    row_type: Any

    def args(self, params: dict[str, Any]) -> list[Any]:
        """Positional driver arguments from named parameters (constants from the statement itself)."""
        out = []
        for name in self.names:
            value = params[name] if name in params else self.defaults[name]
            proc = self.binds.get(name)
            out.append(proc(value) if proc is not None and value is not None else value)
        return out

    def row(self, record: Sequence[Any]) -> Any:
        """A named row (attribute access like SQLAlchemy's Row) with result types applied."""
        if not any(self.results):
            return self.row_type._make(record)
        return self.row_type._make(
            [p(v) if p is not None else v for p, v in zip(self.results, record, strict=True)]
        )


def _dialect(name: str) -> Dialect:
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql.asyncpg import dialect as pg

        return pg()  # type: ignore[no-untyped-call]
    from sqlalchemy.dialects.sqlite.pysqlite import dialect as sqlite

    return sqlite()  # type: ignore[no-untyped-call]


def _result_processor(type_: Any, dialect: Dialect) -> Processor:
    try:
        return type_.dialect_impl(dialect).result_processor(dialect, None)  # type: ignore[no-any-return]
    except TypeError:
        # asyncpg's float/numeric processors want the column's type OID; the driver returns Python floats
        # for float columns already (the only numeric kind read here)
        return None


class Query:
    """A Core statement compiled lazily, once per dialect."""

    def __init__(self, stmt: ClauseElement) -> None:
        self.stmt = stmt
        self._compiled: dict[str, Compiled] = {}

    def compiled(self, dialect_name: str) -> Compiled:
        """The driver form for `postgresql` or `sqlite`."""
        hit = self._compiled.get(dialect_name)
        if hit is not None:
            return hit
        dialect = _dialect(dialect_name)
        comp = self.stmt.compile(dialect=dialect)
        names = tuple(comp.positiontup or ())
        binds = {}
        for name in names:
            bp = comp.binds[name]
            binds[name] = bp.type.dialect_impl(dialect).bind_processor(dialect)
        cols = list(getattr(self.stmt, "selected_columns", []))
        keys = [c.key or f"c{i}" for i, c in enumerate(cols)]
        results = tuple(_result_processor(c.type, dialect) for c in cols)
        row_type = namedtuple("Row", keys, rename=True)  # type: ignore[misc]
        hit = Compiled(str(comp), names, dict(comp.params), binds, results, row_type)
        self._compiled[dialect_name] = hit
        return hit


class AsyncReader:
    """A pool of read connections for one database URL (the service's DATABASE_URL)."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        parsed = make_url(url)
        self.dialect = "postgresql" if parsed.get_backend_name() == "postgresql" else "sqlite"
        self._url = parsed
        self._size = max(pool_size, 1)
        self._pool: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening = asyncio.Lock()
        self.info: dict[str, Any] = {}  # what callers cache per database (e.g. a token read once)

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        if self._pool is not None and self._loop is loop:
            return
        if self._loop is not loop:
            self._opening = asyncio.Lock()  # a lock belongs to its loop (tests run apps on several)
        async with self._opening:
            if self._pool is not None and self._loop is loop:
                return
            self._pool = await (_pg_pool(self._url, self._size) if self.dialect == "postgresql"
                                else _SqlitePool.open(self._url.database or "", min(self._size, 4)))
            self._loop = loop

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Bound]:
        """One pooled connection for several queries (one checkout instead of one per query)."""
        if self._pool is None or self._loop is not asyncio.get_running_loop():
            await self._open()
        async with self._pool.acquire() as conn:
            yield Bound(conn, self.dialect)

    async def all(self, query: Query, **params: Any) -> list[Any]:
        """Every row of a query."""
        async with self.connection() as conn:
            return await conn.all(query, **params)

    async def first(self, query: Query, **params: Any) -> Any | None:
        """The first row, or None."""
        rows = await self.all(query, **params)
        return rows[0] if rows else None

    async def close(self) -> None:
        """Close the pool (on the loop that opened it)."""
        pool, self._pool = self._pool, None
        if pool is not None and self._loop is asyncio.get_running_loop():
            await pool.close()


class Bound:
    """A checked-out connection with the reader's query methods."""

    def __init__(self, conn: Any, dialect: str) -> None:
        self.conn = conn
        self.dialect = dialect

    async def all(self, query: Query, **params: Any) -> list[Any]:
        """Every row of a query."""
        c = query.compiled(self.dialect)
        return [c.row(r) for r in await self.conn.fetch(c.sql, *c.args(params))]

    async def first(self, query: Query, **params: Any) -> Any | None:
        """The first row, or None."""
        rows = await self.all(query, **params)
        return rows[0] if rows else None

    async def scalar(self, query: Query, **params: Any) -> Any:
        """The first column of the first row (None without rows)."""
        rows = await self.all(query, **params)
        return rows[0][0] if rows else None


async def _pg_pool(url: Any, size: int) -> Any:
    import asyncpg

    async def init(conn: Any) -> None:
        # JSON columns come back decoded, as SQLAlchemy's psycopg dialect returns them
        for typ in ("json", "jsonb"):
            await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")

    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    async def keep(conn: Any) -> None:
        # asyncpg resets a released connection with a round trip (advisory locks, listeners, settings);
        # these connections only ever run plain SELECTs, so there is nothing to reset
        return None

    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=size, init=init, reset=keep)
    return _PgPool(pool)


class _PgPool:
    def __init__(self, pool: Any) -> None:
        self.pool = pool

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        async with self.pool.acquire() as conn:
            yield conn

    async def close(self) -> None:
        await self.pool.close()


class _SqliteConn:
    """A read-only SQLite connection queried on the event loop, with asyncpg's `fetch(sql, *args)`.

    Under WAL a reader takes no lock and never waits for a writer, and these reads are index lookups of a
    fraction of a millisecond: running them on the loop costs less than handing each to a thread and back
    (aiosqlite did: ~0.1 ms of CPU per query, two to four queries per page view across the services). The
    rare moment SQLite answers "busy" to a reader (a WAL reset or recovery in progress) is not waited for on
    the loop: that query runs again in a worker thread on a connection that waits up to the busy timeout.
    """

    def __init__(self, path: str, busy_timeout_s: float) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self.conn = self._connect(0.0)

    def _connect(self, timeout_s: float) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
        conn.execute("PRAGMA query_only=ON")
        return conn

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
        return await asyncio.to_thread(self._fetch_waiting, sql, args)

    def _fetch_waiting(self, sql: str, args: Sequence[Any]) -> list[Any]:
        conn = self._connect(self.busy_timeout_s)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def close(self) -> None:
        self.conn.close()


class _SqlitePool:
    """A few SQLite read connections; WAL lets them read while a writer works."""

    def __init__(self, conns: list[_SqliteConn]) -> None:
        self.conns = conns
        self.free: asyncio.Queue[_SqliteConn] = asyncio.Queue()
        for c in conns:
            self.free.put_nowait(c)

    @classmethod
    async def open(cls, path: str, size: int, busy_timeout_s: float = 15.0) -> _SqlitePool:
        return cls([_SqliteConn(path, busy_timeout_s) for _ in range(max(size, 1))])

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[_SqliteConn]:
        conn = await self.free.get()
        try:
            yield conn
        finally:
            self.free.put_nowait(conn)

    async def close(self) -> None:
        for c in self.conns:
            c.close()
