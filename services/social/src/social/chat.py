"""Live chat: per-concert rooms of sockets on this instance, fanned out to every instance through the bus.

A message is stored (with its durable `chat.message` outbox event) and, once committed, handed to the
hub: delivered at once to this instance's sockets and published best-effort on the fanout exchange
`SOCIAL_CHAT_EXCHANGE`. Every instance consumes that exchange with its own exclusive auto-delete queue
in a thread and hands frames to the asyncio loop; each socket drops message ids it already got, so a
message reaches every socket exactly once (including the one that arrived in the join history).

Grants are taken back from live sockets: the hub hears revoked sessions (the process's revocation
list) and "access changed" notices (`ACCESS_CHANNEL` on shared.broadcast, so every instance hears
what the one instance that consumed an event, or made a change, knows) and signals the sockets
concerned, which close or re-check their access (chat_ws.ChatSocket).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from kombu import Connection, Exchange, Producer, Queue

from shared.broadcast import Broadcast
from shared.messaging import drain_until_stopped
from social.config import SocialSettings
from social.presence import Presence, RedisPresence

log = logging.getLogger("social.chat")
SEEN_WINDOW = 2048
SEND_QUEUE_MAX = 5000
# "access changed" notices between social instances: {"users": [ids]} (friendships ended),
# {"show_id": id} (visibility changed or show deleted), {"deleted_user": id} (account deleted)
ACCESS_CHANNEL = "social.access"

# signals to a socket's guard
REVOKED = "revoked"
ACCOUNT_DELETED = "account_deleted"
RECHECK = "recheck"
RENEWED = "renewed"


class ChatConnection:
    """One socket in a concert room: a send queue drained by a writer task, with per-socket dedupe."""

    def __init__(self, user_id: int, username: str, concert_id: int, *, show_id: int = 0, sid: str = "") -> None:
        self.user_id = user_id
        self.username = username
        self.concert_id = concert_id
        self.show_id = show_id  # the show the socket was granted through (access is re-checked on it)
        self.sid = sid  # the session of its token
        self.signals: asyncio.Queue[str] = asyncio.Queue()
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=SEND_QUEUE_MAX)
        self._seen: set[int] = set()
        self._order: deque[int] = deque()
        self.overflowed = False

    def mark_seen(self, msg_id: int) -> bool:
        """Remember a delivered message id; False if it was delivered before."""
        if msg_id in self._seen:
            return False
        self._seen.add(msg_id)
        self._order.append(msg_id)
        if len(self._order) > SEEN_WINDOW:
            self._seen.discard(self._order.popleft())
        return True

    def offer(self, frame: str, msg_id: int | None = None) -> None:
        """Queue a frame for this socket (messages at most once)."""
        if msg_id is not None and not self.mark_seen(msg_id):
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:  # a client that cannot keep up is disconnected, not buffered forever
            self.overflowed = True
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(None)


class ChatHub:
    """Rooms and presence of this instance, and its link to the chat fanout exchange."""

    def __init__(self, settings: SocialSettings, *, bus_enabled: bool = True) -> None:
        self.settings = settings
        self.instance_id = uuid.uuid4().hex[:12]
        self.rooms: dict[int, set[ChatConnection]] = {}
        self.presence: Presence = (
            RedisPresence(settings.redis_url, self.instance_id, ttl_s=settings.presence_ttl_s)
            if settings.redis_url else Presence(ttl_s=settings.presence_ttl_s)
        )
        self.bus_enabled = bus_enabled
        self.loop: asyncio.AbstractEventLoop | None = None
        self._out: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=100_000)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._heartbeat: asyncio.Task[None] | None = None
        self.consumer_ready = threading.Event()
        self.exchange = Exchange(settings.chat_exchange, type="fanout", durable=False)
        self.broadcast: Broadcast | None = None  # carries "access changed" notices to every instance
        # called with (users, show_id) on every notice, before the sockets re-check: the instance's cached
        # access answers go first, so no request on any instance reuses a grant that just ended
        self.access_listeners: list[Callable[[set[int], int], None]] = []

    # ------------------------------------------------------------ lifecycle

    def _connection(self) -> Connection:
        opts = dict(self.settings.kombu_transport_options())
        if self.settings.bus_url.startswith("filesystem"):
            opts["polling_interval"] = self.settings.chat_poll_interval_s
        return Connection(self.settings.bus_url, transport_options=opts, heartbeat=30)

    async def start(self) -> None:
        """Bind to the running loop and start the bus threads and the presence heartbeat."""
        self.loop = asyncio.get_running_loop()
        if not self.bus_enabled:
            if isinstance(self.presence, RedisPresence):
                self._heartbeat = asyncio.create_task(self._heartbeat_loop())
            return
        for target, name in ((self._consume, "chat-consumer"), (self._publish_loop, "chat-publisher")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        self._heartbeat = asyncio.create_task(self._heartbeat_loop())

    async def stop(self) -> None:
        """Say goodbye to the other instances and stop the threads."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        if self.bus_enabled:
            self._send({"kind": "bye"})
        self._stop.set()
        with contextlib.suppress(queue.Full):
            self._out.put_nowait(None)
        for t in self._threads:
            await asyncio.to_thread(t.join, 3)

    # ------------------------------------------------------------ bus side (threads)

    def _send(self, env: dict[str, Any]) -> None:
        if not self.bus_enabled:
            return
        env["instance"] = self.instance_id
        try:
            self._out.put_nowait(env)
        except queue.Full:
            log.warning("chat publish queue full; dropping a %s frame", env.get("kind"))

    def _publish_loop(self) -> None:
        conn: Connection | None = None
        producer: Producer | None = None
        while not self._stop.is_set():
            env = self._out.get()
            if env is None:
                break
            for attempt in range(2):
                try:
                    if producer is None:
                        conn = self._connection()
                        conn.ensure_connection(max_retries=1)
                        producer = Producer(conn.default_channel, exchange=self.exchange)
                        self.exchange(conn.default_channel).declare()
                    producer.publish(env, serializer="json", routing_key="", retry=False, delivery_mode=1)
                    break
                except Exception as exc:  # best effort: the message is stored; reconnecting clients catch up
                    log.warning("chat publish failed (attempt %d): %s", attempt + 1, exc)
                    producer = None
                    if conn is not None:
                        with contextlib.suppress(Exception):
                            conn.release()
                    conn = None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.release()

    def _consume(self) -> None:
        name = f"{self.settings.chat_exchange}.{self.instance_id}"
        q = Queue(name, exchange=self.exchange, routing_key="", durable=False, auto_delete=True,
                  exclusive=not self.settings.bus_url.startswith("filesystem"))
        backoff = 0.5
        while not self._stop.is_set():
            try:
                with self._connection() as conn:
                    conn.ensure_connection(max_retries=1)
                    with conn.Consumer([q], callbacks=[self._on_bus], no_ack=True, accept=["json"]):
                        self.consumer_ready.set()
                        self._send({"kind": "hello"})
                        backoff = 0.5
                        drain_until_stopped(conn, self._stop)
            except Exception as exc:
                log.warning("chat consumer lost the bus, retrying in %.1fs: %s", backoff, exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _on_bus(self, body: Any, _message: Any) -> None:
        env = json.loads(body) if isinstance(body, str | bytes) else body
        if isinstance(env, dict) and self.loop is not None:
            self.loop.call_soon_threadsafe(self._deliver, env)

    async def _heartbeat_loop(self) -> None:
        interval = max(1.0, self.settings.presence_ttl_s / 3)
        while True:
            await asyncio.sleep(interval)
            await asyncio.to_thread(self.presence.heartbeat)
            self._send({"kind": "sync", "rooms": {str(k): v for k, v in self.presence.snapshot().items()}})

    # ------------------------------------------------------------ loop side

    def _deliver(self, env: dict[str, Any]) -> None:
        kind = env.get("kind")
        own = env.get("instance") == self.instance_id
        try:
            if kind == "message":
                msg = env["message"]
                self._fan_message(msg)
            elif own:
                return  # presence/typing of this instance were delivered locally already
            elif kind == "presence":
                cid = int(env["concert_id"])
                self.presence.apply_remote(env["instance"], env["event"], cid, env["user"], env.get("since", ""))
                self._fan_presence(cid, env["event"], env["user"])
            elif kind == "typing":
                self._fan_typing(int(env["concert_id"]), env["user"])
            elif kind == "location":
                self._fan_to(int(env["concert_id"]), {int(u) for u in env["recipients"]}, env["frame"])
            elif kind == "sync":
                self.presence.apply_sync(env["instance"], env.get("rooms") or {})
            elif kind == "hello":
                self._send({"kind": "sync", "rooms": {str(k): v for k, v in self.presence.snapshot().items()}})
            elif kind == "bye":
                self.presence.forget(env["instance"])
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("ignoring malformed chat frame from the bus: %s", exc)

    def _fan_message(self, msg: dict[str, Any]) -> None:
        room = self.rooms.get(int(msg["concert_id"]))
        if not room:
            return
        frame = json.dumps({"type": "message", **msg})
        msg_id = int(msg["id"])
        for conn in room:
            conn.offer(frame, msg_id)

    def _fan_presence(self, concert_id: int, event: str, user: dict[str, Any]) -> None:
        room = self.rooms.get(concert_id)
        if not room:
            return
        frame = json.dumps({
            "type": "presence", "event": event, "user": {"id": user["id"], "username": user["username"]},
            "users": self.presence.users(concert_id),
        })
        for conn in room:
            conn.offer(frame)

    def _fan_typing(self, concert_id: int, user: dict[str, Any]) -> None:
        frame = json.dumps({"type": "typing", "user": {"id": user["id"], "username": user["username"]}})
        for conn in self.rooms.get(concert_id, ()):
            if conn.user_id != user["id"]:
                conn.offer(frame)

    def _fan_to(self, concert_id: int, recipients: set[int], frame: dict[str, Any]) -> None:
        text = json.dumps(frame)
        for conn in self.rooms.get(concert_id, ()):
            if conn.user_id in recipients:
                conn.offer(text)

    def publish_location(self, concert_id: int, recipients: list[int], frame: dict[str, Any]) -> None:
        """A friend's position (or its removal) to the named people's sockets in the concert's room, on every
        instance (any thread); nobody else in the room gets it."""
        if not recipients:
            return
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._fan_to, concert_id, set(recipients), frame)
        self._send({"kind": "location", "concert_id": concert_id, "recipients": list(recipients), "frame": frame})

    def publish_message(self, msg: dict[str, Any]) -> None:
        """Deliver a committed message here at once and to the other instances (callable from any thread)."""
        env = {"kind": "message", "message": msg}
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._deliver, env)
        self._send(dict(env))

    def register(self, conn: ChatConnection) -> None:
        """Start routing the concert's frames to a socket (loop thread)."""
        self.rooms.setdefault(conn.concert_id, set()).add(conn)

    # ------------------------------------------------------------ taking grants back

    def _connections(self) -> list[ChatConnection]:
        return [c for room in self.rooms.values() for c in room]

    def _signal(self, predicate: Any, signal: str) -> int:
        hit = 0
        for conn in self._connections():
            if predicate(conn):
                conn.signals.put_nowait(signal)
                hit += 1
        return hit

    def notify_access(self, *, users: list[int] | None = None, show_id: int | None = None,
                      deleted_user: int | None = None) -> None:
        """Tell every instance (this one too) that grants may have gone (any thread)."""
        data: dict[str, Any] = {"users": list(users or []), "show_id": show_id or 0, "deleted_user": deleted_user or 0}
        if self.broadcast is not None:
            self._forget(data)  # this instance at once; the others when the notice reaches them
            self.broadcast.publish(ACCESS_CHANNEL, data)
        else:
            self.on_access_notice(data)

    def on_session_revoked(self, sid: str, _user_id: int | None = None) -> None:
        """A session was revoked (any thread): its sockets close with 4401."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._signal, lambda c: c.sid == sid, REVOKED)

    def on_access_notice(self, data: dict[str, Any]) -> None:
        """An "access changed" notice from any instance (any thread): cached answers go, the sockets concerned
        re-check."""
        self._forget(data)
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.apply_access_notice, data)

    def _forget(self, data: dict[str, Any]) -> None:
        try:
            users = {int(u) for u in data.get("users") or ()} | ({int(data["deleted_user"])}
                                                                 if data.get("deleted_user") else set())
            show_id = int(data.get("show_id") or 0)
        except (TypeError, ValueError):
            users, show_id = set(), 0
        for listener in self.access_listeners:
            try:
                listener(users, show_id)
            except Exception:
                log.exception("access listener failed")

    def apply_access_notice(self, data: dict[str, Any]) -> int:
        """Signal the sockets a notice concerns (loop thread); how many."""
        try:
            users = {int(u) for u in data.get("users") or ()}
            show_id = int(data.get("show_id") or 0)
            deleted = int(data.get("deleted_user") or 0)
        except (TypeError, ValueError):
            log.warning("ignoring a malformed access notice: %r", data)
            return 0
        hit = 0
        if deleted:
            hit += self._signal(lambda c: c.user_id == deleted, ACCOUNT_DELETED)
        if users or show_id:
            hit += self._signal(lambda c: c.user_id in users or (show_id and c.show_id == show_id), RECHECK)
        return hit

    def unregister(self, conn: ChatConnection) -> None:
        """Stop routing frames to a socket (loop thread)."""
        room = self.rooms.get(conn.concert_id)
        if room is not None:
            room.discard(conn)
            if not room:
                self.rooms.pop(conn.concert_id, None)

    def join(self, conn: ChatConnection, since: str) -> None:
        """Count the socket in the concert's presence; announce the user's first socket."""
        if self.presence.join(conn.concert_id, conn.user_id, conn.username, since):
            user = {"id": conn.user_id, "username": conn.username}
            self._fan_presence(conn.concert_id, "join", user)
            self._send({"kind": "presence", "event": "join", "concert_id": conn.concert_id, "user": user,
                        "since": since})

    def leave(self, conn: ChatConnection) -> None:
        """Uncount the socket; announce when the user's last socket here left."""
        if self.presence.leave(conn.concert_id, conn.user_id):
            user = {"id": conn.user_id, "username": conn.username}
            self._fan_presence(conn.concert_id, "leave", user)
            self._send({"kind": "presence", "event": "leave", "concert_id": conn.concert_id, "user": user})

    def typing(self, conn: ChatConnection) -> None:
        """Tell the room (other users) that someone is typing."""
        user = {"id": conn.user_id, "username": conn.username}
        self._fan_typing(conn.concert_id, user)
        self._send({"kind": "typing", "concert_id": conn.concert_id, "user": user})
