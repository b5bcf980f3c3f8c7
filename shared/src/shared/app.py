"""The FastAPI app factory every service uses: errors, logging, metrics, health, auth and the bus."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from shared.auth import TokenVerifier
from shared.broadcast import Broadcast
from shared.copies import Reconciler
from shared.errors import install_exception_handlers
from shared.internal import InternalClient
from shared.limits import BodyLimitMiddleware
from shared.logging import RequestIdMiddleware, configure_logging
from shared.messaging import EventBus, EventConsumer, OutboxRelay, Subscriptions
from shared.metrics import MetricsMiddleware, metrics_endpoint
from shared.openapi import document_common_errors
from shared.outbox import Outbox, TaskSender
from shared.revocation import Fetch, RevocationFeed, RevocationList, http_fetch
from shared.settings import BaseServiceSettings

log = logging.getLogger("shared.app")
ReadyCheck = Callable[[], None]


def _telemetry() -> TelemetryConfig | None:
    """FastAPI's OpenTelemetry bridge asks for the global providers on every request (os.environ lookups, ~5 us
    a request); it is switched off unless the environment configures OpenTelemetry."""
    if any(name.startswith("OTEL_") for name in os.environ) or os.environ.get("FASTAPI_OTEL_AUTO_CONFIGURE"):
        return None
    return {"tracing": False, "metrics": False, "logs": False}


def create_service_app(
    settings: BaseServiceSettings,
    *,
    title: str,
    routers: Iterable[APIRouter],
    session_factory: sessionmaker[Session] | None = None,
    outbox: Outbox | None = None,
    subscriptions: Subscriptions | None = None,
    reconciler: Reconciler | None = None,
    token_verifier: TokenVerifier | None = None,
    revocation_fetch: Fetch | None = None,
    ready_checks: dict[str, ReadyCheck] | None = None,
    on_startup: Iterable[Callable[[FastAPI], Any]] = (),
    on_shutdown: Iterable[Callable[[FastAPI], Any]] = (),
    description: str = "",
    version: str = "1.0",
    body_limits: Mapping[tuple[str, str], int] | None = None,
    task_sender: TaskSender | None = None,
) -> FastAPI:
    """Build a service app with the shared middleware, /health, /ready, /metrics and bus threads.

    Without a `token_verifier` the app gets the standard one: JWKS from auth, and a revocation list fed
    by the broadcast push and catch-ups from auth (`revocation_fetch` replaces the HTTP catch-up, e.g. in
    auth, which reads its own database). Whatever verifier `app.state.token_verifier` holds when the app
    starts is the one used; if it has a revocation list, start-up waits (up to REVOCATION_STARTUP_WAIT_S)
    for the first catch-up. Other components subscribe to `app.state.broadcast` before the app starts.

    Request bodies are limited to MAX_BODY_BYTES; `body_limits` maps (method, path) of routes that take
    more (uploads) to their own limit. `task_sender` publishes the worker tasks queued in the outbox
    (`Outbox.enqueue_task`).
    """
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    bus = EventBus(settings)
    broadcast = Broadcast.from_settings(settings)
    threads: list[Any] = []
    startup_hooks = list(on_startup)
    shutdown_hooks = list(on_shutdown)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        verifier: TokenVerifier = app.state.token_verifier
        feed: RevocationFeed | None = None
        auth_client: InternalClient | None = None
        if verifier.revocations is not None:
            fetch = revocation_fetch
            if fetch is None:
                auth_client = InternalClient(settings.auth_url, settings.internal_token, service="auth",
                                             timeout_s=max(settings.internal_timeout_s, 3.0))
                fetch = http_fetch(auth_client)
            feed = RevocationFeed(verifier.revocations, fetch, interval_s=settings.revocation_catchup_s)
            feed.attach(broadcast)
            app.state.revocation_feed = feed
        broadcast.start()
        if feed is not None:
            feed.start()
            # a restarted process must refuse already-revoked sessions from its first request on
            if not await asyncio.to_thread(verifier.revocations.wait_ready, settings.revocation_startup_wait_s):
                log.warning("revoked sessions not loaded yet: tokens are refused (503) until auth answers")
        if session_factory is not None and outbox is not None and settings.bus_relay_enabled:
            threads.append(OutboxRelay(bus, session_factory, outbox, task_sender=task_sender))
        consumer: EventConsumer | None = None
        if session_factory is not None and outbox is not None and subscriptions and settings.bus_consumer_enabled:
            consumer = EventConsumer(bus, subscriptions, session_factory, outbox)
            app.state.event_consumer = consumer
            threads.append(consumer)
        for t in threads:
            t.start()
        if reconciler is not None and consumer is not None and settings.copy_reconcile_enabled:
            # where the copies are fed, they are repaired: once the consumer is connected (events queued
            # meanwhile apply first), again after every reconnect, and every few minutes
            consumer.connected_hooks.append(reconciler.request_pass)
            reconciler.start(wait_first=consumer.ready.is_set)
            threads.append(reconciler)
            app.state.reconciler = reconciler
        for hook in startup_hooks:
            result = hook(app)
            if hasattr(result, "__await__"):
                await result
        log.info("%s ready on %s:%s", settings.service_name, settings.host, settings.listen_port)
        try:
            yield
        finally:
            for hook in shutdown_hooks:
                result = hook(app)
                if hasattr(result, "__await__"):
                    await result
            for t in threads:
                t.stop()
            if feed is not None:
                feed.stop()
            broadcast.stop()
            if auth_client is not None:
                auth_client.close()

    docs = settings.docs_enabled
    app = FastAPI(
        title=title,
        version=version,
        description=description,
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
        telemetry=_telemetry(),
    )
    app.state.settings = settings
    app.state.session_factory = session_factory
    app.state.outbox = outbox
    app.state.bus = bus
    app.state.broadcast = broadcast
    app.state.token_verifier = token_verifier or TokenVerifier(
        settings.jwks_endpoint, settings.jwt_issuer, settings.jwt_audience, revocations=RevocationList()
    )
    install_exception_handlers(app)
    # routers are matched in this order and every request walks the routes before its own (FastAPI matches
    # one route at a time): services list their hot routers first, and no route of one router may match a
    # path of another's, so the order changes nothing but the cost (shared/tests/test_service_routes.py)
    app.state.routers = list(routers)
    for router in app.state.routers:
        app.include_router(router)
    document_common_errors(app)

    checks: dict[str, ReadyCheck] = dict(ready_checks or {})
    if session_factory is not None:

        def _db() -> None:
            with session_factory() as s:
                s.execute(text("SELECT 1"))

        checks.setdefault("database", _db)

    def _bus() -> None:
        with bus.connection() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)

    checks.setdefault("bus", _bus)

    def _sessions() -> None:
        revocations = app.state.token_verifier.revocations
        if revocations is not None and not revocations.ready:
            raise RuntimeError("revoked sessions not loaded")

    checks.setdefault("sessions", _sessions)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok", "service": settings.service_name}

    @app.get("/ready", include_in_schema=False)
    def ready() -> JSONResponse:
        """Dependencies (database, bus, storage) are reachable."""
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                check()
                results[name] = "ok"
            except Exception as exc:
                results[name] = f"down: {type(exc).__name__}"
        ok = all(v == "ok" for v in results.values())
        return JSONResponse({"status": "ok" if ok else "degraded", "checks": results}, status_code=200 if ok else 503)

    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, routes=body_limits)
    app.add_middleware(MetricsMiddleware, service=settings.service_name)
    app.add_middleware(RequestIdMiddleware)
    return app


def run_uvicorn(app_factory: str, settings: BaseServiceSettings) -> None:
    """Run a service factory (`pkg.main:create_app`) with uvicorn, uvloop and httptools."""
    import uvicorn

    uvicorn.run(
        app_factory,
        factory=True,
        host=settings.host,
        port=settings.listen_port,
        workers=settings.api_workers,
        loop="uvloop",
        http="httptools",
        # no permessage-deflate: a chat frame fanned out to N sockets was compressed N times (half of social's
        # CPU per delivery in bench/chat.py) to save a few dozen bytes of a small JSON frame
        ws_per_message_deflate=False,
        access_log=False,
        log_config=None,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
        # Longer than any caller keeps an idle connection (gateway pool 30 s, internal clients 2 s), so a
        # caller never reuses a connection the service is closing at that moment.
        timeout_keep_alive=75,
    )
