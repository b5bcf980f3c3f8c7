"""The per-request session: commits, rollbacks, and no stall or leaked connection under bursts."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel
from sqlalchemy import Engine, text

from shared.db import SessionDep, make_engine, make_session_factory, service_router

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Answer(BaseModel):
    value: int


@pytest.fixture(params=["one_hop", "fastapi"])
def routes(request: pytest.FixtureRequest) -> str:
    """The services' routers (sync endpoints in one hop, shared.db.OneHopRoute) and FastAPI's own."""
    return str(request.param)


def _app(engine: Engine, pool_size: int, routes: str = "one_hop") -> FastAPI:
    app = FastAPI()
    app.state.session_factory = make_session_factory(engine)
    app.state.settings = SimpleNamespace(db_pool_size=pool_size)
    router = service_router() if routes == "one_hop" else APIRouter()

    @router.get("/hold", response_model=Answer)
    def hold(session: SessionDep) -> dict[str, Any]:
        value = session.execute(text("SELECT 1")).scalar_one()
        time.sleep(0.02)  # keep the connection busy like a real query would
        return {"value": value}

    @router.post("/write/{n}", response_model=Answer)
    def write(n: int, session: SessionDep) -> dict[str, int]:
        session.execute(text("INSERT INTO t (n) VALUES (:n)"), {"n": n})
        if n < 0:
            raise ValueError("rolled back")
        return {"value": n}

    app.include_router(router)
    return app


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    # A pool far smaller than anyio's 40 worker threads, and no overflow: the shape that used to stall.
    eng = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}", pool_size=2, max_overflow=0, pool_timeout=10)
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    yield eng
    eng.dispose()


async def test_a_burst_far_beyond_the_pool_completes_and_returns_every_connection(engine: Engine, routes: str) -> None:
    app = _app(engine, pool_size=2, routes=routes)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=30) as client:
        answers = await asyncio.gather(*(client.get("/hold") for _ in range(80)))
    # Without permits, endpoint threads waiting for a connection held every worker thread while the
    # requests owning the connections waited for one to validate their response: they stalled until
    # pool_timeout and failed (500). No timing here: a stall shows as those failures.
    assert [r.status_code for r in answers] == [200] * 80
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_commit_on_success_and_rollback_on_error(engine: Engine, routes: str) -> None:
    app = _app(engine, pool_size=2, routes=routes)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.post("/write/1")).status_code == 200
        assert (await client.post("/write/-1")).status_code == 500
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM t")).scalars().all() == [1]
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_cancelled_request_gives_its_connection_back(engine: Engine, routes: str) -> None:
    app = _app(engine, pool_size=2, routes=routes)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:

        async def give_up_early() -> None:
            with anyio.move_on_after(0.03):  # cancelled mid-endpoint, mid-commit or while queued
                await client.get("/hold")

        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(give_up_early)
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        assert (await client.get("/hold")).status_code == 200


async def test_a_sync_endpoint_and_its_commit_take_one_thread_hop(engine: Engine, monkeypatch: pytest.MonkeyPatch,
                                                                  routes: str) -> None:
    """FastAPI runs a sync endpoint, validates its answer and commits its session in three worker-thread hops;
    the services' routes (OneHopRoute) take one, with the commit in it: committed before the answer."""
    hops: list[str] = []
    real = anyio.to_thread.run_sync

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(func, "__name__", repr(func)))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    app = _app(engine, pool_size=2, routes=routes)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.post("/write/7")
    assert r.status_code == 200 and r.json() == {"value": 7}
    assert len(hops) == (1 if routes == "one_hop" else 3), hops
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM t")).scalars().all() == [7]
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
