"""Chat over REST and over an in-process WebSocket: permissions, paging, frames, rate limit."""

from __future__ import annotations

import pytest
from starlette.websockets import WebSocketDisconnect

OWNER, ATTENDEE, FRIEND, STRANGER = 1, 2, 3, 4
SHOW, OTHER_SHOW, CONCERT = 10, 11, 100


@pytest.fixture
def gig(social):
    for uid, name in ((OWNER, "owner"), (ATTENDEE, "attendee"), (FRIEND, "friend"), (STRANGER, "stranger")):
        social.add_user(uid, name)
    w = social.world
    w.add_show(SHOW, OWNER, visibility="public", concert_id=CONCERT)
    w.add_show(OTHER_SHOW, ATTENDEE, visibility="private", concert_id=CONCERT)  # same concert
    social.befriend(OWNER, FRIEND)
    return social


def test_rest_chat_permissions_and_paging(gig) -> None:
    c = gig.client
    url = f"/api/chat/show/{SHOW}/messages"
    # FRIEND may see the show but neither logged the concert nor checked in
    r = c.post(url, json={"message": "hi"}, headers=gig.headers(FRIEND))
    assert r.status_code == 403 and r.json()["code"] == "chat_not_allowed"
    assert c.get(url, headers=gig.headers(FRIEND)).status_code == 403
    gig.world.checked_in.add((FRIEND, CONCERT))
    ids = []
    for i in range(5):
        who = (OWNER, FRIEND)[i % 2]
        body = {"message": f"m{i}"} if i % 2 else {"text": f"m{i}"}
        r = c.post(url, json=body, headers=gig.headers(who))
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    msg = r.json()
    assert set(msg) == {"id", "concert_id", "user", "message", "created_at"}
    assert msg["concert_id"] == CONCERT and msg["user"] == {"id": OWNER, "username": "owner"}
    # the other show of the same concert reaches the same chat (ATTENDEE logged it)
    page = c.get(f"/api/chat/show/{OTHER_SHOW}/messages?limit=2", headers=gig.headers(ATTENDEE)).json()
    assert [m["message"] for m in page["messages"]] == ["m3", "m4"] and page["has_more"] is True
    page = c.get(f"{url}?limit=2&before={ids[3]}", headers=gig.headers(OWNER)).json()
    assert [m["message"] for m in page["messages"]] == ["m1", "m2"] and page["has_more"] is True
    page = c.get(f"{url}?before={ids[1]}", headers=gig.headers(OWNER)).json()
    assert [m["message"] for m in page["messages"]] == ["m0"] and page["has_more"] is False
    # the stranger cannot see the private show at all
    assert c.get(f"/api/chat/show/{OTHER_SHOW}/messages", headers=gig.headers(STRANGER)).status_code == 404
    assert c.get("/api/chat/show/999/messages", headers=gig.headers(OWNER)).status_code == 404
    assert gig.outbox_types() == ["chat.message"] * 5


def test_checked_in_policy(gig, make_settings) -> None:
    from social import chat_service as service

    gig.world.checked_in.add((FRIEND, CONCERT))
    shows = gig.app.state.shows_client
    with pytest.raises(Exception, match="Only people"):
        service.chat_access(shows=shows, policy="checked_in", show_id=SHOW, user_id=OWNER)
    assert service.chat_access(shows=shows, policy="checked_in", show_id=SHOW, user_id=FRIEND).concert_id == CONCERT
    assert service.chat_access(shows=shows, policy="logged_or_checked_in", show_id=SHOW,
                               user_id=OWNER).concert_id == CONCERT


@pytest.mark.parametrize("body", [{}, {"message": ""}, {"message": "  "}, {"message": "x" * 1001}, {"text": 3}])
def test_rest_chat_bad_bodies(gig, body: dict) -> None:
    r = gig.client.post(f"/api/chat/show/{SHOW}/messages", json=body, headers=gig.headers(OWNER))
    assert r.status_code == 422, r.text


def test_rest_chat_rate_limit(gig) -> None:
    url = f"/api/chat/show/{SHOW}/messages"
    codes = [gig.client.post(url, json={"message": f"{i}"}, headers=gig.headers(OWNER)).status_code
             for i in range(6)]
    assert codes == [201] * 5 + [429]
    r = gig.client.post(url, json={"message": "again"}, headers=gig.headers(OWNER))
    assert r.json()["code"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1


def test_socket_rejections(gig) -> None:
    c = gig.client
    cases = [
        ({}, SHOW, 4401),
        ({"Authorization": "Bearer nope"}, SHOW, 4401),
        (gig.headers(STRANGER), OTHER_SHOW, 4404),
        (gig.headers(OWNER), 999, 4404),
        (gig.headers(FRIEND), SHOW, 4403),  # can see the show, not at the concert
    ]
    for headers, show, code in cases:
        with c.websocket_connect(f"/api/chat/show/{show}/ws", headers=headers) as ws:
            with pytest.raises(WebSocketDisconnect) as info:
                ws.receive_json()
            assert info.value.code == code, (headers, show)


def test_socket_history_messages_presence_and_bad_frames(gig) -> None:
    c = gig.client
    for i in range(3):
        c.post(f"/api/chat/show/{SHOW}/messages", json={"message": f"old{i}"}, headers=gig.headers(OWNER))
    with c.websocket_connect(f"/api/chat/show/{OTHER_SHOW}/ws", headers=gig.headers(ATTENDEE, "attendee")) as ws:
        hist = ws.receive_json()
        assert hist["type"] == "history" and [m["message"] for m in hist["messages"]] == ["old0", "old1", "old2"]
        pres = ws.receive_json()
        assert pres["type"] == "presence" and pres["event"] == "join"
        assert pres["user"] == {"id": ATTENDEE, "username": "attendee"}
        assert [u["user_id"] for u in pres["users"]] == [ATTENDEE]
        active = c.get(f"/api/chat/show/{SHOW}/active-users", headers=gig.headers(OWNER)).json()
        assert active["total"] == 1 and active["users"][0]["username"] == "attendee"
        ws.send_text("{not json")
        err = ws.receive_json()
        assert err == {"type": "error", "code": "bad_frame", "error": err["error"]}
        ws.send_json(["a", "list"])
        assert ws.receive_json()["code"] == "bad_frame"
        ws.send_json({"type": "dance"})
        assert ws.receive_json()["code"] == "bad_frame"
        ws.send_json({"type": "message", "message": "   "})
        assert ws.receive_json()["code"] == "validation_error"
        ws.send_json({"type": "message", "message": "x" * 1001})
        assert ws.receive_json()["code"] == "validation_error"
        ws.send_text("[" * 100_000)
        assert ws.receive_json()["code"] == "bad_frame"
        ws.send_bytes(b'{"type": "typing"}')  # binary frames are read as UTF-8 text
        ws.send_json({"type": "message", "message": "hello room"})  # still up after the bad frames
        got = ws.receive_json()
        assert got["type"] == "message" and got["message"] == "hello room" and got["concert_id"] == CONCERT
        assert got["user"] == {"id": ATTENDEE, "username": "attendee"}
        # a REST post reaches the socket too
        c.post(f"/api/chat/show/{SHOW}/messages", json={"message": "from rest"}, headers=gig.headers(OWNER))
        assert ws.receive_json()["message"] == "from rest"
        # reconnect with after= gets exactly what came later
        with c.websocket_connect(f"/api/chat/show/{SHOW}/ws?after={got['id']}",
                                 headers=gig.headers(OWNER)) as ws2:
            replay = ws2.receive_json()
            assert [m["message"] for m in replay["messages"]] == ["from rest"]
            assert ws2.receive_json()["type"] == "presence"
            joined = ws.receive_json()
            assert joined["event"] == "join" and len(joined["users"]) == 2
            ws2.send_json({"type": "typing"})
            assert ws.receive_json() == {"type": "typing", "user": {"id": OWNER, "username": "owner"}}
        left = ws.receive_json()
        assert left["type"] == "presence" and left["event"] == "leave" and left["user"]["id"] == OWNER


def test_socket_rate_limit_error_frame(gig) -> None:
    with gig.client.websocket_connect(f"/api/chat/show/{SHOW}/ws", headers=gig.headers(OWNER)) as ws:
        ws.receive_json()
        ws.receive_json()
        for i in range(5):
            ws.send_json({"type": "message", "message": f"m{i}"})
            assert ws.receive_json()["type"] == "message"
        ws.send_json({"type": "message", "message": "one too many"})
        err = ws.receive_json()
        assert err["type"] == "error" and err["code"] == "rate_limited" and err["retry_after"] >= 1
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}


def test_socket_cookie_from_foreign_origin_is_refused(gig) -> None:
    token = gig.token_factory(OWNER, "owner")
    gig.client.cookies.set("access_token_cookie", token)
    try:
        with gig.client.websocket_connect(f"/api/chat/show/{SHOW}/ws",
                                          headers={"Origin": "https://evil.example"}) as ws:
            with pytest.raises(WebSocketDisconnect) as info:
                ws.receive_json()
            assert info.value.code == 4403
        with gig.client.websocket_connect(f"/api/chat/show/{SHOW}/ws",
                                          headers={"Origin": "http://localhost:5000"}) as ws:
            assert ws.receive_json()["type"] == "history"
    finally:
        gig.client.cookies.clear()


def test_socket_token_only_by_cookie_header_or_subprotocol(gig) -> None:
    token = gig.token_factory(OWNER, "owner")
    # the query string lands in access logs: a token there is not looked at
    with gig.client.websocket_connect(f"/api/chat/show/{SHOW}/ws?access_token={token}") as ws:
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_json()
        assert info.value.code == 4401
    # a browser talking to social directly: Sec-WebSocket-Protocol: access_token, <jwt>
    with gig.client.websocket_connect(f"/api/chat/show/{SHOW}/ws", subprotocols=["access_token", token]) as ws:
        assert ws.accepted_subprotocol == "access_token"
        assert ws.receive_json()["type"] == "history"
