"""SQLite under concurrent requests: no "database is locked" from a slow reader or from two writers.

The embedded mode runs every service on SQLite. Two failures seen under the mixed load (bench/mix.py):
a GET holding the write lock while it waited for a peer service (every transaction began IMMEDIATE), so
writers timed out behind it; and a read-then-write transaction begun DEFERRED, which fails at once when
another connection committed in between, whatever the busy timeout. A short busy timeout makes both show
in a fraction of a second.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from shared.db import SessionDep, make_engine, make_session_factory, read_only_bind

BUSY_S = 0.3


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}", sqlite_busy_timeout_s=BUSY_S, pool_size=4)
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    yield eng
    eng.dispose()


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM t")).scalar_one())


def test_a_slow_read_only_request_does_not_block_a_writer(engine: Engine) -> None:
    """A GET that read and now waits (for a peer, say) holds no lock: a POST writes meanwhile."""
    app = FastAPI()
    app.state.session_factory = make_session_factory(engine)
    app.state.settings = SimpleNamespace(db_pool_size=4)
    reading, release = threading.Event(), threading.Event()

    @app.get("/dashboard")
    def dashboard(session: SessionDep) -> dict[str, Any]:
        n = session.execute(text("SELECT count(*) FROM t")).scalar_one()
        reading.set()
        release.wait(5)  # the peer call; the transaction stays open meanwhile
        return {"n": n}

    @app.post("/write")
    def write(session: SessionDep) -> dict[str, Any]:
        session.execute(text("INSERT INTO t (n) VALUES (1)"))
        return {}

    async def scenario() -> tuple[int, int]:
        import asyncio

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            slow = asyncio.create_task(client.get("/dashboard"))
            await asyncio.to_thread(reading.wait, 5)
            try:
                posted = await client.post("/write")  # failed after BUSY_S with IMMEDIATE reads
            finally:
                release.set()
            return posted.status_code, (await slow).status_code

    import anyio

    assert anyio.run(scenario) == (200, 200)
    assert _count(engine) == 1


def test_two_read_then_write_transactions_both_commit(engine: Engine) -> None:
    """Writers begin IMMEDIATE: the second waits for the first instead of failing on a stale snapshot."""
    factory = make_session_factory(engine)
    first_read, errors = threading.Event(), []

    def second() -> None:
        first_read.wait(5)
        try:
            with factory() as s:
                n = s.execute(text("SELECT count(*) FROM t")).scalar_one()
                s.execute(text("INSERT INTO t (n) VALUES (:n)"), {"n": n})
                s.commit()
        except OperationalError as exc:  # pragma: no cover - the failure this test guards against
            errors.append(exc)

    worker = threading.Thread(target=second)
    worker.start()
    with factory() as s:
        n = s.execute(text("SELECT count(*) FROM t")).scalar_one()
        first_read.set()
        worker.join(BUSY_S / 3)  # the second transaction is waiting for the write lock meanwhile
        s.execute(text("INSERT INTO t (n) VALUES (:n)"), {"n": n})
        s.commit()
    worker.join(5)
    assert not errors
    assert _count(engine) == 2


def test_a_read_only_request_that_writes_waits_for_the_lock_like_a_writer(engine: Engine) -> None:
    """A GET that writes (a summary built on first use, expired rows swept) after another connection committed
    since its read: the first write ends the read transaction and takes the write lock instead of failing."""
    factory = make_session_factory(engine)
    with factory(bind=read_only_bind(engine)) as s:
        s.execute(text("SELECT count(*) FROM t")).scalar_one()
        with engine.begin() as other:
            other.execute(text("INSERT INTO t (n) VALUES (1)"))
        s.execute(text("INSERT INTO t (n) VALUES (2)"))
        s.execute(text("UPDATE t SET n = n + 10 WHERE n = 2"))
        s.commit()
    assert _count(engine) == 2
    with factory(bind=read_only_bind(engine)) as s:  # the next transaction on that connection reads without a lock
        s.execute(text("SELECT count(*) FROM t")).scalar_one()
        with engine.begin() as other:
            other.execute(text("INSERT INTO t (n) VALUES (3)"))
        s.rollback()
    assert _count(engine) == 3


def _gate(engine: Engine) -> threading.Lock:
    from shared.db import _write_gate

    gate = _write_gate(engine.url.database)
    assert gate is not None
    return gate


def test_writers_of_one_process_queue_on_the_gate_and_every_ending_lets_it_go(engine: Engine) -> None:
    """A write transaction holds the process's gate for its database from BEGIN to its end, whatever the end:
    commit, rollback, an error in a unit of work, a session closed without either (the pool's reset), or a
    read-only transaction's first write. A gate left held would stall every later writer of the process."""
    from shared.db import session_scope

    factory = make_session_factory(engine)
    gate = _gate(engine)
    for end in ("commit", "rollback", "close"):
        s = factory()
        s.execute(text("INSERT INTO t (n) VALUES (1)"))
        assert gate.locked()
        getattr(s, end)()
        if end != "close":
            s.close()
        assert not gate.locked(), end
    with pytest.raises(RuntimeError), session_scope(factory) as s:
        s.execute(text("INSERT INTO t (n) VALUES (2)"))
        raise RuntimeError("the handler failed")
    assert not gate.locked()
    with factory(bind=read_only_bind(engine)) as s:
        s.execute(text("SELECT count(*) FROM t")).scalar_one()
        assert not gate.locked()  # a read takes no lock, and no gate
        s.execute(text("INSERT INTO t (n) VALUES (3)"))
        assert gate.locked()
        s.commit()
    assert not gate.locked()
    assert _count(engine) == 2  # the committed first row and the read-only transaction's write


def test_a_second_writer_waits_on_the_gate_and_goes_on_at_the_commit(engine: Engine) -> None:
    """The second writer of the process waits on the gate (not in SQLite's busy polling) and writes after."""
    factory = make_session_factory(engine)
    gate = _gate(engine)
    order: list[str] = []
    first = factory()
    first.execute(text("INSERT INTO t (n) VALUES (1)"))

    def second() -> None:
        with factory() as s:
            s.execute(text("INSERT INTO t (n) VALUES (2)"))
            order.append("second")
            s.commit()

    worker = threading.Thread(target=second)
    worker.start()
    worker.join(BUSY_S / 3)
    assert worker.is_alive() and gate.locked()
    order.append("first")
    first.commit()
    first.close()
    worker.join(5)
    assert order == ["first", "second"]
    assert not gate.locked()
