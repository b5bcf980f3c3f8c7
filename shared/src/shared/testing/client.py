"""Small helpers over the public API for end-to-end tests, fault tests and benchmarks."""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx

from shared.testing.plugin import TestUser


def create_show(user: TestUser, **extra: Any) -> dict[str, Any]:
    """Log a show for `user`."""
    body = {"artist_name": "Fault Lines", "venue_name": "Test Hall", "venue_location": "Berlin, Germany",
            "date": "2024-12-01", **extra}
    r = user.client.post("/api/shows", json=body)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def upload(user: TestUser, kind: str, show_id: int, name: str, data: bytes, mime: str) -> httpx.Response:
    """Multipart upload (fields before the file, as the API documents)."""
    return user.client.post(
        f"/api/{kind}",
        data={"show_id": str(show_id)},
        files={"file": (name, data, mime)},
        timeout=120,
    )


def media_status(user: TestUser, kind: str, media_id: int) -> dict[str, Any]:
    """The media record (`?meta=1`)."""
    r = user.client.get(f"/api/{kind}/{media_id}", params={"meta": 1})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def wait_terminal(user: TestUser, kind: str, ids: list[int], timeout_s: float) -> dict[int, str]:
    """Poll until every item is ready or failed (or the time is up); returns id -> status."""
    deadline = time.monotonic() + timeout_s
    status: dict[int, str] = {}
    while time.monotonic() < deadline:
        for mid in ids:
            if status.get(mid) in ("ready", "failed"):
                continue
            status[mid] = media_status(user, kind, mid)["status"]
        if all(s in ("ready", "failed") for s in status.values()) and len(status) == len(ids):
            break
        time.sleep(1)
    return status


def response_head_to(base_url: str, head: str, timeout: float = 10.0) -> bytes:
    """Send only a request head (its body announced, never sent) and return the response head.

    A server that needs the body before answering makes this time out: an answer proves it did not wait.
    """
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            part = sock.recv(65536)
            if not part:
                break
            data += part
    return data
