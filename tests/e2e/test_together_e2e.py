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
from shared.testing.client import upload, wait_terminal
from shared.testing.fakepush import Browser, FakePushService
from shared.testing.media import jpeg_bytes
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


def test_a_notification_is_pushed_to_a_subscribed_browser(api: httpx.Client, make_user: Any) -> None:
    owner, friend = make_user(), make_user()
    _befriend(owner, friend)
    show = _show(owner, "friends")
    push, browser = FakePushService(), Browser()
    try:
        key = owner.client.get("/api/notifications/push-key")
        assert key.status_code == 200 and key.json()["public_key"], key.text
        subscription = {"endpoint": f"{push.url}/push/{owner.id}", "keys": browser.keys}
        r = owner.client.post("/api/notifications/push-subscriptions", json=subscription)
        assert r.status_code == 201, r.text
        assert friend.client.post("/api/comments", json={"show_id": show["id"], "text": "pushed"}).status_code == 201
        got = browser.decrypt(push.wait(1, 30, path=f"/push/{owner.id}")[0]["body"])
        assert got["type"] == "comment" and got["title"] == "ShareMyShows"
        assert f"k={key.json()['public_key']}" in push.requests[0]["headers"]["authorization"]
    finally:
        push.close()


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


def test_direct_messages_between_friends_live_and_refused_between_strangers(
    api: httpx.Client, make_user: Any
) -> None:
    a, b, stranger = make_user(), make_user(), make_user()
    fid = _befriend(a, b)

    async def scenario() -> dict[str, Any]:
        async with _ws(api, "/api/notifications/ws", b) as ws:
            await _frame(ws, "hello")
            r = await asyncio.to_thread(a.client.post, f"/api/messages/{b.id}", json={"text": "see you at the gig"})
            assert r.status_code == 201, r.text
            return await _frame(ws, "message")

    frame = asyncio.run(scenario())["message"]
    assert frame["text"] == "see you at the gig" and frame["sender"]["id"] == a.id
    convs = b.client.get("/api/messages").json()["conversations"]
    assert [(c["user"]["id"], c["unread"]) for c in convs] == [(a.id, 1)]
    r = wait_for(lambda: (lambda x: x if x.status_code != 404 else None)(
        stranger.client.post(f"/api/messages/{a.id}", json={"text": "hi"})), 20, what="social to know the stranger")
    assert r.status_code == 403 and r.json()["code"] == "cannot_message"
    # blocking stops them; unfriending closes the conversation, history stays
    assert b.client.post(f"/api/users/{a.id}/block").status_code == 200
    assert a.client.post(f"/api/messages/{b.id}", json={"text": "?"}).status_code == 403
    assert b.client.delete(f"/api/users/{a.id}/block").status_code == 200
    assert a.client.delete(f"/api/friends/{fid}").status_code == 204
    assert a.client.post(f"/api/messages/{b.id}", json={"text": "?"}).status_code == 403
    assert [m["text"] for m in a.client.get(f"/api/messages/{b.id}").json()["messages"]] == ["see you at the gig"]


def test_a_share_link_renders_for_anonymous_clients_and_stops_when_revoked(
    api: httpx.Client, make_user: Any
) -> None:
    owner, friend = make_user(), make_user()
    show = _show(owner, "private", artist_name=f"<b>Bold</b> {uuid.uuid4().hex[:6]}")
    assert owner.client.post(f"/api/shows/{show['id']}/setlist", json={"title": "Opener"}).status_code == 201
    assert friend.client.post(f"/api/shows/{show['id']}/share-links").status_code == 404
    r = owner.client.post(f"/api/shows/{show['id']}/share-links", json={"expires_in_days": 7})
    assert r.status_code == 201, r.text
    link = r.json()
    assert link["url"] == f"{str(api.base_url).rstrip('/')}/s/{link['token']}" and link["expires_at"]
    page = api.get(f"/s/{link['token']}")  # anonymous, through the gateway
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<meta property="og:title" content="&lt;b&gt;Bold&lt;/b&gt;' in page.text and "<b>Bold" not in page.text
    assert '<meta name="twitter:card" content="summary">' in page.text and "Opener" in page.text
    data = api.get(f"/api/public/shows/{link['token']}").json()
    assert data["show"]["setlist"] == [{"position": 1, "title": "Opener"}]
    assert data["owner"]["username"] == owner.username
    # the owner's chosen photo: on the page and as its preview image, its bytes only through the token
    photo = upload(owner, "photos", show["id"], "p.jpg", jpeg_bytes(640, 480), "image/jpeg").json()
    assert wait_terminal(owner, "photos", [photo["id"]], 90)[photo["id"]] == "ready"
    assert friend.client.put(f"/api/share-links/{link['token']}", json={"photo_ids": [photo["id"]]}).status_code == 404
    r = owner.client.put(f"/api/share-links/{link['token']}", json={"photo_ids": [photo["id"]]})
    assert r.status_code == 200 and r.json()["photo_ids"] == [photo["id"]], r.text
    shared = api.get(f"/api/public/shows/{link['token']}").json()["photos"]
    assert [(p["id"], p["width"], p["height"]) for p in shared] == [(photo["id"], 640, 480)]
    image_url = shared[0]["thumbnail_url"]
    assert image_url == f"{str(api.base_url).rstrip('/')}/api/public/shows/{link['token']}/photos/{photo['id']}/medium"
    page = api.get(f"/s/{link['token']}").text
    assert f'<meta property="og:image" content="{image_url}">' in page and f'<img src="{image_url}"' in page
    assert '<meta name="twitter:card" content="summary_large_image">' in page
    image = api.get(image_url)  # anonymous
    assert image.status_code == 200 and image.headers["content-type"] == "image/webp" and image.content[:4] == b"RIFF"
    assert api.get(f"/api/photos/{photo['id']}/thumbnail").status_code == 401  # media itself still needs a token
    assert owner.client.delete(f"/api/share-links/{link['token']}").status_code == 204
    assert api.get(f"/s/{link['token']}").status_code == 404
    assert api.get(f"/api/public/shows/{link['token']}").status_code == 404
    assert api.get(image_url).status_code == 404
    assert api.get("/api/notifications").status_code == 401  # the rest of social still needs a token


def test_a_public_profile_is_404_until_opted_in_then_shows_only_public_shows(
    api: httpx.Client, make_user: Any
) -> None:
    user = make_user()
    public = _show(user, "public", artist_name=f"Open {uuid.uuid4().hex[:6]}")
    hidden = _show(user, "friends", artist_name=f"Hidden {uuid.uuid4().hex[:6]}")
    assert api.get(f"/api/users/{user.username}/profile").status_code == 404  # anonymous, off by default
    assert api.get(f"/api/users/nobody-{uuid.uuid4().hex[:8]}/profile").json()["code"] == "profile_not_found"
    assert api.get(f"/u/{user.username}").status_code == 404
    r = user.client.put("/api/users/me/profile-settings", json={"public_profile": True})
    assert r.status_code == 200 and r.json() == {"public_profile": True}
    body = wait_for(lambda: (lambda x: x.json() if x.status_code == 200 else None)(
        api.get(f"/api/users/{user.username}/profile")), 20, what="social to know the new user")
    assert body["user"] == {"id": user.id, "username": user.username}
    assert [s["id"] for s in body["shows"]] == [public["id"]] and body["counts"]["shows"] == 1
    assert body["top_artists"][0]["artist"]["name"] == public["artist_name"]
    page = api.get(f"/u/{user.username}")
    assert page.status_code == 200 and public["artist_name"] in page.text and hidden["artist_name"] not in page.text
    assert '<meta property="og:title"' in page.text


def test_a_friend_at_the_same_concert_sees_the_position_others_never_and_nobody_after_check_out(
    api: httpx.Client, make_user: Any
) -> None:
    import datetime as dt

    me, friend, stranger, elsewhere = make_user(), make_user(), make_user(), make_user()
    _befriend(me, friend)
    _befriend(me, elsewhere)
    now = dt.datetime.now(dt.UTC)
    today = now.date().isoformat()
    concert = {"artist_name": f"Live Band {uuid.uuid4().hex[:8]}", "venue_name": "Open Air", "date": today}
    minute = now.replace(second=0, microsecond=0)
    started = max(minute - dt.timedelta(minutes=1), minute.replace(hour=0, minute=0))  # today, a minute ago
    mine = _show(me, "friends", **concert, time=started.strftime("%H:%M"))
    theirs = _show(friend, "friends", **concert)
    strangers = _show(stranger, "public", **concert)
    other = _show(elsewhere, "friends", artist_name=f"Other {uuid.uuid4().hex[:8]}", venue_name="Club", date=today)
    for user, show in ((me, mine), (friend, theirs), (stranger, strangers), (elsewhere, other)):
        r = user.client.post(f"/api/shows/{show['id']}/checkin")
        assert r.status_code in (200, 201), r.text
    spot = {"latitude": 48.8584, "longitude": 2.2945, "accuracy_m": 10, "precision": "exact", "utc_offset_minutes": 0}
    r = wait_for(lambda: (lambda x: x if x.status_code == 200 else None)(
        me.client.put(f"/api/shows/{mine['id']}/location", json=spot)), 20, what="sharing a position")
    # my show started a minute ago (UTC): my position expires six hours after that, not after the sharing
    assert r.json()["expires_at"] == (started + dt.timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def seen(user: TestUser, show: dict[str, Any]) -> httpx.Response:
        return user.client.get(f"/api/shows/{show['id']}/friends-locations")

    got = wait_for(lambda: seen(friend, theirs).json()["locations"] or None, 20,
                   what="the friend's check-in copy to count")
    assert [(x["user"]["id"], x["latitude"]) for x in got] == [(me.id, 48.8584)]
    assert seen(stranger, strangers).json() == {"locations": []}
    assert seen(elsewhere, other).json() == {"locations": []}
    assert seen(elsewhere, mine).status_code == 403  # may see my show, is not at this concert
    assert me.client.post(f"/api/shows/{mine['id']}/checkout").status_code == 200
    wait_for(lambda: seen(friend, theirs).json() == {"locations": []}, 20, what="check-out to end the position")
    assert me.client.put(f"/api/shows/{mine['id']}/location", json=spot).status_code == 403
