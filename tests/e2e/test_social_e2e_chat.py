"""Live chat end to end: sockets through the gateway and straight to a second social instance (RabbitMQ)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import websockets

from shared.testing.plugin import extra_instance

pytestmark = pytest.mark.e2e


@pytest.fixture
def second_social(stack: Any) -> Iterator[str]:
    """Another social process on the same database and broker (the gateway keeps using the first)."""
    with extra_instance(stack, "social") as url:
        yield url


def _concert(make_user: Any) -> tuple[Any, Any, Any, dict[str, Any], dict[str, Any]]:
    """Two users who both logged the same concert (public shows), and one who did not."""
    a, b, outsider = make_user(), make_user(), make_user()
    body = {"artist_name": f"Chat Band {uuid.uuid4().hex[:8]}", "venue_name": "Chat Hall", "date": "2026-07-04",
            "visibility": "public"}
    show_a = a.client.post("/api/shows", json=body).json()
    show_b = b.client.post("/api/shows", json=body).json()
    assert show_a["concert_id"] == show_b["concert_id"]
    return a, b, outsider, show_a, show_b


def _ws(base: str, show_id: int, token: str | None, query: str = "") -> Any:
    url = base.replace("http://", "ws://") + f"/api/chat/show/{show_id}/ws{query}"
    return websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"} if token else None,
                              open_timeout=15)


async def _frame(ws: Any, kind: str, wait_s: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + wait_s
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), max(0.05, deadline - time.monotonic())))
        if frame["type"] == kind:
            return frame


async def _messages(ws: Any, want: int, wait_s: float = 15.0, settle: float = 1.0) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and len(got) < want:
        try:
            got.append(await _frame(ws, "message", deadline - time.monotonic()))
        except TimeoutError:
            break
    end = time.monotonic() + settle
    while time.monotonic() < end:
        try:
            got.append(await _frame(ws, "message", end - time.monotonic()))
        except TimeoutError:
            break
    return got


def test_chat_across_two_instances_through_the_gateway(stack: Any, make_user: Any, second_social: str) -> None:
    a, b, _, show_a, show_b = _concert(make_user)
    gateway = stack.gateway_url

    async def scenario() -> None:
        async with _ws(gateway, show_a["id"], a.access_token) as wa, \
                _ws(second_social, show_b["id"], b.access_token) as wb:
            assert (await _frame(wa, "history"))["messages"] == []
            await _frame(wb, "history")
            for i in range(3):
                await wa.send(json.dumps({"type": "message", "message": f"a{i}"}))
                await wb.send(json.dumps({"type": "message", "text": f"b{i}"}))
            got_a, got_b = await asyncio.gather(_messages(wa, 6), _messages(wb, 6))
            for got in (got_a, got_b):
                assert sorted(m["message"] for m in got) == ["a0", "a1", "a2", "b0", "b1", "b2"]
                assert len({m["id"] for m in got}) == 6
            last = max(m["id"] for m in got_a)
            # malformed frames get an error frame and the socket keeps working
            await wa.send("not json")
            assert (await _frame(wa, "error"))["code"] == "bad_frame"
        r = await asyncio.to_thread(b.client.post, f"/api/chat/show/{show_b['id']}/messages",
                                    json={"message": "while a was away"})
        assert r.status_code == 201
        async with _ws(gateway, show_a["id"], a.access_token, f"?after={last}") as wa:
            hist = await _frame(wa, "history")
            assert [m["message"] for m in hist["messages"]] == ["while a was away"]

    asyncio.run(scenario())
    page = a.client.get(f"/api/chat/show/{show_a['id']}/messages?limit=3").json()
    assert [m["message"] for m in page["messages"]][-1] == "while a was away" and page["has_more"] is True


def test_chat_refusals_and_rate_limit(stack: Any, make_user: Any) -> None:
    a, _, outsider, show_a, _ = _concert(make_user)
    gateway = stack.gateway_url

    async def refused(token: str | None, show_id: int) -> int:
        try:
            async with _ws(gateway, show_id, token) as ws:
                with pytest.raises(websockets.ConnectionClosed) as info:
                    await _frame(ws, "history")
                return info.value.rcvd.code if info.value.rcvd else 1006
        except websockets.InvalidStatus as exc:  # the gateway refuses bad tokens at the handshake
            return exc.response.status_code

    async def scenario() -> None:
        assert await refused(None, show_a["id"]) in (401, 4401)
        assert await refused("not-a-token", show_a["id"]) in (401, 4401)
        assert await refused(outsider.access_token, show_a["id"]) == 4403  # public show, not at the concert
        assert await refused(a.access_token, 2_000_000_000) == 4404
        async with _ws(gateway, show_a["id"], a.access_token) as ws:
            await _frame(ws, "history")
            for i in range(6):
                await ws.send(json.dumps({"type": "message", "message": f"spam {i}"}))
            frames = []
            while len(frames) < 6:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
                if frame["type"] in ("message", "error"):
                    frames.append(frame.get("code", "ok"))
            assert frames.count("ok") == 5 and frames.count("rate_limited") == 1

    asyncio.run(scenario())
