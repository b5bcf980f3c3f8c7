"""The shows service app factory and its command-line entry points."""

from __future__ import annotations

from fastapi import FastAPI

from shared.adb import AsyncReader
from shared.app import create_service_app, run_uvicorn
from shared.auth import TokenVerifier
from shared.copies import CopySpec, Reconciler
from shared.db import make_engine, make_session_factory, run_migrations
from shared.internal import InternalClient
from shared.limits import MULTIPART_SLACK
from shared.outbox import TaskSender, celery_task_sender
from shared.users import USERS_SNAPSHOT, AuthDirectory, UserDirectory
from shows import service
from shows.catalog.jobs import Enqueue, JobSweeper, OutboxEnqueue
from shows.catalog.router import imports_router, stats_router
from shows.clients import AsyncHttpPeers, HttpPeers, Peers
from shows.config import ShowsSettings, get_settings
from shows.consumers import subscriptions
from shows.db import outbox
from shows.router import router
from shows.router_extra import catalogue_router, dashboard_router, internal_router
from shows.router_media import media_internal_router


def create_app(
    settings: ShowsSettings | None = None,
    *,
    token_verifier: TokenVerifier | None = None,
    peers: Peers | None = None,
    users: UserDirectory | None = None,
    catalog_enqueue: Enqueue | None = None,
) -> FastAPI:
    """Build the shows app (routes, session factory, outbox relay, event consumer, copy reconciler, catalog jobs)."""
    settings = settings or get_settings()
    engine = make_engine(settings.db_url, **settings.engine_options)
    session_factory = make_session_factory(engine, outbox)
    http_peers = HttpPeers(settings) if peers is None else None
    async_peers = AsyncHttpPeers(settings) if peers is None else None
    reader = AsyncReader(settings.db_url, pool_size=settings.db_read_pool_size)
    timeout = settings.internal_timeout_s
    auth_client = InternalClient(settings.auth_url, settings.internal_token, service="auth", timeout_s=timeout)
    social_client = InternalClient(settings.social_url, settings.internal_token, service="social", timeout_s=timeout)
    # users from auth, friendships from social: the copies that decide who sees what
    reconciler = Reconciler(
        "shows",
        session_factory,
        {"auth": auth_client, "social": social_client},
        [
            ("auth", CopySpec("users", USERS_SNAPSHOT, service.on_user)),
            ("social", CopySpec("friendships", "/internal/snapshot/friendships", service.apply_friendship_item)),
        ],
        interval_s=settings.copy_reconcile_interval_s,
    )
    task_sender: TaskSender | None = None
    if catalog_enqueue is None:  # jobs ride the outbox; its relay publishes them through the worker's Celery app
        from shows.catalog.worker import make_app

        catalog_enqueue = OutboxEnqueue(outbox)
        task_sender = celery_task_sender(make_app(settings))
    sweeper = JobSweeper(session_factory, catalog_enqueue, settings.catalog_sweep_interval_s,
                         settings.catalog_requeue_after_s)

    def _start(_: FastAPI) -> None:
        if settings.catalog_sweep_enabled:
            sweeper.start()

    async def _close_async(_: FastAPI) -> None:
        await reader.close()
        if async_peers is not None:
            await async_peers.close()

    def _close(_: FastAPI) -> None:
        if sweeper.is_alive():
            sweeper.stop()
        if http_peers is not None:
            http_peers.close()
        auth_client.close()
        social_client.close()
        engine.dispose()

    app = create_service_app(
        settings,
        title="ShareMyShows shows",
        description="Artists, venues, concerts, a person's shows, setlists, check-ins and the dashboard.",
        # the most-asked first (shared.app): pages of shows, the dashboard, media's and social's access checks
        routers=[router, dashboard_router, internal_router, media_internal_router, imports_router, stats_router,
                 catalogue_router],
        session_factory=session_factory,
        outbox=outbox,
        subscriptions=subscriptions,
        reconciler=reconciler,
        token_verifier=token_verifier,
        on_startup=[_start],
        on_shutdown=[_close_async, _close],
        # a concert-history file (`SHOWS_IMPORT_MAX_BYTES`, which the gateway reads too) is larger than JSON
        body_limits={("POST", "/api/imports"): settings.import_max_bytes + MULTIPART_SLACK},
        task_sender=task_sender,
    )
    app.state.engine = engine
    app.state.catalog_enqueue = catalog_enqueue
    app.state.peers = peers if peers is not None else http_peers
    app.state.async_peers = async_peers
    app.state.reader = reader
    app.state.users = users if users is not None else AuthDirectory(auth_client)
    return app


def main() -> None:
    """Run the service with uvicorn (HOST/PORT)."""
    run_uvicorn("shows.main:create_app", get_settings())


def migrate() -> None:
    """`alembic upgrade head` on DATABASE_URL."""
    run_migrations("shows", get_settings().db_url)
