"""The social service: app factory, `social` (uvicorn) and `social-migrate` entry points."""

from __future__ import annotations

from fastapi import FastAPI

from shared.adb import AsyncReader
from shared.app import create_service_app, run_uvicorn
from shared.copies import CopySpec, Reconciler
from shared.db import make_engine, make_session_factory, run_migrations
from shared.internal import InternalClient
from shared.ratelimit import make_rate_limiter
from shared.users import USERS_SNAPSHOT, AuthDirectory, UserDirectory
from social import models  # noqa: F401 - registers the tables on Base
from social.chat import ACCESS_CHANNEL, ChatHub
from social.clients import MediaClient, ShowsClient
from social.config import SocialSettings, get_settings
from social.consumers import apply_show_item, make_subscriptions, on_user
from social.db import outbox
from social.digest import DigestJob
from social.notify_ws import NotificationHub
from social.router import internal_router, router
from social.together_router import internal_router as together_internal
from social.together_router import router as together_router
from social.webpush import PushSender

DESCRIPTION = (
    "Comments, friends, the friends' feed, live concert chat, notifications and direct messages. "
    "Chat is per concert (reached through any "
    "of its shows); the WebSocket `/api/chat/show/{id}/ws` takes the access cookie or a bearer header and "
    "speaks JSON frames: server `history`, `message`, `presence`, `typing`, `error`; client `message`, "
    "`typing`, `auth` (a fresh token keeps the socket open past the old one's expiry). Close codes: 4401 "
    "not signed in, session ended or token expired; 4403 not allowed to chat (also when access goes while "
    "connected); 4404 unknown show; 1013 access cannot be checked now."
)


def create_app(settings: SocialSettings | None = None, *, users: UserDirectory | None = None) -> FastAPI:
    """Build the social app (nothing connects until the app starts)."""
    settings = settings or get_settings()
    engine = make_engine(settings.db_url, **settings.engine_options)
    session_factory = make_session_factory(engine, outbox)
    shows_internal = InternalClient(settings.shows_url, settings.internal_token, service="shows",
                                    timeout_s=settings.internal_timeout_s, busy_wait_s=settings.internal_busy_wait_s)
    auth_internal = InternalClient(settings.auth_url, settings.internal_token, service="auth",
                                   timeout_s=settings.internal_timeout_s)
    # social owns friendships: shows applies its visibility policy to social's answer, not to its copy
    shows_client = ShowsClient(shows_internal, ttl_s=settings.access_cache_ttl_s, session_factory=session_factory)
    media_client = MediaClient(
        InternalClient(settings.media_url, settings.internal_token, service="media",
                       timeout_s=settings.internal_timeout_s)
    )
    hub = ChatHub(settings, bus_enabled=settings.chat_bus_enabled)
    notify_hub = NotificationHub(settings)
    digest_job = DigestJob(engine, session_factory, auth_internal, settings)
    push = PushSender(session_factory, settings)

    # the hot internal reads (a show's comments, a user's counts) on the event loop (social.readpath)
    reader = AsyncReader(settings.db_url, pool_size=settings.db_read_pool_size)

    async def start_hub(app: FastAPI) -> None:
        await hub.start()
        await notify_hub.start()
        revocations = app.state.token_verifier.revocations
        if revocations is not None:  # a revoked session's sockets close at once
            revocations.listen(hub.on_session_revoked)
            revocations.listen(notify_hub.on_session_revoked)
        digest_job.start()

    async def stop_hub(_app: FastAPI) -> None:
        await hub.stop()
        await reader.close()
        digest_job.stop()
        shows_client.client.close()
        media_client.client.close()
        auth_internal.close()
        push.close()

    def chat_bus_ready() -> None:
        if hub.bus_enabled and not hub.consumer_ready.is_set():
            raise RuntimeError("chat fan-out consumer not connected")

    def forget_access(users: set[int], show_id: int) -> None:
        for uid in users:
            shows_client.forget_user(uid)
        if show_id:
            shows_client.forget(show_id)

    hub.access_listeners.append(forget_access)

    def on_show_changed(show_id: int) -> None:
        shows_client.forget(show_id)
        hub.notify_access(show_id=show_id)

    def on_user_deleted(user_id: int, friend_ids: list[int]) -> None:
        for uid in (user_id, *friend_ids):
            shows_client.forget_user(uid)
        hub.notify_access(users=friend_ids, deleted_user=user_id)

    subscriptions = make_subscriptions(on_show_changed, on_user_deleted, shows=shows_client,
                                       live=push.wrap(notify_hub.publish), push_location=hub.publish_location)
    # users from auth, shows from shows: the copies behind the feed, names and mentions (repaired the same way)
    reconciler = Reconciler(
        "social",
        session_factory,
        {"auth": auth_internal, "shows": shows_internal},
        [
            ("auth", CopySpec("users", USERS_SNAPSHOT, lambda session, item: on_user(session, item, on_user_deleted))),
            ("shows", CopySpec("shows", "/internal/snapshot/shows", apply_show_item)),
        ],
        interval_s=settings.copy_reconcile_interval_s,
    )
    app = create_service_app(
        settings,
        title="ShareMyShows social",
        description=DESCRIPTION,
        # the most-asked first (shared.app): every show detail and dashboard asks social's internal reads
        routers=[internal_router, router, together_router, together_internal],
        session_factory=session_factory,
        outbox=outbox,
        subscriptions=subscriptions,
        reconciler=reconciler,
        on_startup=[start_hub],
        on_shutdown=[stop_hub],
        ready_checks={"chat_bus": chat_bus_ready},
    )
    hub.broadcast = app.state.broadcast
    app.state.broadcast.subscribe(ACCESS_CHANNEL, hub.on_access_notice)
    notify_hub.broadcast = app.state.broadcast
    app.state.broadcast.subscribe(settings.notify_channel, notify_hub.on_notice)
    app.state.broadcast.subscribe(ACCESS_CHANNEL, notify_hub.on_access_notice)
    app.state.engine = engine
    app.state.reader = reader
    app.state.event_subscriptions = subscriptions
    app.state.shows_client = shows_client
    app.state.media_client = media_client
    app.state.chat_hub = hub
    app.state.users = users if users is not None else AuthDirectory(auth_internal)
    app.state.chat_limiter = make_rate_limiter(settings.redis_url or None)
    app.state.dm_limiter = make_rate_limiter(settings.redis_url or None)
    app.state.share_limiter = make_rate_limiter(settings.redis_url or None)
    app.state.notify_hub = notify_hub
    app.state.push = push
    app.state.auth_internal = auth_internal
    return app


def main() -> None:
    """Run the service with uvicorn (host/port from HOST/PORT)."""
    run_uvicorn("social.main:create_app", get_settings())


def migrate() -> None:
    """Apply the database migrations (`alembic upgrade head`)."""
    settings = get_settings()
    run_migrations("social", settings.db_url)
