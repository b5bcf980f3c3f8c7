"""Per-IP and per-user rate limits: shared.ratelimit in-process, or Redis counters synced in batches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from shared.ratelimit import MemoryRateLimiter

log = logging.getLogger("gateway.ratelimit")


class LocalLimiter:
    """In-process fixed windows (shared.ratelimit.MemoryRateLimiter); a dict update per hit."""

    def __init__(self) -> None:
        """Create the counters."""
        self.inner = MemoryRateLimiter()

    def hit(self, key: str, limit: int, window_s: int) -> tuple[bool, int]:
        """(allowed, retry_after) after counting one hit."""
        return self.inner.hit(key, limit, window_s)

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""


class BatchedRedisLimiter:
    """Fixed windows shared by every gateway replica through Redis, without a round trip per request.

    Hits are counted locally and flushed every `flush_s` with one pipelined INCRBY/EXPIRE per key;
    the decision uses the last global total seen plus the hits not flushed yet. If Redis is down,
    the local counts keep limiting per process.
    """

    def __init__(self, url: str, flush_s: float = 0.1, prefix: str = "sms:rl:gw:") -> None:
        """Connect lazily to Redis at `url`."""
        import redis.asyncio as aioredis

        self.redis: Any = aioredis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.flush_s = flush_s
        self.prefix = prefix
        self.pending: dict[str, int] = {}
        self.inflight: dict[str, int] = {}  # flushed but not yet acknowledged: still counted locally
        self.known: dict[str, tuple[int, float]] = {}  # key -> (global count, window end)
        self.ttl: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    def hit(self, key: str, limit: int, window_s: int) -> tuple[bool, int]:
        """(allowed, retry_after) after counting one hit."""
        now = time.time()
        idx = int(now // window_s)
        full = f"{self.prefix}{key}:{window_s}:{idx}"
        n = self.pending.get(full, 0) + 1
        self.pending[full] = n
        if full not in self.ttl:
            self.ttl[full] = window_s
        known = self.known.get(full)
        total = n + self.inflight.get(full, 0) + (known[0] if known else 0)
        retry = max(1, int((idx + 1) * window_s - now + 0.999))
        return total <= limit, retry

    async def flush(self) -> None:
        """Push local counts to Redis and learn the global totals."""
        if not self.pending:
            return
        batch, self.pending = self.pending, {}
        ttls, self.ttl = self.ttl, {}
        self.inflight = batch
        now = time.time()
        try:
            pipe = self.redis.pipeline(transaction=False)
            for key, n in batch.items():
                pipe.incrby(key, n)
                pipe.expire(key, ttls.get(key, 60) + 1)
            results = await pipe.execute()
            for (key, _), total in zip(batch.items(), results[::2], strict=True):
                self.known[key] = (int(total), now + ttls.get(key, 60))
        except Exception as exc:  # Redis down: keep the counts locally
            log.warning("rate-limit flush to Redis failed: %s", exc)
            for key, n in batch.items():
                count, end = self.known.get(key, (0, now + ttls.get(key, 60)))
                self.known[key] = (count + n, end)
        self.inflight = {}
        for key in [k for k, (_, end) in self.known.items() if end < now]:
            del self.known[key]

    async def _run(self) -> None:
        """Flush periodically."""
        while True:
            await asyncio.sleep(self.flush_s)
            await self.flush()

    async def start(self) -> None:
        """Start the flushing task."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Flush once more and close the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.flush()
            await self.redis.aclose()


def make_limiter(redis_url: str | None) -> LocalLimiter | BatchedRedisLimiter:
    """Redis-backed (batched) when REDIS_URL is set, else in-process."""
    return BatchedRedisLimiter(redis_url) if redis_url else LocalLimiter()
