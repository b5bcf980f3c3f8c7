"""The auth service app: `create_app()` for uvicorn and tests, `main()` to serve, `migrate()` for alembic."""

from __future__ import annotations

from fastapi import FastAPI

from auth.config import AuthSettings, get_settings
from auth.context import AuthContext
from auth.db import outbox
from auth.mail import MessageSender
from auth.router import internal_router, router
from auth.sessions import database_fetch
from shared.app import create_service_app, run_uvicorn
from shared.auth import TokenVerifier
from shared.db import make_engine, make_session_factory, run_migrations


def create_app(settings: AuthSettings | None = None, token_verifier: TokenVerifier | None = None) -> FastAPI:
    """Build the auth app (keys loaded or created, mail sender thread started with the app)."""
    settings = settings or get_settings()
    ctx = AuthContext.build(settings)
    engine = make_engine(settings.db_url, **settings.engine_options)
    session_factory = make_session_factory(engine, outbox)
    sender = MessageSender(settings, session_factory)
    session_factory.configure(info={"outbox": outbox, "mail_wake": sender.wake})

    def _start(app: FastAPI) -> None:
        if settings.mail_worker_enabled:
            sender.start()

    def _stop(app: FastAPI) -> None:
        sender.stop()
        engine.dispose()

    app = create_service_app(
        settings,
        title="ShareMyShows auth",
        routers=[router, internal_router],
        session_factory=session_factory,
        outbox=outbox,
        # auth verifies its own access tokens with its own key set (no HTTP round trip to itself) and
        # catches up on revocations from its own database
        token_verifier=token_verifier or ctx.keys.verifier,
        revocation_fetch=database_fetch(ctx, session_factory),
        on_startup=[_start],
        on_shutdown=[_stop],
        description="Accounts, sessions (JWT cookies or bearer tokens), MFA and the JWKS.",
    )
    app.state.auth = ctx
    app.state.mailer = sender
    ctx.broadcast = app.state.broadcast  # revocations are pushed to every process from here
    return app


def main() -> None:
    """Serve the auth API with uvicorn (HOST/PORT)."""
    run_uvicorn("auth.main:create_app", get_settings())


def migrate() -> None:
    """Apply the auth database migrations (alembic upgrade head)."""
    run_migrations("auth", get_settings().db_url)
