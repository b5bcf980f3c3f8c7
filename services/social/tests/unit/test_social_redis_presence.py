"""Presence through Redis (a real redis-server on a free port): replicas see each other's users."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.stack import free_port
from social.presence import RedisPresence


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


def test_replicas_share_presence(redis_url: str) -> None:
    one = RedisPresence(redis_url, "one", ttl_s=30)
    two = RedisPresence(redis_url, "two", ttl_s=30)
    assert one.join(5, 1, "ann", "2026-01-01T00:00:02Z")
    assert two.join(5, 2, "ben", "2026-01-01T00:00:01Z")
    assert two.join(5, 1, "ann", "2026-01-01T00:00:03Z")  # ann has a second tab on the other replica
    users = one.users(5)
    assert [(u["user_id"], u["since"]) for u in users] == [(2, "2026-01-01T00:00:01Z"), (1, "2026-01-01T00:00:02Z")]
    assert one.leave(5, 1)
    assert {u["user_id"] for u in one.users(5)} == {1, 2}  # still on replica two
    assert two.leave(5, 1) and two.leave(5, 2)
    assert one.users(5) == []
    assert one.users(6) == []


def test_stale_fields_fade_out_and_heartbeat_refreshes(redis_url: str) -> None:
    one = RedisPresence(redis_url, "one", ttl_s=1)
    reader = RedisPresence(redis_url, "reader", ttl_s=1)
    one.join(7, 1, "ann", "x")
    assert [u["user_id"] for u in reader.users(7)] == [1]
    time.sleep(1.2)
    assert reader.users(7) == []  # no heartbeat: as if replica one crashed
    one.heartbeat()
    assert [u["user_id"] for u in reader.users(7)] == [1]


def test_redis_down_falls_back_to_local_view() -> None:
    p = RedisPresence(f"redis://127.0.0.1:{free_port()}/0", "solo", ttl_s=30)
    assert p.join(1, 1, "ann", "x")
    assert [u["user_id"] for u in p.users(1)] == [1]
    assert p.leave(1, 1)
