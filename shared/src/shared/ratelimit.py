"""Fixed-window rate limiting, in-process by default and in Redis when REDIS_URL is set."""

from __future__ import annotations

import threading
import time
from typing import Protocol

from shared.errors import RateLimited


class RateLimiter(Protocol):
    """Counts hits per key within a window."""

    def hit(self, key: str, limit: int, window_s: int) -> tuple[bool, int]:
        """(allowed, retry_after_seconds) after counting one hit on `key`."""
        ...

    def reset(self, key: str) -> None:
        """Forget the counters of `key` (e.g. after a successful login)."""
        ...


class MemoryRateLimiter:
    """Per-process counters; fine for one replica (the embedded default)."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()
        self._last_sweep = time.monotonic()

    def hit(self, key: str, limit: int, window_s: int) -> tuple[bool, int]:
        now = time.monotonic()
        with self._lock:
            count, reset_at = self._counts.get(key, (0, now + window_s))
            if now >= reset_at:
                count, reset_at = 0, now + window_s
            count += 1
            self._counts[key] = (count, reset_at)
            if now - self._last_sweep > 60:
                self._last_sweep = now
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
        return count <= limit, max(1, int(reset_at - now + 0.999))

    def reset(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)


class RedisRateLimiter:
    """Counters shared by every replica (INCR + EXPIRE in one round trip)."""

    def __init__(self, url: str, prefix: str = "sms:rl:") -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._prefix = prefix
        self._fallback = MemoryRateLimiter()

    def hit(self, key: str, limit: int, window_s: int) -> tuple[bool, int]:
        full = self._prefix + key
        try:
            pipe = self._redis.pipeline()
            pipe.incr(full)
            pipe.expire(full, window_s, nx=True)
            pipe.ttl(full)
            count, _, ttl = pipe.execute()
        except Exception:  # Redis down: keep limiting per process rather than not at all
            return self._fallback.hit(key, limit, window_s)
        return int(count) <= limit, max(1, int(ttl if ttl and ttl > 0 else window_s))

    def reset(self, key: str) -> None:
        try:
            self._redis.delete(self._prefix + key)
        except Exception:
            self._fallback.reset(key)


def make_rate_limiter(redis_url: str | None) -> RateLimiter:
    """Redis-backed when a URL is configured, else in-process."""
    return RedisRateLimiter(redis_url) if redis_url else MemoryRateLimiter()


def enforce(limiter: RateLimiter, key: str, limit: int, window_s: int, message: str | None = None) -> None:
    """Count a hit and raise RateLimited (429 + Retry-After) when over the limit."""
    allowed, retry_after = limiter.hit(key, limit, window_s)
    if not allowed:
        raise RateLimited(retry_after, message)
