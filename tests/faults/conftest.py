"""Fault injection: each test gets its own full-mode stack (fresh databases, vhost, S3 behind a cuttable proxy)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from shared.stack import Stack, free_port
from shared.testing.infra import FullModeEnv, ServerMissing
from shared.testing.plugin import TestUser, register_and_login
from shared.testing.tcpproxy import TcpProxy


@dataclass
class FaultStack:
    """A running stack plus handles on the things we break."""

    stack: Stack
    env: FullModeEnv
    s3_proxy: TcpProxy
    counts: dict[str, int] = field(default_factory=lambda: {"attempted": 0, "stored": 0, "ready": 0, "failed": 0,
                                                             "rejected": 0, "lost": 0})

    def user(self) -> TestUser:
        """A fresh signed-in user."""
        return register_and_login(self.stack.gateway_url)

    def report(self, name: str) -> None:
        """Print the counts the issue asks every fault test to report."""
        print(f"\n[{name}] " + ", ".join(f"{k}={v}" for k, v in self.counts.items()))


@pytest.fixture
def fault_stack(tmp_path: Path) -> Iterator[Callable[..., FaultStack]]:
    """`fault_stack(**env_overrides)` starts a stack; everything is torn down after the test."""
    made: list[FaultStack] = []

    def make(workers: int = 1, **overrides: str) -> FaultStack:
        env = FullModeEnv()
        try:
            full = env.create()
        except ServerMissing as exc:
            pytest.fail(str(exc), pytrace=False)
        assert env.s3 is not None
        proxy = TcpProxy("127.0.0.1", int(env.s3.endpoint.rsplit(":", 1)[1]))
        base = dict(os.environ)
        base.update(full)
        base.update(
            {
                "ENV": "testing",
                "S3_ENDPOINT_URL": proxy.url,
                "INTERNAL_TOKEN": secrets.token_urlsafe(16),
                "GATEWAY_RATE_LIMIT_IP": "100000",
                "GATEWAY_RATE_LIMIT_USER": "100000",
                "MEDIA_UPLOAD_RATE_LIMIT": "0",  # one user drives the bursts
                "MEDIA_SWEEP_INTERVAL_S": "3",
                "MEDIA_REQUEUE_AFTER_S": "20",
                **overrides,
            }
        )
        ports = {name: free_port() for name in ("gateway", "auth", "shows", "media", "social")}
        stack = Stack(tmp_path / f"var{len(made)}", env=base, ports=ports, worker_count=workers)
        fs = FaultStack(stack, env, proxy)
        made.append(fs)
        stack.start(timeout_s=120)
        return fs

    yield make
    for fs in made:
        fs.stack.stop()
        fs.s3_proxy.close()
        fs.env.destroy()
