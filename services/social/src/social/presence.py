"""Who is connected to each concert's chat: this instance's sockets plus other instances' (via the bus)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("social.presence")

@dataclass
class _Here:
    username: str
    since: str
    connections: int = 0


@dataclass
class _Remote:
    seen_at: float
    rooms: dict[int, dict[int, tuple[str, str]]] = field(default_factory=dict)


class Presence:
    """Presence per concert; remote instances are forgotten when their heartbeats stop (TTL)."""

    def __init__(self, ttl_s: float = 30.0) -> None:
        self.ttl_s = ttl_s
        self._local: dict[int, dict[int, _Here]] = {}
        self._remote: dict[str, _Remote] = {}
        self._lock = threading.Lock()

    def join(self, concert_id: int, user_id: int, username: str, since: str) -> bool:
        """Count a local socket; True when it is the user's first here."""
        with self._lock:
            room = self._local.setdefault(concert_id, {})
            here = room.get(user_id)
            if here is None:
                here = room[user_id] = _Here(username, since)
            here.connections += 1
            return here.connections == 1

    def leave(self, concert_id: int, user_id: int) -> bool:
        """Uncount a local socket; True when it was the user's last here."""
        with self._lock:
            room = self._local.get(concert_id, {})
            here = room.get(user_id)
            if here is None:
                return False
            here.connections -= 1
            if here.connections > 0:
                return False
            del room[user_id]
            if not room:
                self._local.pop(concert_id, None)
            return True

    def local_users(self, concert_id: int) -> dict[int, tuple[str, str]]:
        """This instance's users of a concert: id → (username, since)."""
        with self._lock:
            return {uid: (h.username, h.since) for uid, h in self._local.get(concert_id, {}).items()}

    def heartbeat(self) -> None:
        """Refresh shared state (nothing to do in memory; the bus heartbeat carries the snapshot)."""

    def snapshot(self) -> dict[int, list[dict[str, Any]]]:
        """This instance's rooms (sent as a heartbeat to the others)."""
        with self._lock:
            return {
                cid: [{"id": uid, "username": h.username, "since": h.since} for uid, h in room.items()]
                for cid, room in self._local.items()
            }

    def apply_remote(self, instance: str, event: str, concert_id: int, user: dict[str, Any], since: str) -> None:
        """Record another instance's join/leave."""
        with self._lock:
            remote = self._remote.setdefault(instance, _Remote(seen_at=time.monotonic()))
            remote.seen_at = time.monotonic()
            room = remote.rooms.setdefault(concert_id, {})
            if event == "join":
                room[int(user["id"])] = (str(user["username"]), since)
            else:
                room.pop(int(user["id"]), None)

    def apply_sync(self, instance: str, rooms: dict[str, list[dict[str, Any]]]) -> None:
        """Replace what we know about another instance with its heartbeat snapshot."""
        with self._lock:
            self._remote[instance] = _Remote(
                seen_at=time.monotonic(),
                rooms={int(cid): {int(u["id"]): (str(u["username"]), str(u["since"])) for u in users}
                       for cid, users in rooms.items()},
            )

    def forget(self, instance: str) -> None:
        """Drop an instance that said goodbye."""
        with self._lock:
            self._remote.pop(instance, None)

    def users(self, concert_id: int) -> list[dict[str, Any]]:
        """Everyone connected to the concert on any live instance (earliest `since` per user)."""
        now = time.monotonic()
        merged: dict[int, dict[str, Any]] = {}
        with self._lock:
            for uid, h in self._local.get(concert_id, {}).items():
                merged[uid] = {"user_id": uid, "username": h.username, "since": h.since}
            for inst, remote in list(self._remote.items()):
                if now - remote.seen_at > self.ttl_s:
                    del self._remote[inst]
                    continue
                for uid, (name, since) in remote.rooms.get(concert_id, {}).items():
                    cur = merged.get(uid)
                    if cur is None or since < cur["since"]:
                        merged[uid] = {"user_id": uid, "username": name, "since": since}
        return sorted(merged.values(), key=lambda u: (u["since"], u["user_id"]))


class RedisPresence(Presence):
    """Presence shared by every replica through Redis: one hash per concert, fields refreshed by heartbeats.

    Field `"{instance}:{user_id}"` → `{"username", "since", "ts"}`; readers ignore fields whose `ts` is older
    than the TTL (a crashed replica's users fade out) and the hash itself expires when nobody refreshes it.
    When Redis is unreachable it falls back to what the bus told this instance (the in-process view).
    """

    def __init__(self, url: str, instance_id: str, ttl_s: float = 30.0, prefix: str = "sms:presence:") -> None:
        super().__init__(ttl_s)
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.instance_id = instance_id
        self.prefix = prefix

    def _key(self, concert_id: int) -> str:
        return f"{self.prefix}{concert_id}"

    def _write(self, concert_id: int, user_id: int, username: str, since: str) -> None:
        import json

        value = json.dumps({"username": username, "since": since, "ts": time.time()})
        pipe = self._redis.pipeline()
        pipe.hset(self._key(concert_id), f"{self.instance_id}:{user_id}", value)
        pipe.expire(self._key(concert_id), int(self.ttl_s * 2) + 1)
        pipe.execute()

    def join(self, concert_id: int, user_id: int, username: str, since: str) -> bool:
        """Count a local socket and publish the user's presence in Redis."""
        first = super().join(concert_id, user_id, username, since)
        if first:
            try:
                self._write(concert_id, user_id, username, since)
            except Exception as exc:  # Redis down: the bus view still works
                log.warning("presence: redis write failed: %s", exc)
        return first

    def leave(self, concert_id: int, user_id: int) -> bool:
        """Uncount a local socket; remove the user's field when it was the last one here."""
        last = super().leave(concert_id, user_id)
        if last:
            try:
                self._redis.hdel(self._key(concert_id), f"{self.instance_id}:{user_id}")
            except Exception as exc:
                log.warning("presence: redis delete failed: %s", exc)
        return last

    def heartbeat(self) -> None:
        """Refresh this instance's fields (called every TTL/3)."""
        try:
            for concert_id, users in self.snapshot().items():
                for u in users:
                    self._write(concert_id, int(u["id"]), str(u["username"]), str(u["since"]))
        except Exception as exc:
            log.warning("presence: redis heartbeat failed: %s", exc)

    def users(self, concert_id: int) -> list[dict[str, Any]]:
        """Everyone connected to the concert on any replica, from Redis (bus view if Redis is down)."""
        import json

        try:
            raw = self._redis.hgetall(self._key(concert_id))
        except Exception as exc:
            log.warning("presence: redis read failed, using the local view: %s", exc)
            return super().users(concert_id)
        cutoff = time.time() - self.ttl_s
        merged: dict[int, dict[str, Any]] = {}
        for uid, h in self.local_users(concert_id).items():
            merged[uid] = {"user_id": uid, "username": h[0], "since": h[1]}
        for field_name, value in raw.items():
            try:
                uid = int(field_name.decode().rsplit(":", 1)[1])
                data = json.loads(value)
            except (ValueError, IndexError):
                continue
            if float(data.get("ts", 0)) < cutoff:
                continue
            cur = merged.get(uid)
            if cur is None or data["since"] < cur["since"]:
                merged[uid] = {"user_id": uid, "username": data["username"], "since": data["since"]}
        return sorted(merged.values(), key=lambda u: (u["since"], u["user_id"]))
