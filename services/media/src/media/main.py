"""The media service app factory and its command-line entry points."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from media.clients import HttpShowsAccess, ShowsAccess
from media.concerts import ConcertFacts, HttpConcertFacts
from media.config import MediaSettings, get_settings
from media.consumers import make_show_applier, make_subscriptions
from media.db import outbox
from media.queueing import OutboxEnqueue, Sweeper
from media.router import dashboard_router, internal_router, me_router, router, uploads_router
from media.router_album import album_router
from media.router_filing import library_router
from media.service import Enqueue
from media.shared_photos import share_router
from media.storage import Storage, make_storage
from media.tus import Hashers, Locks
from shared.adb import AsyncReader
from shared.app import create_service_app, run_uvicorn
from shared.auth import TokenVerifier
from shared.copies import CopySpec, Reconciler
from shared.db import make_engine, make_session_factory, run_migrations
from shared.internal import InternalClient
from shared.outbox import TaskSender, celery_task_sender
from shared.ratelimit import make_rate_limiter


def create_app(
    settings: MediaSettings | None = None,
    *,
    token_verifier: TokenVerifier | None = None,
    shows: ShowsAccess | None = None,
    storage: Storage | None = None,
    enqueue: Enqueue | None = None,
    concerts: ConcertFacts | None = None,
) -> FastAPI:
    """Build the media app (routes, storage, shows access, task publishing, sweep, relay and consumer)."""
    settings = settings or get_settings()
    engine = make_engine(settings.db_url, **settings.engine_options)
    session_factory = make_session_factory(engine, outbox)
    store = storage if storage is not None else make_storage(settings)
    http_shows = HttpShowsAccess(settings) if shows is None else None
    http_concerts = HttpConcertFacts(settings) if concerts is None else None
    task_sender: TaskSender | None = None
    if enqueue is None:  # tasks ride the outbox; its relay publishes them through the worker's Celery app
        from media.worker import make_app

        enqueue = OutboxEnqueue(outbox)
        task_sender = celery_task_sender(make_app(settings))
    sweeper = Sweeper(session_factory, enqueue, settings, store)
    shows_internal = InternalClient(settings.shows_url, settings.internal_token, service="shows",
                                    timeout_s=settings.internal_timeout_s)
    # the show copy (names, and tombstones that purge media of deleted shows) repaired from shows
    reconciler = Reconciler(
        "media", session_factory, {"shows": shows_internal},
        [("shows", CopySpec("shows", "/internal/snapshot/shows", make_show_applier(lambda: store)))],
        interval_s=settings.copy_reconcile_interval_s,
    )

    # the hot internal reads (a show's media, a user's counts) on the event loop (media.readpath)
    reader = AsyncReader(settings.db_url, pool_size=settings.db_read_pool_size)

    def _start(_: FastAPI) -> None:
        if settings.sweep_enabled:
            sweeper.start()

    async def _close_async(_: FastAPI) -> None:
        await reader.close()

    def _close(_: FastAPI) -> None:
        if sweeper.is_alive():
            sweeper.stop()
        if http_shows is not None:
            http_shows.close()
        if http_concerts is not None:
            http_concerts.close()
        shows_internal.close()
        engine.dispose()

    def _storage_ready() -> None:
        store.check()

    app = create_service_app(
        settings,
        title="ShareMyShows media",
        description="Photos, audio and video of shows: streaming uploads, processing state, range streaming.",
        # the most-asked first: every show detail and dashboard asks media's internal reads (shared.app)
        routers=[internal_router, album_router, router, uploads_router, dashboard_router, me_router, library_router,
                 share_router],
        session_factory=session_factory,
        outbox=outbox,
        subscriptions=make_subscriptions(lambda: store),
        reconciler=reconciler,
        token_verifier=token_verifier,
        ready_checks={"storage": _storage_ready},
        body_limits=settings.upload_body_limits(),
        on_startup=[_start],
        on_shutdown=[_close_async, _close],
        task_sender=task_sender,
    )
    state: Any = app.state
    state.engine = engine
    state.reader = reader
    state.storage = store
    state.shows = shows if shows is not None else http_shows
    state.concerts = concerts if concerts is not None else http_concerts
    state.enqueue = enqueue
    state.sweeper = sweeper
    state.upload_limiter = make_rate_limiter(settings.redis_url or None)
    state.tus_hashers = Hashers()
    state.tus_locks = Locks()
    return app


def main() -> None:
    """Run the service with uvicorn (HOST/PORT)."""
    run_uvicorn("media.main:create_app", get_settings())


def migrate() -> None:
    """`alembic upgrade head` on DATABASE_URL."""
    run_migrations("media", get_settings().db_url)


def storage_setup() -> None:
    """`media-storage-setup`: the bucket lifecycle rule that aborts unfinished multipart uploads (S3 only).

    The media service's own storage sweep aborts them too; the rule is the server-side safety net (AWS, Ceph,
    ...). MinIO refuses such rules and purges stale uploads itself (MINIO_API_STALE_UPLOADS_EXPIRY).
    """
    import logging
    import math

    from shared.logging import configure_logging

    settings = get_settings()
    configure_logging("media", settings.log_level, settings.log_format)
    log = logging.getLogger("media.setup")
    if settings.storage != "s3":
        log.info("MEDIA_STORAGE=%s: no bucket to set up", settings.storage)
        return
    from media.storage_s3 import S3Storage

    storage = S3Storage(settings, create_bucket=False)
    storage.check()
    days = math.ceil(settings.stale_upload_age_s / 86400)
    if storage.ensure_abort_incomplete_rule(days):
        log.info("bucket %s: unfinished multipart uploads are aborted %d day(s) after they start", storage.bucket,
                 days)
    else:
        log.warning("bucket %s: the server refused the lifecycle rule; it must expire unfinished uploads itself "
                    "(MinIO: MINIO_API_STALE_UPLOADS_EXPIRY); the media service's sweep aborts them as well",
                    storage.bucket)
