"""Social end to end through the gateway (PostgreSQL, RabbitMQ, every service as a real process).

Comment permission matrix, the friend request state machine (crossing requests, two accepts at once),
bad input, and the cleanup that follows `show.deleted` and `user.deleted`.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx
import pytest

from shared.testing.plugin import wait_for

pytestmark = pytest.mark.e2e


def _show(user: Any, visibility: str, **kw: Any) -> dict[str, Any]:
    body = {"artist_name": f"Band {uuid.uuid4().hex[:8]}", "venue_name": "The Club", "date": "2026-06-01",
            "visibility": visibility, **kw}
    r = user.client.post("/api/shows", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _befriend(a: Any, b: Any) -> None:
    """a asks, b accepts (retried until social has heard of both users), and shows learns of it."""

    def ask() -> httpx.Response | None:
        r = a.client.post("/api/friends/request", json={"friend_id": b.id})
        return r if r.status_code in (200, 201) else None

    req = wait_for(ask, 30, what="social to know the new users").json()
    r = b.client.post(f"/api/friends/request/{req['id']}/accept")
    assert r.status_code == 200 and r.json()["status"] == "accepted", r.text


def _internal(stack: Any) -> httpx.Client:
    return httpx.Client(base_url=stack.url("social"), timeout=10,
                        headers={"X-Internal-Token": stack.base_env["INTERNAL_TOKEN"]})


def test_comment_permission_matrix(make_user: Any) -> None:
    owner, friend, stranger = make_user(), make_user(), make_user()
    _befriend(owner, friend)
    shows = {v: _show(owner, v) for v in ("private", "friends", "public")}
    expected = {
        ("private", "owner"): 201, ("private", "friend"): 404, ("private", "stranger"): 404,
        ("friends", "owner"): 201, ("friends", "friend"): 201, ("friends", "stranger"): 404,
        ("public", "owner"): 201, ("public", "friend"): 201, ("public", "stranger"): 201,
    }
    people = {"owner": owner, "friend": friend, "stranger": stranger}

    def matrix() -> dict[tuple[str, str], int]:
        got = {}
        for (vis, who), _ in expected.items():
            r = people[who].client.get(f"/api/comments/show/{shows[vis]['id']}")
            got[(vis, who)] = 201 if r.status_code == 200 else r.status_code
        return got

    # friends-only visibility needs shows to have applied friendship.accepted
    wait_for(lambda: matrix() == expected, 30, what="the read matrix")
    for (vis, who), status in expected.items():
        r = people[who].client.post("/api/comments", json={"show_id": shows[vis]["id"], "text": f"{who} here"})
        assert r.status_code == status, (vis, who, r.text)
    thread = owner.client.get(f"/api/comments/show/{shows['public']['id']}").json()
    assert [c["user"]["username"] for c in thread["comments"]] == [owner.username, friend.username,
                                                                   stranger.username]
    assert "@example.test" not in str(thread)
    # the show owner may delete a stranger's comment; the stranger may not delete the owner's
    first, _, third = thread["comments"]
    assert stranger.client.delete(f"/api/comments/{first['id']}").status_code == 403
    assert owner.client.delete(f"/api/comments/{third['id']}").status_code == 204
    # shows' detail embeds the comments (through social's internal endpoint)
    detail = owner.client.get(f"/api/shows/{shows['public']['id']}").json()
    assert [c["id"] for c in detail["comments"]] == [first["id"], thread["comments"][1]["id"]]


def test_friend_requests_state_machine(make_user: Any) -> None:
    a, b, c = make_user(), make_user(), make_user()
    wait_for(lambda: a.client.get("/api/friends/search", params={"q": b.username}).json()["total"] == 1, 30,
             what="user.registered to reach social")
    # an exact email finds only someone who opted in to be found by it
    assert a.client.get("/api/friends/search", params={"q": b.email}).json()["total"] == 0
    assert b.client.put("/api/friends/settings", json={"findable_by_email": True}).status_code == 200
    hit = a.client.get("/api/friends/search", params={"q": b.email.upper()}).json()["users"]
    assert hit == [{"id": b.id, "username": b.username, "friendship_status": "none"}]
    assert a.client.get("/api/friends/search", params={"q": b.email[:-3]}).json()["total"] == 0
    assert a.client.get("/api/friends/search", params={"q": "x"}).status_code == 422
    assert a.client.post("/api/friends/request", json={"friend_id": str(a.id)}).status_code == 422
    assert a.client.post("/api/friends/request", json={"friend_id": 2_000_000_000}).status_code == 404
    # crossing requests become one friendship
    wait_for(lambda: a.client.post("/api/friends/request", json={"username": c.username}).status_code == 201, 30)
    crossed = c.client.post("/api/friends/request", json={"friend_id": a.id})
    assert crossed.status_code == 201 and crossed.json()["status"] == "accepted"
    # two accepts at once: both succeed, one friendship
    def ask() -> httpx.Response | None:
        r = b.client.post("/api/friends/request", json={"friend_id": a.id})
        return r if r.status_code == 201 else None

    req = wait_for(ask, 30).json()
    assert req["status"] == "pending"
    assert a.client.get("/api/friends/requests").json()["friends"][0]["id"] == req["id"]
    assert b.client.post(f"/api/friends/request/{req['id']}/accept").status_code == 403
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def accept() -> None:
        with httpx.Client(base_url=str(a.client.base_url), headers=a.headers(), timeout=30) as cl:
            barrier.wait()
            codes.append(cl.post(f"/api/friends/request/{req['id']}/accept").status_code)

    threads = [threading.Thread(target=accept) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 200]
    friends = a.client.get("/api/friends").json()
    assert friends["total"] == 2 and {f["friend"]["id"] for f in friends["friends"]} == {b.id, c.id}
    # remove; the other side sees it too
    assert b.client.delete(f"/api/friends/{req['id']}").status_code == 204
    assert a.client.get("/api/friends").json()["total"] == 1
    assert a.client.delete(f"/api/friends/{req['id']}").status_code == 404


def test_bad_input_gets_clear_errors(make_user: Any, api: httpx.Client) -> None:
    user = make_user()
    show = _show(user, "public")
    c = user.client
    for body in ({"show_id": show["id"], "text": ""}, {"show_id": show["id"], "text": "x" * 2001}, {},
                 {"show_id": "nope", "text": "x"}):
        r = c.post("/api/comments", json=body)
        assert r.status_code == 422 and r.json()["code"] == "validation_error", (body, r.text)
    r = c.post("/api/comments", content=b"{", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert c.post("/api/comments", json={"show_id": 2_000_000_000, "text": "x"}).status_code == 404
    assert c.get("/api/comments/photo/2000000000").status_code == 404
    assert c.put("/api/comments/2000000000", json={"text": "x"}).status_code == 404
    assert c.post("/api/friends/request/2000000000/accept").status_code == 404
    assert c.post(f"/api/chat/show/{show['id']}/messages", json={"message": " "}).status_code == 422
    assert api.get("/api/feed").status_code == 401
    assert api.get("/api/dashboard/comments/recent").status_code == 401


def test_show_deleted_and_user_deleted_cleanup(make_user: Any, stack: Any) -> None:
    owner, pal = make_user(), make_user()
    _befriend(owner, pal)
    show = _show(owner, "public")
    assert pal.client.post("/api/comments", json={"show_id": show["id"], "text": "bye"}).status_code == 201
    assert owner.client.post(f"/api/chat/show/{show['id']}/messages", json={"message": "hi"}).status_code == 201
    # the feed shows the friend's show (built from show.created)
    wait_for(lambda: any(i["show_id"] == show["id"] for i in pal.client.get("/api/feed").json()["items"]), 30,
             what="show.created in the feed")
    with _internal(stack) as internal:
        assert internal.get(f"/internal/comments/show/{show['id']}").json()["total"] == 1
        assert owner.client.delete(f"/api/shows/{show['id']}").status_code == 204
        wait_for(lambda: internal.get(f"/internal/comments/show/{show['id']}").json()["total"] == 0, 30,
                 what="show.deleted to remove the comments")
        wait_for(lambda: all(i["show_id"] != show["id"] for i in pal.client.get("/api/feed").json()["items"]), 30)
        assert internal.get(f"/internal/users/{pal.id}/counts").json() == {"comments": 0, "friends": 1}
        r = pal.client.request("DELETE", "/api/auth/me", json={"password": pal.password})
        assert r.status_code == 204, r.text
        wait_for(lambda: owner.client.get("/api/friends").json()["total"] == 0, 30,
                 what="user.deleted to remove the friendship")
        assert internal.get(f"/internal/friends/{owner.id}").json() == {"friend_ids": []}


def test_every_dashboard_endpoint_answers_through_the_gateway(make_user: Any) -> None:
    user = make_user()
    _show(user, "friends")
    shapes = {
        "/api/dashboard/stats": "total_comments",
        "/api/dashboard/artists": "artists",
        "/api/dashboard/venues": "venues",
        "/api/dashboard/photos/recent": "photos",
        "/api/dashboard/audio/recent": "recordings",
        "/api/dashboard/videos/recent": "recordings",
        "/api/dashboard/comments/recent": "comments",
    }
    for path, key in shapes.items():
        r = user.client.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:200])
        assert key in r.json(), (path, r.json())
    stats = user.client.get("/api/dashboard/stats").json()
    assert stats["total_shows"] == 1 and stats["total_friends"] == 0


def test_photo_comments_follow_the_show_and_go_with_the_photo(make_user: Any, stack: Any) -> None:
    import io

    from PIL import Image

    owner, friend, stranger = make_user(), make_user(), make_user()
    _befriend(owner, friend)
    show = _show(owner, "friends")
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, "JPEG")
    up = owner.client.post("/api/photos", data={"show_id": str(show["id"])},
                           files={"file": ("red.jpg", buf.getvalue(), "image/jpeg")})
    assert up.status_code == 201, up.text
    photo_id = up.json()["id"]

    def friend_comments() -> httpx.Response | None:
        r = friend.client.post("/api/comments", json={"photo_id": photo_id, "text": f"@{owner.username} nice"})
        return r if r.status_code == 201 else None

    made = wait_for(friend_comments, 30, what="friends visibility to reach shows").json()
    assert made["show_id"] == show["id"] and made["photo_id"] == photo_id
    assert made["mentions"] == [{"username": owner.username, "user_id": owner.id}]
    assert stranger.client.post("/api/comments", json={"photo_id": photo_id, "text": "x"}).status_code == 404
    assert stranger.client.get(f"/api/comments/photo/{photo_id}").status_code == 404
    assert owner.client.get(f"/api/comments/photo/{photo_id}").json()["total"] == 1
    assert owner.client.delete(f"/api/photos/{photo_id}").status_code == 204
    with _internal(stack) as internal:
        wait_for(lambda: internal.get(f"/internal/users/{friend.id}/counts").json()["comments"] == 0, 30,
                 what="media.deleted to remove the photo's comments")
