"""The FastAPI app factory every service uses: errors, logging, metrics, health, auth and the bus."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from shared.auth import TokenVerifier
from shared.errors import install_exception_handlers
from shared.limits import BodyLimitMiddleware
from shared.logging import RequestIdMiddleware, configure_logging
from shared.messaging import EventBus, EventConsumer, Handler, OutboxRelay
from shared.metrics import MetricsMiddleware, metrics_endpoint
from shared.openapi import document_common_errors
from shared.outbox import Outbox
from shared.settings import BaseServiceSettings

log = logging.getLogger("shared.app")
ReadyCheck = Callable[[], None]


def create_service_app(
    settings: BaseServiceSettings,
    *,
    title: str,
    routers: Iterable[APIRouter],
    session_factory: sessionmaker[Session] | None = None,
    outbox: Outbox | None = None,
    handlers: dict[str, Handler] | None = None,
    token_verifier: TokenVerifier | None = None,
    ready_checks: dict[str, ReadyCheck] | None = None,
    on_startup: Iterable[Callable[[FastAPI], Any]] = (),
    on_shutdown: Iterable[Callable[[FastAPI], Any]] = (),
    description: str = "",
    version: str = "1.0",
    body_limits: Mapping[tuple[str, str], int] | None = None,
) -> FastAPI:
    """Build a service app with the shared middleware, /health, /ready, /metrics and bus threads.

    Request bodies are limited to MAX_BODY_BYTES; `body_limits` maps (method, path) of routes that take
    more (uploads) to their own limit.
    """
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    bus = EventBus(settings)
    threads: list[Any] = []
    startup_hooks = list(on_startup)
    shutdown_hooks = list(on_shutdown)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if session_factory is not None and outbox is not None and settings.bus_relay_enabled:
            threads.append(OutboxRelay(bus, session_factory, outbox))
        if session_factory is not None and outbox is not None and handlers and settings.bus_consumer_enabled:
            consumer = EventConsumer(bus, settings.service_name, handlers, session_factory, outbox)
            app.state.event_consumer = consumer
            threads.append(consumer)
        for t in threads:
            t.start()
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

    docs = settings.docs_enabled
    app = FastAPI(
        title=title,
        version=version,
        description=description,
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.settings = settings
    app.state.session_factory = session_factory
    app.state.outbox = outbox
    app.state.bus = bus
    app.state.token_verifier = token_verifier or TokenVerifier(
        settings.jwks_endpoint, settings.jwt_issuer, settings.jwt_audience
    )
    install_exception_handlers(app)
    for router in routers:
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
        access_log=False,
        log_config=None,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
        # Longer than any caller keeps an idle connection (gateway pool 30 s, internal clients 2 s), so a
        # caller never reuses a connection the service is closing at that moment.
        timeout_keep_alive=75,
    )
