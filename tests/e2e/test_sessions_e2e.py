"""Sessions end to end on the real stack (PostgreSQL, RabbitMQ): every revocation path is refused by the
gateway and by each service within 5 s, a deleted account's token creates nothing, and open chat sockets
lose their grant (4401 after logout, 4403 after unfriending, 1013 when shows cannot be asked)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from shared.stack import Stack
from shared.testing.plugin import TestUser, extra_instance, wait_for
from shared.testing.revocation import PATHS, accepted_everywhere, refusal_latency, revoke, socket_close
from shared.testing.tcpproxy import TcpProxy

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("path", PATHS)
def test_revoked_session_is_refused_everywhere_within_5s(stack: Stack, make_user: Any, path: str) -> None:
    user: TestUser = make_user()
    accepted_everywhere(stack, user.access_token)
    clock = revoke(stack, user, path)
    seen = refusal_latency(stack, user.access_token, clock, timeout_s=10)
    print(f"{path}: refused after " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in sorted(seen.items())))
    assert max(seen.values()) < 5.0, seen


def test_deleted_accounts_token_gets_401_and_creates_nothing(stack: Stack, make_user: Any) -> None:
    gone, other = make_user(), make_user()
    show = other.client.post("/api/shows", json={"artist_name": f"Band {uuid.uuid4().hex[:8]}", "venue_name": "Hall",
                                                  "date": "2026-08-01", "visibility": "public"}).json()
    token = gone.access_token
    clock = revoke(stack, gone, "account_deletion")
    refusal_latency(stack, token, clock)
    headers = {"Authorization": f"Bearer {token}"}
    attempts = [
        ("gateway", "POST", "/api/shows", {"artist_name": "Ghost", "venue_name": "Void", "date": "2026-01-01"}),
        ("shows", "POST", "/api/shows", {"artist_name": "Ghost", "venue_name": "Void", "date": "2026-01-01"}),
        ("social", "POST", "/api/friends/request", {"friend_id": other.id}),
        ("social", "POST", "/api/comments", {"show_id": show["id"], "text": "from beyond"}),
        ("gateway", "POST", "/api/comments", {"show_id": show["id"], "text": "from beyond"}),
        ("social", "POST", f"/api/chat/show/{show['id']}/messages", {"message": "boo"}),
    ]
    for svc, method, path, body in attempts:
        r = httpx.request(method, stack.url(svc) + path, json=body, headers=headers, timeout=10)
        assert r.status_code == 401, (svc, path, r.status_code, r.text)
    internal = {"X-Internal-Token": stack.base_env["INTERNAL_TOKEN"]}
    assert httpx.get(f"{stack.url('shows')}/internal/users/{gone.id}/shows", headers=internal).json()["total"] == 0
    assert httpx.get(f"{stack.url('social')}/internal/users/{gone.id}/counts", headers=internal).json() == {
        "comments": 0, "friends": 0}
    assert other.client.get("/api/friends/requests", params={"direction": "incoming"}).json()["total"] == 0
    assert other.client.get(f"/api/comments/show/{show['id']}").json()["total"] == 0


def _friends_at_a_concert(make_user: Any) -> tuple[TestUser, TestUser, dict[str, Any], int]:
    """An owner's friends-only show, and a friend who logged the same concert: the friend may chat on it."""
    owner, friend = make_user(), make_user()
    concert = {"artist_name": f"Band {uuid.uuid4().hex[:8]}", "venue_name": "Hall", "date": "2026-08-01"}
    show = owner.client.post("/api/shows", json={**concert, "visibility": "friends"}).json()
    mine = friend.client.post("/api/shows", json={**concert, "visibility": "private"}).json()
    assert mine["concert_id"] == show["concert_id"]
    req = wait_for(lambda: (lambda r: r if r.status_code in (200, 201) else None)(
        owner.client.post("/api/friends/request", json={"friend_id": friend.id})), 30, what="a friend request")
    fid = req.json()["id"]
    assert friend.client.post(f"/api/friends/request/{fid}/accept").status_code == 200
    wait_for(lambda: friend.client.get(f"/api/shows/{show['id']}").status_code == 200, 30,
             what="shows' copy of the friendship")
    return owner, friend, show, fid


def test_listening_chat_socket_closed_4401_after_logout(stack: Stack, make_user: Any) -> None:
    _, friend, show, _ = _friends_at_a_concert(make_user)
    code, reason, took = asyncio.run(socket_close(stack.gateway_url, show["id"], friend.access_token,
                                                  lambda: friend.client.post("/api/auth/logout")))
    print(f"socket closed {took * 1000:.0f} ms after logout")
    assert (code, reason) == (4401, "You were signed out.")
    assert took < 5.0


def test_listening_chat_socket_closed_4403_after_unfriending(stack: Stack, make_user: Any) -> None:
    owner, friend, show, fid = _friends_at_a_concert(make_user)
    code, reason, took = asyncio.run(socket_close(stack.gateway_url, show["id"], friend.access_token,
                                                  lambda: owner.client.delete(f"/api/friends/{fid}")))
    print(f"socket closed {took * 1000:.0f} ms after unfriending")
    assert (code, reason) == (4403, "You no longer have access to this show.")
    assert took < 5.0
    # and nothing else lets the ex-friend back in (the REST chat asks shows with social's answer)
    r = friend.client.get(f"/api/chat/show/{show['id']}/messages")
    assert r.status_code in (403, 404)


@pytest.fixture
def social_behind_a_cuttable_shows(stack: Stack) -> Iterator[tuple[str, TcpProxy]]:
    """A second social instance that reaches shows through a proxy the test can cut; re-checks every second."""
    proxy = TcpProxy("127.0.0.1", int(stack.url("shows").rsplit(":", 1)[1]))
    try:
        with extra_instance(stack, "social", SHOWS_URL=proxy.url, SOCIAL_CHAT_RECHECK_S="1",
                            SOCIAL_ACCESS_CACHE_TTL_S="0") as url:
            yield url, proxy
    finally:
        proxy.close()


def test_socket_rechecked_while_shows_is_down_is_closed(
    stack: Stack, make_user: Any, social_behind_a_cuttable_shows: tuple[str, TcpProxy]
) -> None:
    url, proxy = social_behind_a_cuttable_shows
    _, friend, show, _ = _friends_at_a_concert(make_user)
    code, reason, took = asyncio.run(socket_close(url, show["id"], friend.access_token, proxy.down))
    proxy.up()
    print(f"socket closed {took * 1000:.0f} ms after shows went away")
    assert code == 1013 and "cannot be checked" in reason
    assert took < 5.0
