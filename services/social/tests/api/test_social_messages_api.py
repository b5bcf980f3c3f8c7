"""Direct messages (friends only, history kept after unfriending, read markers, live on the socket) and
blocking (stops messages, friend requests and mentions)."""

from __future__ import annotations

from typing import Any

import pytest

A, B, C = 1, 2, 3


@pytest.fixture
def pals(social: Any) -> Any:
    """A and B are friends; C is a stranger to both."""
    social.add_user(A, "ann")
    social.add_user(B, "ben")
    social.add_user(C, "cat")
    social.befriend(A, B)
    return social


def _send(social: Any, sender: int, to: int, text: str) -> Any:
    return social.client.post(f"/api/messages/{to}", json={"text": text}, headers=social.headers(sender))


def test_friends_message_each_other_with_read_markers(pals: Any) -> None:
    c = pals.client
    first = _send(pals, A, B, "  hi ben  ")
    assert first.status_code == 201
    m = first.json()
    assert m["text"] == "hi ben" and m["sender"] == {"id": A, "username": "ann"} and m["read_at"] is None
    assert _send(pals, B, A, "hi ann").status_code == 201
    _send(pals, A, B, "see you there")
    convs = c.get("/api/messages", headers=pals.headers(B)).json()
    assert convs["total"] == 1
    conv = convs["conversations"][0]
    assert conv["user"] == {"id": A, "username": "ann"} and conv["unread"] == 2 and conv["can_send"] is True
    assert conv["last_message"]["text"] == "see you there"
    page = c.get(f"/api/messages/{A}", params={"limit": 2}, headers=pals.headers(B)).json()
    assert [x["text"] for x in page["messages"]] == ["hi ann", "see you there"] and page["has_more"] is True
    older = c.get(f"/api/messages/{A}", params={"before": page["messages"][0]["id"]}, headers=pals.headers(B)).json()
    assert [x["text"] for x in older["messages"]] == ["hi ben"] and older["has_more"] is False
    assert c.post(f"/api/messages/{A}/read", json={}, headers=pals.headers(B)).json() == {"marked": 2}
    assert c.get("/api/messages", headers=pals.headers(B)).json()["conversations"][0]["unread"] == 0
    assert c.get(f"/api/messages/{B}", headers=pals.headers(A)).json()["messages"][0]["read_at"] is not None
    # a stranger sees nothing of it
    assert c.get("/api/messages", headers=pals.headers(C)).json() == {"conversations": [], "total": 0}
    assert c.get(f"/api/messages/{A}", headers=pals.headers(C)).json()["messages"] == []


def test_strangers_cannot_message_and_bad_input(pals: Any) -> None:
    r = _send(pals, C, A, "hello?")
    assert r.status_code == 403 and r.json()["code"] == "cannot_message"
    assert _send(pals, A, A, "me").status_code == 422
    assert _send(pals, A, 999, "ghost").status_code == 403  # (the fake auth knows every id)
    assert _send(pals, A, B, "").status_code == 422
    assert _send(pals, A, B, "x" * 2001).status_code == 422
    assert _send(pals, A, B, "x" * 2000).status_code == 201
    assert pals.client.post(f"/api/messages/{B}", json={"text": "hi"}).status_code == 401


def test_unfriending_closes_the_conversation_but_keeps_history(pals: Any) -> None:
    _send(pals, A, B, "before")
    fid = pals.client.get("/api/friends", headers=pals.headers(A)).json()["friends"][0]["id"]
    assert pals.client.delete(f"/api/friends/{fid}", headers=pals.headers(B)).status_code == 204
    assert _send(pals, A, B, "after").status_code == 403
    assert _send(pals, B, A, "after").status_code == 403
    page = pals.client.get(f"/api/messages/{B}", headers=pals.headers(A)).json()
    assert [m["text"] for m in page["messages"]] == ["before"] and page["can_send"] is False


def test_blocking_stops_messages_friend_requests_and_mentions(pals: Any) -> None:
    c = pals.client
    assert c.post(f"/api/users/{A}/block", headers=pals.headers(B)).json() == {"user_id": A, "blocked": True}
    assert c.post(f"/api/users/{A}/block", headers=pals.headers(B)).status_code == 200  # idempotent
    assert _send(pals, A, B, "hey").status_code == 403  # from the blocked
    assert _send(pals, B, A, "hey").status_code == 403  # and to them
    assert c.get("/api/users/blocked", headers=pals.headers(B)).json() == {
        "users": [{"id": A, "username": "ann"}], "total": 1}
    # a friend request from someone who blocked you looks like an unknown user; to someone you block is refused
    assert c.post(f"/api/users/{C}/block", headers=pals.headers(B)).status_code == 200
    assert c.post("/api/friends/request", json={"friend_id": B}, headers=pals.headers(C)).status_code == 404
    r = c.post("/api/friends/request", json={"friend_id": C}, headers=pals.headers(B))
    assert r.status_code == 403
    assert c.delete(f"/api/users/{A}/block", headers=pals.headers(B)).json() == {"user_id": A, "blocked": False}
    assert _send(pals, A, B, "friends again").status_code == 201
    assert c.post(f"/api/users/{B}/block", headers=pals.headers(B)).status_code == 422


def test_blocking_withdraws_a_pending_request(social: Any) -> None:
    social.add_user(A, "ann")
    social.add_user(C, "cat")
    c = social.client
    assert c.post("/api/friends/request", json={"friend_id": A}, headers=social.headers(C)).status_code == 201
    c.post(f"/api/users/{C}/block", headers=social.headers(A))
    assert c.get("/api/friends/requests", headers=social.headers(A)).json()["total"] == 0


def test_messages_arrive_live_on_both_sockets(pals: Any) -> None:
    with pals.client.websocket_connect("/api/notifications/ws", headers=pals.headers(B)) as ws:
        assert ws.receive_json()["type"] == "hello"
        sent = _send(pals, A, B, "live dm").json()
        frame = ws.receive_json()
        assert frame == {"type": "message", "message": sent}
        pals.client.post(f"/api/messages/{A}/read", json={"up_to": sent["id"]}, headers=pals.headers(B))
        assert ws.receive_json() == {"type": "read", "reader_id": B, "user_id": A, "up_to": sent["id"]}
