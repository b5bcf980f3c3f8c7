"""Issue 16 end to end through the gateway (PostgreSQL, RabbitMQ, every service as a real process):
notifications (live on the socket, once even when the event is delivered twice), the email digest and its
unsubscribe link, direct messages and blocking, share links, friends' positions at a concert."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import pytest
import websockets

from shared.events import CommentCreatedV1, make_envelope
from shared.messaging import EventBus
from shared.settings import BaseServiceSettings
from shared.testing.plugin import TestUser, wait_for
from shared.testing.revocation import mailed

pytestmark = pytest.mark.e2e


class _Settings(BaseServiceSettings):
    service_name = "together-e2e"


def _bus(stack_env: dict[str, str]) -> EventBus:
    return EventBus(_Settings(BROKER_URL=stack_env["BROKER_URL"], VAR_DIR="/tmp"))


def _show(user: TestUser, visibility: str = "friends", **kw: Any) -> dict[str, Any]:
    body = {"artist_name": f"Band {uuid.uuid4().hex[:8]}", "venue_name": "The Hall", "date": "2026-06-01",
            "visibility": visibility, **kw}
    r = user.client.post("/api/shows", json=body)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _befriend(a: TestUser, b: TestUser) -> int:
    def ask() -> httpx.Response | None:
        r = a.client.post("/api/friends/request", json={"friend_id": b.id})
        return r if r.status_code in (200, 201) else None

    req = wait_for(ask, 30, what="social to know the new users").json()
    r = b.client.post(f"/api/friends/request/{req['id']}/accept")
    assert r.status_code == 200, r.text
    return int(req["id"])


def _notifications(user: TestUser, **params: Any) -> dict[str, Any]:
    r = user.client.get("/api/notifications", params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _of_type(user: TestUser, kind: str) -> list[dict[str, Any]]:
    return [n for n in _notifications(user, limit=100)["notifications"] if n["type"] == kind]


async def _frame(ws: Any, kind: str, wait_s: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + wait_s
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), max(0.05, deadline - time.monotonic())))
        if frame["type"] == kind:
            return frame  # type: ignore[no-any-return]


def _ws(api: httpx.Client, path: str, user: TestUser) -> Any:
    url = str(api.base_url).rstrip("/").replace("http://", "ws://") + path
    return websockets.connect(url, additional_headers=user.headers(), open_timeout=15)


def test_a_comment_notifies_the_owner_live_and_once_even_when_delivered_twice(
    api: httpx.Client, make_user: Any, stack_env: dict[str, str]
) -> None:
    owner, friend, stranger = make_user(), make_user(), make_user()
    _befriend(owner, friend)
    show = _show(owner, "friends")

    async def scenario() -> dict[str, Any]:
        async with _ws(api, "/api/notifications/ws", owner) as ws:
            assert (await _frame(ws, "hello"))["unread"] >= 0
            r = await asyncio.to_thread(friend.client.post, "/api/comments",
                                        json={"show_id": show["id"], "text": f"great show @{stranger.username}"})
            assert r.status_code == 201, r.text
            return await _frame(ws, "notification")

    frame = asyncio.run(scenario())["notification"]
    assert frame["type"] == "comment" and frame["actor"] == {"id": friend.id, "username": friend.username}
    assert frame["show_id"] == show["id"]
    comment_id = _of_type(owner, "comment")[0]["id"]
    # the same fact published again, as a relay that crashed after publishing would: no second notification
    comment = friend.client.get(f"/api/comments/show/{show['id']}").json()["comments"][0]
    event = CommentCreatedV1(comment_id=comment["id"], show_id=show["id"], user_id=friend.id)
    env = make_envelope(event, "social").model_dump(mode="json")
    bus = _bus(stack_env)
    with bus.connection() as conn:
        bus.publish_envelopes(conn, [env, env, make_envelope(event, "social").model_dump(mode="json")])
    time.sleep(3)
    got = _of_type(owner, "comment")
    assert [n["id"] for n in got] == [comment_id]
    # the stranger was mentioned on a show they may not see: told nothing
    assert _notifications(stranger)["total"] == 0
    assert owner.client.post("/api/notifications/read", json={"all": True}).json()["unread"] == 0


def test_a_digest_mail_lands_in_the_outbox_and_its_unsubscribe_link_works_without_login(
    api: httpx.Client, make_user: Any, stack: Any, stack_env: dict[str, str]
) -> None:
    owner, friend = make_user(), make_user()
    _befriend(owner, friend)
    show = _show(owner, "friends")
    assert friend.client.post("/api/comments", json={"show_id": show["id"], "text": "digest me"}).status_code == 201
    wait_for(lambda: _of_type(owner, "comment"), 20, what="the comment notification")
    started = time.time() - 1
    internal = {"X-Internal-Token": stack_env["INTERNAL_TOKEN"]}
    social = stack.url("social")
    wait_for(lambda: httpx.post(f"{social}/internal/notifications/digest", headers=internal, timeout=10)
             .json()["sent"] >= 1 or None, 20, what="a digest pass that mails the owner")
    link = mailed(stack.var_dir, owner.email, started, r"(/api/public/unsubscribe\?u=\d+&s=[0-9a-f]{64})")
    page = api.get(link)  # anonymous: no token at all
    assert page.status_code == 200 and "Stop all notification emails" in page.text
    assert api.post(link).status_code == 200
    prefs = owner.client.get("/api/notifications/preferences").json()["email"]
    assert not any(prefs.values())
    assert api.post(link[:-1] + ("0" if link[-1] != "0" else "1")).status_code == 404
