"""The media service app factory and its command-line entry points."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from media.clients import HttpShowsAccess, ShowsAccess
from media.config import MediaSettings, get_settings
from media.consumers import make_handlers
from media.db import outbox
from media.queueing import CeleryEnqueuer, Sweeper
from media.router import dashboard_router, internal_router, me_router, router
from media.service import Enqueue
from media.storage import Storage, make_storage
from shared.app import create_service_app, run_uvicorn
from shared.auth import TokenVerifier
from shared.db import make_engine, make_session_factory, run_migrations
from shared.ratelimit import make_rate_limiter


def create_app(
    settings: MediaSettings | None = None,
    *,
    token_verifier: TokenVerifier | None = None,
    shows: ShowsAccess | None = None,
    storage: Storage | None = None,
    enqueue: Enqueue | None = None,
) -> FastAPI:
    """Build the media app (routes, storage, shows access, task publishing, sweep, relay and consumer)."""
    settings = settings or get_settings()
    engine = make_engine(settings.db_url, **settings.engine_options)
    session_factory = make_session_factory(engine, outbox)
    store = storage if storage is not None else make_storage(settings)
    http_shows = HttpShowsAccess(settings) if shows is None else None
    enqueuer: CeleryEnqueuer | None = None
    if enqueue is None:
        from media.worker import make_app

        enqueuer = CeleryEnqueuer(make_app(settings), session_factory)
        enqueue = enqueuer
    sweeper = Sweeper(session_factory, enqueuer.send if enqueuer else enqueue, settings)  # type: ignore[arg-type]

    def _start(_: FastAPI) -> None:
        if settings.sweep_enabled:
            sweeper.start()

    def _close(_: FastAPI) -> None:
        if sweeper.is_alive():
            sweeper.stop()
        if enqueuer is not None:
            enqueuer.close()
        if http_shows is not None:
            http_shows.close()
        engine.dispose()

    def _storage_ready() -> None:
        store.check()

    app = create_service_app(
        settings,
        title="ShareMyShows media",
        description="Photos, audio and video of shows: streaming uploads, processing state, range streaming.",
        routers=[router, dashboard_router, me_router, internal_router],
        session_factory=session_factory,
        outbox=outbox,
        handlers=make_handlers(lambda: store),
        token_verifier=token_verifier,
        ready_checks={"storage": _storage_ready},
        body_limits=settings.upload_body_limits(),
        on_startup=[_start],
        on_shutdown=[_close],
    )
    state: Any = app.state
    state.engine = engine
    state.storage = store
    state.shows = shows if shows is not None else http_shows
    state.enqueue = enqueue
    state.sweeper = sweeper
    state.upload_limiter = make_rate_limiter(settings.redis_url or None)
    return app


def main() -> None:
    """Run the service with uvicorn (HOST/PORT)."""
    run_uvicorn("media.main:create_app", get_settings())


def migrate() -> None:
    """`alembic upgrade head` on DATABASE_URL."""
    run_migrations("media", get_settings().db_url)
