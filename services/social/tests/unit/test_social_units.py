"""Pure pieces: mentions, friend-id coercion, presence merging, per-socket dedupe, the access cache."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydantic import ValidationError

from shared.errors import ServiceUnavailable
from shared.internal import InternalClient
from social.chat import ChatConnection
from social.clients import ShowsClient
from social.exceptions import ShowNotFound
from social.models import User
from social.presence import Presence
from social.schemas import ChatMessageCreate, FriendRequestCreate
from social.service import mention_candidates, resolve_mentions, status_for


def test_mentions() -> None:
    assert mention_candidates("hi @bob, @al.ice. and mail x@y.z @@no") == ["bob", "al.ice."]
    known = {"bob": User(id=2, username="Bob", username_lower="bob"),
             "al.ice": User(id=3, username="al.ice", username_lower="al.ice")}
    assert resolve_mentions("@BOB @al.ice. @bob @ghost", known) == [
        {"username": "Bob", "user_id": 2}, {"username": "al.ice", "user_id": 3}]


@pytest.mark.parametrize(("raw", "ok"), [(5, True), ("5", True), (" 5 ", True), ("5.0", False), (True, False),
                                         (5.5, False), ("-5", False), ("", False)])
def test_friend_id_coercion(raw: object, ok: bool) -> None:
    if ok:
        assert FriendRequestCreate(friend_id=raw).friend_id == 5  # type: ignore[arg-type]
    else:
        with pytest.raises(ValidationError):
            FriendRequestCreate(friend_id=raw)  # type: ignore[arg-type]


def test_chat_body_aliases() -> None:
    assert ChatMessageCreate(text="  hi ").message == "hi"
    assert ChatMessageCreate(message="a", text="b").message == "a"
    with pytest.raises(ValidationError):
        ChatMessageCreate()


def test_status_for() -> None:
    from social.models import Friendship

    assert status_for(None, 1) == "none"
    assert status_for(Friendship(user_id=1, friend_id=2, status="pending"), 1) == "pending_outgoing"
    assert status_for(Friendship(user_id=1, friend_id=2, status="pending"), 2) == "pending_incoming"
    assert status_for(Friendship(user_id=1, friend_id=2, status="accepted"), 2) == "accepted"


def test_presence_local_and_remote() -> None:
    p = Presence(ttl_s=30)
    assert p.join(7, 1, "a", "2026-01-01T00:00:01Z") is True
    assert p.join(7, 1, "a", "2026-01-01T00:00:02Z") is False  # second tab
    p.apply_remote("other", "join", 7, {"id": 2, "username": "b"}, "2026-01-01T00:00:00Z")
    p.apply_remote("other", "join", 7, {"id": 1, "username": "a"}, "2026-01-01T00:00:00Z")
    assert [(u["user_id"], u["since"]) for u in p.users(7)] == [(1, "2026-01-01T00:00:00Z"),
                                                               (2, "2026-01-01T00:00:00Z")]
    assert p.leave(7, 1) is False and p.leave(7, 1) is True
    p.apply_sync("other", {"7": [{"id": 3, "username": "c", "since": "x"}]})
    assert [u["user_id"] for u in p.users(7)] == [3]
    p.ttl_s = -1  # the other instance stopped sending heartbeats
    assert p.users(7) == []


def test_connection_dedupes_message_ids() -> None:
    async def run() -> list[str | None]:
        conn = ChatConnection(1, "a", 7)
        conn.mark_seen(1)
        conn.offer("m1", 1)
        conn.offer("m2", 2)
        conn.offer("m2 again", 2)
        conn.offer("presence")
        conn.offer("presence")
        return [conn.queue.get_nowait() for _ in range(conn.queue.qsize())]

    assert asyncio.run(run()) == ["m2", "presence", "presence"]


def _shows(handler, ttl: float = 60.0) -> ShowsClient:
    client = InternalClient("http://shows.test", "t", service="shows")
    client._client = httpx.Client(transport=httpx.MockTransport(handler), headers=dict(client._client.headers))
    return ShowsClient(client, ttl_s=ttl)


def test_access_cache_and_errors() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path.startswith("/internal/shows/404"):
            return httpx.Response(404, json={})
        assert request.headers["X-Internal-Token"] == "t"
        return httpx.Response(200, json={"show_id": 1, "owner_id": 2, "concert_id": 3, "can_view": True,
                                         "extra": "ignored"})

    shows = _shows(handler)
    assert shows.access(1, 5).concert_id == 3
    assert shows.access(1, 5).can_view and len(calls) == 1  # cached
    shows.forget(1)
    shows.access(1, 5)
    assert len(calls) == 2
    with pytest.raises(ShowNotFound):
        shows.access(404, 5)
    with pytest.raises(ShowNotFound):
        shows.access(404, 5)
    assert len(calls) == 3  # the 404 is cached too

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ServiceUnavailable):
        _shows(down).access(1, 1)
