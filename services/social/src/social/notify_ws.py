"""The notifications socket `/api/notifications/ws`: new notifications and direct messages, live.

Frames reach every instance through shared.broadcast (channel SOCIAL_NOTIFY_CHANNEL, best effort: the
list and the conversation endpoints are the record); each instance hands them to its own sockets of the
recipient. A socket keeps its grant as the chat socket does (social.chat_ws): it closes with 4401 when
its session is revoked, its account is deleted, or its token expires unless the client sent a fresh token
of the same user first (`{"type": "auth", "token": ...}`).

Server frames: `hello {unread}`, `notification {notification}`, `message {message}`, `read {...}`,
`auth`, `pong`, `error`, `closing`. Client frames: `auth`, `ping`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from fastapi import WebSocket
from sqlalchemy.orm import Session, sessionmaker
from starlette.websockets import WebSocketDisconnect

from shared.auth import Principal, TokenVerifier, principal_from_claims, websocket_token
from shared.broadcast import Broadcast
from shared.db import session_scope
from shared.errors import ServiceError
from social import notifications as notes
from social.chat_ws import origin_allowed
from social.config import SocialSettings

log = logging.getLogger("social.notify")

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TRY_AGAIN = 1013
QUEUE_MAX = 1000
REVOKED, ACCOUNT_DELETED, RENEWED = "revoked", "account_deleted", "renewed"


class NotifyConnection:
    """One socket of one person: a bounded send queue and the guard's signals."""

    def __init__(self, user_id: int, sid: str) -> None:
        self.user_id = user_id
        self.sid = sid
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=QUEUE_MAX)
        self.signals: asyncio.Queue[str] = asyncio.Queue()

    def offer(self, frame: str) -> None:
        """Queue a frame; a client that cannot keep up is disconnected (it re-reads the list)."""
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(None)


class NotificationHub:
    """This instance's notification sockets by person, fed by the broadcast channel."""

    def __init__(self, settings: SocialSettings) -> None:
        self.channel = settings.notify_channel
        self.conns: dict[int, set[NotifyConnection]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.broadcast: Broadcast | None = None

    async def start(self) -> None:
        """Bind to the running loop."""
        self.loop = asyncio.get_running_loop()

    def publish(self, user_id: int, frame: dict[str, Any]) -> None:
        """Send a frame to a person's sockets on every instance (any thread)."""
        data = {"user_id": user_id, "frame": frame}
        if self.broadcast is not None:
            self.broadcast.publish(self.channel, data)
        else:
            self.on_notice(data)

    def on_notice(self, data: dict[str, Any]) -> None:
        """A frame from any instance (broadcast thread)."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.deliver, data)

    def deliver(self, data: dict[str, Any]) -> int:
        """Hand a frame to this instance's sockets of its recipient (loop thread); how many."""
        try:
            conns = self.conns.get(int(data["user_id"]), set())
            text = json.dumps(data["frame"])
        except (KeyError, TypeError, ValueError):
            log.warning("ignoring a malformed notification notice")
            return 0
        for conn in conns:
            conn.offer(text)
        return len(conns)

    def register(self, conn: NotifyConnection) -> None:
        """Start delivering to a socket (loop thread)."""
        self.conns.setdefault(conn.user_id, set()).add(conn)

    def unregister(self, conn: NotifyConnection) -> None:
        """Stop delivering to a socket (loop thread)."""
        group = self.conns.get(conn.user_id)
        if group is not None:
            group.discard(conn)
            if not group:
                self.conns.pop(conn.user_id, None)

    def _signal(self, predicate: Any, signal: str) -> None:
        for group in self.conns.values():
            for conn in group:
                if predicate(conn):
                    conn.signals.put_nowait(signal)

    def on_session_revoked(self, sid: str, _user_id: int | None = None) -> None:
        """A session was revoked (any thread): its sockets close with 4401."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._signal, lambda c: c.sid == sid, REVOKED)

    def on_access_notice(self, data: dict[str, Any]) -> None:
        """social's "access changed" notices (any thread): a deleted account's sockets close."""
        with contextlib.suppress(TypeError, ValueError):
            deleted = int(data.get("deleted_user") or 0)
            if deleted and self.loop is not None:
                self.loop.call_soon_threadsafe(self._signal, lambda c: c.user_id == deleted, ACCOUNT_DELETED)


class NotificationSocket:
    """One client's notifications socket."""

    def __init__(self, websocket: WebSocket) -> None:
        state = websocket.app.state
        self.ws = websocket
        self.settings: SocialSettings = state.settings
        self.hub: NotificationHub = state.notify_hub
        self.session_factory: sessionmaker[Session] = state.session_factory
        self.verifier: TokenVerifier = state.token_verifier
        self.principal: Principal | None = None
        self.conn: NotifyConnection | None = None
        self.expires_at = 0.0
        self.closed = False

    async def close(self, code: int, reason: str) -> None:
        """Close with an application code (a last `closing` frame for clients that cannot read reasons)."""
        if self.closed:
            return
        self.closed = True
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await self.ws.send_text(json.dumps({"type": "closing", "code": code, "reason": reason}))
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, reason=reason)

    def _revoked(self) -> bool:
        revocations = self.verifier.revocations
        return bool(self.principal and revocations is not None and revocations.is_revoked(self.principal.sid))

    async def run(self) -> None:
        """Serve the socket until the client leaves or its session ends."""
        token, via_cookie, subprotocol = websocket_token(self.ws)
        await self.ws.accept(subprotocol=subprotocol)
        if not token:
            await self.close(CLOSE_UNAUTHENTICATED, "Sign in to do this.")
            return
        try:
            self.principal = principal_from_claims(await self.verifier.verify_async(token), via_cookie)
        except ServiceError as exc:
            await self.close(CLOSE_UNAUTHENTICATED if exc.status_code == 401 else CLOSE_TRY_AGAIN, exc.message)
            return
        if self.principal.via_cookie and not origin_allowed(self.ws, self.settings):
            await self.close(CLOSE_FORBIDDEN, "Cross-site socket refused.")
            return
        self.expires_at = float(self.principal.claims.get("exp", 0))
        conn = self.conn = NotifyConnection(self.principal.user_id, self.principal.sid)
        self.hub.register(conn)  # frames from here on queue up
        tasks: list[asyncio.Task[None]] = []
        try:
            if self._revoked():
                await self.close(CLOSE_UNAUTHENTICATED, "Your session has ended; sign in again.")
                return
            unread = await asyncio.to_thread(self._unread)
            await self.ws.send_text(json.dumps({"type": "hello", "unread": unread}))
            tasks = [asyncio.create_task(self._writer()), asyncio.create_task(self._guard()),
                     asyncio.create_task(self._reader())]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                exc = t.exception()
                if exc is not None and not isinstance(exc, WebSocketDisconnect):
                    log.warning("notifications socket ended by an error: %r", exc)
        except WebSocketDisconnect:
            pass
        finally:
            self.hub.unregister(conn)
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t

    def _unread(self) -> int:
        assert self.principal is not None
        with session_scope(self.session_factory) as session:
            return notes.unread_count(session=session, user_id=self.principal.user_id)

    async def _guard(self) -> None:
        assert self.conn is not None
        while not self.closed:
            wait_s = max(0.0, self.expires_at - time.time())
            try:
                signal: str | None = await asyncio.wait_for(self.conn.signals.get(), wait_s)
            except TimeoutError:
                signal = None
            if signal == REVOKED or self._revoked():
                await self.close(CLOSE_UNAUTHENTICATED, "Your session has ended; sign in again.")
            elif signal == ACCOUNT_DELETED:
                await self.close(CLOSE_UNAUTHENTICATED, "This account no longer exists.")
            elif time.time() >= self.expires_at:
                await self.close(CLOSE_UNAUTHENTICATED, "Your sign-in expired; reconnect with a fresh token.")

    async def _writer(self) -> None:
        assert self.conn is not None
        while True:
            frame = await self.conn.queue.get()
            if frame is None:
                await self.close(CLOSE_TRY_AGAIN, "Too slow to keep up; reconnect and re-read the list.")
                return
            await self.ws.send_text(frame)

    async def _reader(self) -> None:
        assert self.conn is not None and self.principal is not None
        while not self.closed:
            event = await self.ws.receive()
            if event["type"] == "websocket.disconnect":
                return
            try:
                frame = json.loads(event.get("text") or "")
            except ValueError:
                frame = None
            if not isinstance(frame, dict):
                self.conn.offer(json.dumps({"type": "error", "code": "bad_frame", "error": "Frames are JSON objects."}))
                continue
            if frame.get("type") == "ping":
                self.conn.offer(json.dumps({"type": "pong"}))
            elif frame.get("type") == "auth":
                await self._on_auth(frame)
            else:
                self.conn.offer(json.dumps({"type": "error", "code": "bad_frame", "error": "Unknown frame type."}))

    async def _on_auth(self, frame: dict[str, Any]) -> None:
        assert self.conn is not None and self.principal is not None
        token = frame.get("token")
        try:
            if not isinstance(token, str) or not token:
                raise ServiceError('An "auth" frame needs a "token".', code="invalid_token", status_code=401)
            principal = principal_from_claims(await self.verifier.verify_async(token), False)
        except ServiceError as exc:
            self.conn.offer(json.dumps({"type": "error", "code": exc.code, "error": exc.message}))
            return
        if principal.user_id != self.principal.user_id:
            self.conn.offer(json.dumps({"type": "error", "code": "invalid_token",
                                        "error": "That token belongs to someone else."}))
            return
        self.principal = principal
        self.conn.sid = principal.sid
        self.expires_at = float(principal.claims.get("exp", 0))
        self.conn.signals.put_nowait(RENEWED)
        self.conn.offer(json.dumps({"type": "auth", "ok": True, "expires_at": int(self.expires_at)}))
