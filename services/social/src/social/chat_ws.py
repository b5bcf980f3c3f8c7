"""The chat WebSocket: authenticate, authorise, send history, then relay frames both ways.

A socket keeps its grant only while it holds: a guard task closes it
- 4401 when its session is revoked (pushed to every instance) or its account deleted, and when its
  token expires unless the client sent a fresh token of the same user first (`{"type": "auth",
  "token": ...}`; browsers, whose cookie is HttpOnly, reconnect after a refresh instead);
- 4403 when a re-check finds the access gone: on an "access changed" notice (unfriending, visibility
  change, show deleted) and at least every SOCIAL_CHAT_RECHECK_S seconds;
- 1013 when the re-check cannot ask shows (fail closed: reconnect later).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit

from fastapi import WebSocket
from sqlalchemy.orm import Session, sessionmaker
from starlette.websockets import WebSocketDisconnect, WebSocketState

from shared.auth import Principal, TokenVerifier, principal_from_claims, websocket_token
from shared.db import after_commit, session_scope, utcnow
from shared.errors import ServiceError, ServiceUnavailable
from shared.ratelimit import MemoryRateLimiter, RateLimiter
from shared.users import UserDirectory
from social import chat_service, service
from social import repository as repo
from social.chat import ACCOUNT_DELETED, RECHECK, RENEWED, REVOKED, ChatConnection, ChatHub
from social.clients import ShowsClient
from social.config import SocialSettings
from social.exceptions import ChatNotAllowed, ShowNotFound
from social.schemas import CHAT_MAX

log = logging.getLogger("social.ws")

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TRY_AGAIN = 1013
TYPING_MIN_INTERVAL_S = 1.0
SIGNED_OUT = "You were signed out."
ACCOUNT_GONE = "This account was deleted."
EXPIRED = "Your session expired; sign in again."
ACCESS_GONE = "You no longer have access to this show."
CANNOT_CHECK = "Your access cannot be checked right now; reconnect in a moment."
MAX_FRAME_CHARS = 16 * 1024  # a 1000-character message in JSON fits easily


def _error(code: str, message: str, **extra: Any) -> str:
    return json.dumps({"type": "error", "code": code, "error": message, **extra})


def origin_allowed(websocket: WebSocket, settings: SocialSettings) -> bool:
    """Refuse cross-site sockets riding on the cookie (CSWSH); non-browser clients send no Origin."""
    origin = websocket.headers.get("origin")
    if not origin:
        return True
    allowed = {o.strip().rstrip("/") for o in settings.ws_allowed_origins.split(",") if o.strip()}
    allowed.add(settings.public_base_url.rstrip("/"))
    if origin.rstrip("/") in allowed:
        return True
    host = urlsplit(origin).netloc
    return host in {websocket.headers.get("host", ""), websocket.headers.get("x-forwarded-host", "")}


class ChatSocket:
    """One client's chat session."""

    def __init__(self, websocket: WebSocket, show_id: int, after: int | None) -> None:
        state = websocket.app.state
        self.ws = websocket
        self.show_id = show_id
        self.after = after
        self.settings: SocialSettings = state.settings
        self.hub: ChatHub = state.chat_hub
        self.shows: ShowsClient = state.shows_client
        self.limiter: RateLimiter = state.chat_limiter
        self.session_factory: sessionmaker[Session] = state.session_factory
        self.users: UserDirectory = state.users
        self.verifier: TokenVerifier = state.token_verifier
        self.recheck_s: float = self.settings.chat_recheck_s
        self.principal: Principal | None = None
        self.conn: ChatConnection | None = None
        self.checked_at = 0.0
        self.expires_at = 0.0
        self.last_typing = 0.0
        self.closed = False

    async def close(self, code: int, reason: str) -> None:
        """Close the socket with an application code (after accepting, so the code reaches the client)."""
        if self.closed:
            return
        self.closed = True
        if self.conn is not None:  # a last frame for clients that cannot read close reasons
            with contextlib.suppress(Exception):
                await self.ws.send_text(json.dumps({"type": "closing", "code": code, "reason": reason}))
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, reason=reason)

    def _set_principal(self, principal: Principal) -> None:
        self.principal = principal
        self.expires_at = float(principal.claims.get("exp", 0))
        if self.conn is not None:
            self.conn.sid = principal.sid

    async def _authorise(self, token: str | None, via_cookie: bool) -> int | None:
        """The concert id, or None after closing the socket with the reason."""
        if not token:
            await self.close(CLOSE_UNAUTHENTICATED, "Sign in to do this.")
            return None
        try:
            self._set_principal(principal_from_claims(await self.verifier.verify_async(token), via_cookie))
        except ServiceError as exc:
            await self.close(CLOSE_UNAUTHENTICATED if exc.status_code == 401 else CLOSE_TRY_AGAIN, exc.message)
            return None
        assert self.principal is not None
        if self.principal.via_cookie and not origin_allowed(self.ws, self.settings):
            await self.close(CLOSE_FORBIDDEN, "Cross-site socket refused.")
            return None
        try:
            access = await asyncio.to_thread(
                chat_service.chat_access, shows=self.shows, policy=self.settings.chat_policy,
                show_id=self.show_id, user_id=self.principal.user_id,
            )
        except ShowNotFound:
            await self.close(CLOSE_NOT_FOUND, "Show not found.")
            return None
        except ChatNotAllowed as exc:
            await self.close(CLOSE_FORBIDDEN, exc.message)
            return None
        except ServiceError as exc:
            await self.close(CLOSE_TRY_AGAIN, exc.message)
            return None
        self.checked_at = time.monotonic()
        return access.concert_id

    def _username(self) -> str:
        assert self.principal is not None
        with session_scope(self.session_factory) as session:
            return service.ensure_user(session=session, principal=self.principal, users=self.users).username

    def _appears_offline(self) -> bool:
        assert self.principal is not None
        with session_scope(self.session_factory) as session:
            return repo.appear_offline(session, self.principal.user_id)

    def _replay(self, concert_id: int) -> list[dict[str, Any]]:
        with session_scope(self.session_factory) as session:
            return chat_service.chat_replay(session=session, concert_id=concert_id, after=self.after,
                                       history=self.settings.chat_history_size,
                                       replay_max=self.settings.chat_replay_max)

    async def run(self) -> None:
        """Serve the socket until the client leaves or its grant goes."""
        token, via_cookie, subprotocol = websocket_token(self.ws)
        await self.ws.accept(subprotocol=subprotocol)
        concert_id = await self._authorise(token, via_cookie)
        if concert_id is None:
            return
        assert self.principal is not None
        username = await asyncio.to_thread(self._username)  # the local name, as in stored messages
        conn = self.conn = ChatConnection(self.principal.user_id, username, concert_id, show_id=self.show_id,
                                          sid=self.principal.sid)
        self.hub.register(conn)  # from here on new messages queue up (deduplicated against the history)
        tasks: list[asyncio.Task[None]] = []
        hidden = True
        try:
            if self._session_revoked():  # revoked while we were checking access: the push came before register
                await self.close(CLOSE_UNAUTHENTICATED, SIGNED_OUT)
                return
            history = await asyncio.to_thread(self._replay, concert_id)
            for m in history:
                conn.mark_seen(int(m["id"]))
            await self.ws.send_text(json.dumps({"type": "history", "messages": history}))
            tasks = [asyncio.create_task(self._writer()), asyncio.create_task(self._guard()),
                     asyncio.create_task(self._reader())]
            hidden = await asyncio.to_thread(self._appears_offline)
            if not hidden:  # "appear offline": in the room, but not in its presence
                self.hub.join(conn, utcnow().isoformat().replace("+00:00", "Z"))
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                exc = t.exception()
                if isinstance(exc, ServiceUnavailable):
                    await self.close(CLOSE_TRY_AGAIN, exc.message)
                elif exc is not None and not isinstance(exc, WebSocketDisconnect):
                    log.warning("chat socket ended by an error: %r", exc)
        except WebSocketDisconnect:
            pass
        finally:
            self.hub.unregister(conn)
            if not hidden:
                self.hub.leave(conn)
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t

    def _session_revoked(self) -> bool:
        revocations = self.verifier.revocations
        return bool(self.principal and revocations is not None and revocations.is_revoked(self.principal.sid))

    async def _guard(self) -> None:
        """Close the socket when its session, token or access ends (see the module docs)."""
        assert self.conn is not None
        while not self.closed:
            wait_s = max(0.0, min(self.expires_at - time.time(), self.checked_at + self.recheck_s - time.monotonic()))
            try:
                signal: str | None = await asyncio.wait_for(self.conn.signals.get(), wait_s)
            except TimeoutError:
                signal = None
            if signal == REVOKED or self._session_revoked():
                await self.close(CLOSE_UNAUTHENTICATED, SIGNED_OUT)
            elif signal == ACCOUNT_DELETED:
                await self.close(CLOSE_UNAUTHENTICATED, ACCOUNT_GONE)
            elif time.time() >= self.expires_at:
                await self.close(CLOSE_UNAUTHENTICATED, EXPIRED)
            elif signal == RECHECK or time.monotonic() - self.checked_at >= self.recheck_s:
                await self._recheck(forget=signal == RECHECK)

    async def _recheck(self, *, forget: bool) -> None:
        """Ask shows again; close 4403 when the access is gone, 1013 when shows cannot be asked."""
        assert self.principal is not None
        if forget:  # a notice: the cached answer may predate the change
            self.shows.forget(self.show_id)
            self.shows.forget_user(self.principal.user_id)
        try:
            await asyncio.to_thread(chat_service.chat_access, shows=self.shows, policy=self.settings.chat_policy,
                                    show_id=self.show_id, user_id=self.principal.user_id)
        except (ShowNotFound, ChatNotAllowed):
            await self.close(CLOSE_FORBIDDEN, ACCESS_GONE)
            return
        except ServiceError:
            await self.close(CLOSE_TRY_AGAIN, CANNOT_CHECK)  # fail closed: never keep a grant unchecked
            return
        self.checked_at = time.monotonic()

    async def _writer(self) -> None:
        assert self.conn is not None
        while True:
            frame = await self.conn.queue.get()
            if frame is None:
                await self.close(CLOSE_TRY_AGAIN, "Too slow to keep up; reconnect with ?after=<last id>.")
                return
            await self.ws.send_text(frame)

    async def _reader(self) -> None:
        while True:
            event = await self.ws.receive()
            if event["type"] == "websocket.disconnect":
                return
            raw = event.get("text")
            if raw is None and event.get("bytes") is not None:
                raw = event["bytes"].decode("utf-8", "replace")
            if not await self._handle(raw or ""):
                return
            if self.closed or self.ws.client_state != WebSocketState.CONNECTED:
                return

    async def _send_error(self, code: str, message: str, **extra: Any) -> None:
        assert self.conn is not None
        self.conn.offer(_error(code, message, **extra))

    async def _handle(self, raw: str) -> bool:
        """Act on one client frame; False when the socket was closed."""
        if len(raw) > MAX_FRAME_CHARS:
            await self._send_error("bad_frame", f"Frames must be at most {MAX_FRAME_CHARS} characters.")
            return True
        try:
            frame = json.loads(raw)
        except ValueError:
            await self._send_error("bad_frame", "Frames must be JSON objects.")
            return True
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self._send_error("bad_frame", 'Frames need a "type" ("message" or "typing").')
            return True
        if self.closed:
            return False
        if time.time() >= self.expires_at or self._session_revoked():
            assert self.conn is not None
            self.conn.signals.put_nowait(REVOKED if self._session_revoked() else RENEWED)  # the guard closes
            return True
        kind = frame["type"]
        if kind == "auth":
            await self._on_auth(frame)
        elif kind == "message":
            await self._on_message(frame)
        elif kind == "typing":
            now = time.monotonic()
            if now - self.last_typing >= TYPING_MIN_INTERVAL_S:
                self.last_typing = now
                assert self.conn is not None
                self.hub.typing(self.conn)
        elif kind == "ping":
            assert self.conn is not None
            self.conn.offer(json.dumps({"type": "pong"}))
        else:
            await self._send_error("bad_frame", f'Unknown frame type "{kind[:32]}".')
        return True

    async def _on_auth(self, frame: dict[str, Any]) -> None:
        """A fresh token of the same user keeps the socket open past the old token's expiry."""
        assert self.principal is not None and self.conn is not None
        token = frame.get("token")
        if not isinstance(token, str) or not token:
            await self._send_error("invalid_token", 'An "auth" frame needs a "token".')
            return
        try:
            principal = principal_from_claims(await self.verifier.verify_async(token), False)
        except ServiceError as exc:
            await self._send_error(exc.code, exc.message)
            return
        if principal.user_id != self.principal.user_id:
            await self._send_error("invalid_token", "That token belongs to someone else.")
            return
        self._set_principal(principal)
        self.conn.signals.put_nowait(RENEWED)  # the guard recomputes its deadline
        self.conn.offer(json.dumps({"type": "auth", "ok": True, "expires_at": int(self.expires_at)}))

    async def _on_message(self, frame: dict[str, Any]) -> None:
        assert self.principal is not None and self.conn is not None
        text = frame.get("message", frame.get("text"))
        if not isinstance(text, str) or not text.strip():
            await self._send_error("validation_error", "message must be 1–1000 characters of text.")
            return
        text = text.strip()
        if len(text) > CHAT_MAX:
            await self._send_error("validation_error", f"message must be at most {CHAT_MAX} characters.")
            return
        args = (f"chat:{self.principal.user_id}", self.settings.chat_rate_limit, self.settings.chat_rate_window_s)
        if isinstance(self.limiter, MemoryRateLimiter):  # in-process counters: no I/O, no thread hop
            allowed, retry_after = self.limiter.hit(*args)
        else:
            allowed, retry_after = await asyncio.to_thread(self.limiter.hit, *args)
        if not allowed:
            await self._send_error("rate_limited", "You are sending messages too fast; wait a moment.",
                                   retry_after=retry_after)
            return
        try:
            await asyncio.to_thread(store_and_publish, self.session_factory, self.hub, self.users,
                                    self.conn.concert_id, self.principal, text)
        except Exception:
            log.exception("could not store a chat message")
            await self._send_error("internal_error", "The message could not be sent; try again.")


def store_and_publish(session_factory: sessionmaker[Session], hub: ChatHub, users: UserDirectory, concert_id: int,
                      principal: Principal, text: str) -> dict[str, Any]:
    """Store a message in its own transaction and fan it out once committed (worker thread)."""
    with session_scope(session_factory) as session:
        msg = chat_service.post_chat_message(session=session, concert_id=concert_id, principal=principal,
                                             users=users, text=text)
        after_commit(session, lambda: hub.publish_message(msg))
    return msg
