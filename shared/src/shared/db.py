"""Database helpers: declarative bases, engines, the per-request session and migrations."""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
import re
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from anyio import CancelScope, CapacityLimiter, Semaphore, to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy import DateTime, Engine, MetaData, bindparam, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator
from starlette.concurrency import run_in_threadpool

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def dialect_insert(session: Session, table: Any) -> Any:
    """An INSERT with `on_conflict_do_update`/`_do_nothing` for the session's database (PostgreSQL or SQLite).

    Upserts and insert-unless-present are one statement on both, so concurrent writers serialise on the row.
    """
    return insert_for(session.get_bind().dialect.name, table)


def bound_values(table: Any, columns: Iterable[str]) -> dict[str, Any]:
    """`.values()` of a statement built once and run many times: each column bound as `v_<column>` (with its
    type, so its bind processing applies); `bound(row)` gives the matching parameters."""
    return {c: bindparam(f"v_{c}", type_=table.c[c].type) for c in columns}


def bound(row: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of `bound_values` for one row."""
    return {f"v_{k}": v for k, v in row.items()}


def insert_for(dialect: str, table: Any) -> Any:
    """`dialect_insert` by the dialect's name (for statements built once and cached per dialect)."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"upserts need PostgreSQL or SQLite, not {dialect}")


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 UTC with a trailing Z (the contract's time format)."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


class UTCDateTime(TypeDecorator[datetime]):
    """A DateTime that always comes back timezone-aware UTC (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_base() -> type[DeclarativeBase]:
    """A fresh declarative base with its own MetaData, so services never share tables."""

    class Base(DeclarativeBase):
        metadata = MetaData(naming_convention=NAMING_CONVENTION)
        type_annotation_map = {datetime: UTCDateTime()}

    return Base


#: SQLite waits this long for another connection's write lock before "database is locked".
SQLITE_BUSY_TIMEOUT_S = 15.0
#: Execution option naming how a transaction begins on SQLite: "IMMEDIATE" (the default) or "DEFERRED".
SQLITE_BEGIN = "sqlite_begin"


_GATES: dict[str, threading.Lock] = {}
_GATES_LOCK = threading.Lock()


class _GatedConnection(sqlite3.Connection):
    """A pysqlite connection whose write transactions pass one per-process gate per database file.

    SQLite's own wait for the write lock is a busy handler that polls with growing sleeps (up to 100 ms a
    try): under a steady stream of writers a transaction that has waited longest sleeps longest and newer
    ones take the lock first (the embedded mix's writes had p99s of 2.6-3.1 s). The writers of one process
    (request threads, the event consumer, the outbox relay) instead queue on a lock that hands over as soon
    as the holder commits or rolls back; writers in other processes still meet through SQLite's busy wait.
    """

    gate: threading.Lock | None = None
    gate_timeout_s = SQLITE_BUSY_TIMEOUT_S
    holds_gate = False

    def enter_gate(self) -> None:
        # a writer that cannot have the gate in time (one that nests a second write transaction in its own
        # thread, say) goes on to SQLite's busy wait, exactly as without the gate
        if self.gate is not None and not self.holds_gate:
            self.holds_gate = self.gate.acquire(timeout=self.gate_timeout_s)

    def _leave_gate(self) -> None:
        if self.holds_gate:
            self.holds_gate = False
            assert self.gate is not None
            self.gate.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._leave_gate()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._leave_gate()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._leave_gate()


def _gated(dbapi_conn: Any) -> _GatedConnection:
    return dbapi_conn if isinstance(dbapi_conn, _GatedConnection) else _UNGATED


class _Ungated:
    def enter_gate(self) -> None:
        return None


_UNGATED: Any = _Ungated()


def _write_gate(database: str | None) -> threading.Lock | None:
    """The process's gate for one database file (none for an in-memory database)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    key = os.path.realpath(database)
    with _GATES_LOCK:
        return _GATES.setdefault(key, threading.Lock())


def _sqlite_pragmas(busy_timeout_s: float, gate: threading.Lock | None) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite must not issue its own BEGINs: _sqlite_begin does, with the lock mode the work needs
        dbapi_conn.isolation_level = None
        if isinstance(dbapi_conn, _GatedConnection):
            dbapi_conn.gate_timeout_s = busy_timeout_s
            dbapi_conn.gate = gate
        cur = dbapi_conn.cursor()
        # WAL lets readers run while one connection writes; busy_timeout waits instead of failing at once.
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return on_connect


def _sqlite_begin(conn: Any) -> None:
    # A unit of work that may write takes the write lock at BEGIN (IMMEDIATE): a read-then-write transaction
    # that began DEFERRED fails at once ("database is locked", SQLITE_BUSY_SNAPSHOT) when another connection
    # committed since its read, whatever the busy timeout. Read-only work (a GET request) begins DEFERRED:
    # under WAL it takes no lock at all, so a slow read (one waiting on a peer service) never holds up writers.
    mode = conn.get_execution_options().get(SQLITE_BEGIN, "IMMEDIATE")
    if mode == "DEFERRED":
        conn.exec_driver_sql("BEGIN DEFERRED")
        return
    _gated(conn.connection.dbapi_connection).enter_gate()
    conn.exec_driver_sql("BEGIN IMMEDIATE")


_WRITE_SQL = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
_upgraded_key = "shared_sqlite_upgraded"


def _sqlite_write_after_read(conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
    # The first write of a DEFERRED (read-only) transaction: writing on its read snapshot would fail at once
    # if another connection committed since ("database is locked", SQLITE_BUSY_SNAPSHOT). End the read
    # transaction (it wrote nothing) and begin IMMEDIATE, which waits for the write lock like any writer.
    # The reads before it then behave as under PostgreSQL's read committed.
    if conn.get_execution_options().get(SQLITE_BEGIN) != "DEFERRED" or not _WRITE_SQL.match(statement):
        return
    txn = conn.get_transaction()
    if txn is None or conn.info.get(_upgraded_key) is txn:
        return
    cursor.connection.execute("COMMIT")
    _gated(cursor.connection).enter_gate()
    cursor.connection.execute("BEGIN IMMEDIATE")
    conn.info[_upgraded_key] = txn  # this transaction only: the next one begins DEFERRED again


def make_engine(url: str, *, sqlite_busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_S, **kw: Any) -> Engine:
    """An engine with sane pool and SQLite settings."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    elif url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgres://")
    if url.startswith("sqlite"):
        connect_args = {"check_same_thread": False, "timeout": sqlite_busy_timeout_s, "factory": _GatedConnection}
        engine = create_engine(url, connect_args=connect_args, **kw)
        gate = _write_gate(engine.url.database)
        event.listen(engine, "connect", _sqlite_pragmas(sqlite_busy_timeout_s, gate))
        event.listen(engine, "begin", _sqlite_begin)
        event.listen(engine, "before_cursor_execute", _sqlite_write_after_read)
        return engine
    if "poolclass" not in kw:
        kw.setdefault("pool_size", 10)
        kw.setdefault("max_overflow", 20)
    kw.setdefault("pool_pre_ping", True)
    kw.setdefault("pool_recycle", 1800)
    return create_engine(url, **kw)


def read_only_bind(engine: Engine) -> Engine:
    """The engine for read-only units of work: on SQLite they begin DEFERRED (no lock under WAL) and take the
    write lock only at their first write, if any."""
    if engine.dialect.name != "sqlite":
        return engine
    return engine.execution_options(**{SQLITE_BEGIN: "DEFERRED"})


def make_session_factory(engine: Engine, outbox: Any = None) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit and know their service's outbox."""
    # close_resets_only=False: a closed session refuses further use instead of quietly taking a new
    # connection (a request cancelled mid-endpoint is closed while its thread may still run).
    return sessionmaker(
        bind=engine, expire_on_commit=False, autoflush=True, close_resets_only=False, info={"outbox": outbox}
    )


AfterCommit = Callable[[], None]
_after_commit_key = "shared_after_commit"


def after_commit(session: Session, fn: AfterCommit) -> None:
    """Run `fn` once this session's transaction has committed (dropped on rollback)."""
    hooks: list[AfterCommit] = session.info.setdefault(_after_commit_key, [])
    if not hooks:

        @event.listens_for(session, "after_commit", once=True)
        def _run(sess: Session) -> None:
            pending = sess.info.pop(_after_commit_key, [])
            for hook in pending:
                try:
                    hook()
                except Exception:  # a failing hook must not turn a committed request into an error
                    import logging

                    logging.getLogger("shared.db").exception("after-commit hook failed")

        @event.listens_for(session, "after_rollback", once=True)
        def _drop(sess: Session) -> None:
            sess.info.pop(_after_commit_key, None)

    hooks.append(fn)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work for workers and consumers: commit on success, roll back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _finish(session: Session, exc: BaseException | None) -> None:
    try:
        if exc is None or getattr(exc, "commit_changes", False):
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def try_transaction_lock(session: Session, name: str) -> bool:
    """Take a named lock until this transaction ends, without waiting; False if another process holds it.

    PostgreSQL: an advisory transaction lock. SQLite: always True, since its transactions start with
    BEGIN IMMEDIATE and so already run one writer at a time.
    """
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _lock_key(name)}).scalar())


@contextmanager
def process_lock(engine: Engine, name: str) -> Iterator[bool]:
    """Hold a named lock across transactions while the block runs (yields False if another process has it).

    For long housekeeping jobs that several replicas schedule: one runs, the others skip. PostgreSQL session
    advisory lock on a connection kept outside any transaction; other databases always yield True.
    """
    if engine.dialect.name != "postgresql":
        yield True
        return
    key = _lock_key(name)
    with engine.connect() as conn:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()  # the lock outlives the transaction; do not sit idle in one
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()


_READ_METHODS = frozenset({"GET", "HEAD"})


def _read_bind(state: Any, factory: sessionmaker[Session]) -> Engine | None:
    """The factory's engine for read-only requests (cached per app and factory)."""
    cached = getattr(state, "db_read_bind", None)
    if cached is None or cached[0] is not factory:
        bind = factory.kw.get("bind")
        cached = state.db_read_bind = (factory, read_only_bind(bind) if isinstance(bind, Engine) else bind)
    return cached[1]


async def session_dependency(request: Request) -> AsyncIterator[Session]:
    """One session per request, committed when the endpoint returns, rolled back on error.

    An error flagged `commit_changes` (e.g. a failed-attempt counter, a revoked token family) is
    committed before it is rendered, so the security state it recorded survives the error response.

    A request first takes one of `db_pool_size` permits, on the event loop. The session keeps its
    connection until FastAPI has also validated the response, which for a sync endpoint is another
    worker-thread hop; without permits, endpoint threads waiting for a pooled connection could hold every
    worker thread while the requests holding the connections wait for one (a stall until pool_timeout).
    With permits no endpoint ever waits for the pool, and requests beyond it queue without a thread.
    GET and HEAD requests are read-only units of work (`read_only_bind`: on SQLite no lock is taken).
    Opening a session does no I/O, so it happens on the loop; the commit and close run in one shielded
    hop with its own limiter, so a client that goes away cannot leave a connection checked out.
    """
    state = request.app.state
    permits: Semaphore | None = getattr(state, "db_permits", None)
    if permits is None:
        size = getattr(getattr(state, "settings", None), "db_pool_size", 10)
        permits = state.db_permits = Semaphore(size)
    factory: sessionmaker[Session] = state.session_factory
    async with permits:
        session = factory(bind=_read_bind(state, factory)) if request.method in _READ_METHODS else factory()
        try:
            yield session
        except BaseException as exc:
            with CancelScope(shield=True):
                await to_thread.run_sync(_finish, session, exc, limiter=CapacityLimiter(1))
            raise
        if not session.in_transaction():
            session.close()  # committed in the endpoint's own thread (OneHopRoute): closing it does no I/O
            return
        with CancelScope(shield=True):
            await to_thread.run_sync(_finish, session, None, limiter=CapacityLimiter(1))


# scope="function": commit before the response is sent, so a failed commit is never reported as success.
SessionDep = Annotated[Session, Depends(session_dependency, scope="function")]


def _run_then_commit(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    result = fn(*args, **kwargs)
    for value in kwargs.values():
        if isinstance(value, Session) and value.in_transaction():
            value.commit()  # before the response is built: a failed commit is never reported as success
    return result


def one_hop(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A synchronous endpoint as one worker-thread call that also commits its request session.

    FastAPI runs a sync endpoint in a worker thread, then validates its answer in another (for a sync
    endpoint), then the session dependency commits and closes in a third: three hand-offs to a thread and
    back at ~0.1 ms of CPU each, as much as the work of a small endpoint. Here the endpoint and the commit
    share one; the answer is validated on the loop and the committed session closed there (no I/O left).
    """

    @functools.wraps(fn)
    async def endpoint(*args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(_run_then_commit, fn, args, kwargs)

    return endpoint


class OneHopRoute(APIRoute):
    """An APIRoute whose synchronous endpoint runs in one worker-thread hop (`one_hop`)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint) and inspect.isfunction(endpoint):
            endpoint = one_hop(endpoint)
        super().__init__(path, endpoint, **kwargs)


def service_router(**kwargs: Any) -> APIRouter:
    """An APIRouter of a service: its synchronous endpoints run in one hop (`OneHopRoute`)."""
    kwargs.setdefault("route_class", OneHopRoute)
    return APIRouter(**kwargs)


_migrate_lock = threading.Lock()


def run_migrations(package: str, url: str, revision: str = "head") -> None:
    """`alembic upgrade head` for a service whose migrations live in `<package>/migrations`."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", f"{package}:migrations")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logging"] = False
    with _migrate_lock:
        command.upgrade(cfg, revision)


def downgrade_migrations(package: str, url: str, revision: str = "base") -> None:
    """`alembic downgrade` (used by the migration round-trip tests)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", f"{package}:migrations")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logging"] = False
    with _migrate_lock:
        command.downgrade(cfg, revision)
