"""Revoking sessions on a running stack and timing how soon every process refuses their tokens.

Used by the end-to-end tests (tests/e2e/test_sessions_e2e.py) and by bench/revocation.py.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from shared.stack import Stack
from shared.testing.plugin import TestUser, register_and_login, wait_for

# how each revocation path is triggered (through the gateway, as a client would)
PATHS = ("logout", "password_change", "password_reset", "account_deletion", "sign_out_everywhere")
# one signed-in GET per process that accepts tokens
CHECKS = {
    "gateway": ("gateway", "/api/shows"),
    "auth": ("auth", "/api/auth/me"),
    "shows": ("shows", "/api/shows"),
    "media": ("media", "/api/photos"),
    "social": ("social", "/api/friends"),
}


def mailed(var_dir: Path, to: str, after: float, pattern: str, timeout_s: float = 20) -> str:
    """Group 1 of `pattern` in the newest mail to `to` written after `after` (auth's file sink)."""

    def newest() -> str | None:
        for path in sorted((var_dir / "mail").glob("*.eml"), reverse=True):
            if path.stat().st_mtime < after:
                continue
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if msg["To"] == to:
                body = msg.get_body(preferencelist=("plain",))
                match = re.search(pattern, str(body.get_content()) if body else "")
                if match:
                    return match.group(1)
        return None

    return str(wait_for(newest, timeout_s=timeout_s, what=f"a mail to {to} matching {pattern}"))


def accepted_everywhere(stack: Stack, token: str) -> None:
    """Assert every process accepts `token` now."""
    headers = {"Authorization": f"Bearer {token}"}
    for name, (svc, path) in CHECKS.items():
        r = httpx.get(stack.url(svc) + path, headers=headers, timeout=10)
        assert r.status_code == 200, f"{name}: {r.status_code} {r.text[:200]}"


def revoke(stack: Stack, user: TestUser, path: str) -> Callable[[], float]:
    """Trigger one revocation path for `user`'s session; returns a clock started when the change returned.

    The refused token is always `user.access_token`.
    """
    c = user.client
    if path == "logout":
        r = c.post("/api/auth/logout")
    elif path == "password_change":
        r = c.post("/api/auth/change-password",
                   json={"current_password": user.password, "new_password": f"moved on {uuid.uuid4().hex} again"})
    elif path == "password_reset":
        after = time.time() - 1
        assert c.post("/api/auth/forgot-password", json={"email": user.email}).status_code == 200
        token = mailed(stack.var_dir, user.email, after, r"/reset-password\?token=([A-Za-z0-9_\-]+)")
        r = httpx.post(stack.gateway_url + "/api/auth/reset-password",
                       json={"token": token, "password": f"a fresh start {uuid.uuid4().hex}"}, timeout=30)
    elif path == "account_deletion":
        r = c.request("DELETE", "/api/auth/me", json={"password": user.password})
    elif path == "sign_out_everywhere":
        r = c.post("/api/auth/sessions/revoke-all")
    else:
        raise ValueError(path)
    started = time.monotonic()
    assert r.status_code in (200, 204), f"{path}: {r.status_code} {r.text[:300]}"
    return lambda: time.monotonic() - started


def refusal_latency(stack: Stack, token: str, clock: Callable[[], float], timeout_s: float = 10.0) -> dict[str, float]:
    """Poll every process until each refuses `token` with 401; seconds after the change, per process."""
    headers = {"Authorization": f"Bearer {token}"}
    pending = dict(CHECKS)
    seen: dict[str, float] = {}
    with httpx.Client(timeout=10) as client:
        while pending and clock() < timeout_s:
            for name, (svc, path) in list(pending.items()):
                r = client.get(stack.url(svc) + path, headers=headers)
                if r.status_code == 401:
                    seen[name] = clock()
                    del pending[name]
            if pending:
                time.sleep(0.01)
    assert not pending, f"still accepted after {timeout_s}s by {sorted(pending)}"
    return seen


def concert_pair(base_url: str) -> tuple[TestUser, dict[str, Any]]:
    """A fresh user with a public show (so they may use its concert's chat)."""
    user = register_and_login(base_url)
    show = user.client.post("/api/shows", json={"artist_name": f"Band {uuid.uuid4().hex[:8]}",
                                                 "venue_name": "Hall", "date": "2026-08-01",
                                                 "visibility": "public"}).json()
    return user, show


async def socket_close(base_url: str, show_id: int, token: str, trigger: Callable[[], Any],
                       timeout_s: float = 10.0) -> tuple[int, str, float]:
    """Open the show's chat socket (listening only), run `trigger` and time until the server closes it."""
    import websockets

    url = base_url.replace("http://", "ws://") + f"/api/chat/show/{show_id}/ws"
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"},
                                  open_timeout=15) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 15))
        assert first["type"] == "history", first
        await asyncio.to_thread(trigger)
        started = time.monotonic()
        try:
            while True:
                await asyncio.wait_for(ws.recv(), max(0.05, timeout_s - (time.monotonic() - started)))
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None, "closed without a close frame"
            return closed.rcvd.code, closed.rcvd.reason, time.monotonic() - started
        except TimeoutError:
            raise AssertionError(f"the socket was still open {timeout_s}s later") from None
