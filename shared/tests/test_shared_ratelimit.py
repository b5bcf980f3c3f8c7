"""Fixed-window limits, in memory and in Redis."""

from __future__ import annotations

import uuid

import pytest

from shared.errors import RateLimited
from shared.ratelimit import MemoryRateLimiter, RedisRateLimiter, enforce


def test_memory_limiter_blocks_after_limit() -> None:
    rl = MemoryRateLimiter()
    assert [rl.hit("k", 3, 60)[0] for _ in range(4)] == [True, True, True, False]
    allowed, retry = rl.hit("k", 3, 60)
    assert not allowed and 1 <= retry <= 60
    rl.reset("k")
    assert rl.hit("k", 3, 60)[0]


def test_enforce_raises_429() -> None:
    rl = MemoryRateLimiter()
    enforce(rl, "x", 1, 10)
    with pytest.raises(RateLimited) as err:
        enforce(rl, "x", 1, 10)
    assert err.value.headers["Retry-After"]


def test_redis_limiter_is_shared_between_instances() -> None:
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=0.5).ping()
    except Exception:
        pytest.fail("Redis is not reachable on 127.0.0.1:6379: start it with "
                    "`redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save ''`", pytrace=False)
    key = uuid.uuid4().hex
    a, b = RedisRateLimiter("redis://127.0.0.1:6379/0"), RedisRateLimiter("redis://127.0.0.1:6379/0")
    assert a.hit(key, 2, 30)[0] and b.hit(key, 2, 30)[0]
    assert not a.hit(key, 2, 30)[0]
