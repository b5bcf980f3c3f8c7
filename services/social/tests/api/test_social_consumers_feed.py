"""Event consumers (idempotent, cleanup on deletes) and the friends' feed built from them."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from shared.events import (
    MediaDeletedV1,
    MediaReadyV1,
    ShowCreatedV1,
    ShowDeletedV1,
    ShowUpdatedV1,
    UserDeletedV1,
    UserRegisteredV1,
    make_envelope,
)
from social.models import ChatMessage, Comment, FeedItem, Friendship, ShowRef, User

ME, PAL, OTHER = 1, 2, 3


def _count(social, model, *where) -> int:
    with social.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def _show(social, show_id: int, owner: int, **kw) -> None:
    fields = {"visibility": "friends", "concert_id": show_id * 10, "show_name": f"Band{show_id} at Club",
              "date": dt.date(2026, 5, show_id % 28 + 1), **kw}
    social.deliver(ShowCreatedV1(show_id=show_id, user_id=owner, aggregate_version=1, **fields))
    social.world.add_show(show_id, owner, visibility=fields["visibility"], concert_id=fields["concert_id"],
                          visible_to=fields.get("visible_to"))


@pytest.fixture
def net(social):
    social.add_user(ME, "me")
    social.add_user(PAL, "pal")
    social.add_user(OTHER, "other")
    c = social.client
    rid = c.post("/api/friends/request", json={"friend_id": PAL}, headers=social.headers(ME)).json()["id"]
    c.post(f"/api/friends/request/{rid}/accept", headers=social.headers(PAL))
    social.world.befriend(ME, PAL)
    return social


def test_duplicate_envelopes_apply_once(social) -> None:
    env = make_envelope(UserRegisteredV1(user_id=7, username="Dup", email="DUP@x.test", aggregate_version=1), "auth")
    social.deliver(None, envelope=env)  # type: ignore[arg-type]
    with social.session() as s:
        s.get(User, 7).username = "changed-locally"
    social.deliver(None, envelope=env)  # type: ignore[arg-type]
    with social.session() as s:
        user = s.get(User, 7)
        assert user.username == "changed-locally"  # the second delivery was skipped
        assert user.email_lower == "dup@x.test"


def test_unknown_fields_are_tolerated_and_unknown_versions_refused(social) -> None:
    import pytest

    from shared.events import EventEnvelope
    from shared.messaging import UnknownEventVersion

    env = EventEnvelope(type="user.registered", producer="auth",
                        data={"user_id": 8, "username": "eight", "email": None, "shiny_new_field": 1})
    social.deliver(None, envelope=env)  # type: ignore[arg-type]
    # a schema this build cannot read is not silently acknowledged: the consumer dead-letters it
    with pytest.raises(UnknownEventVersion):
        social.deliver(None, envelope=EventEnvelope(type="user.registered", version=9, producer="auth",
                                                    data={"whatever": True}))
    assert _count(social, User, User.id == 8) == 1


def test_feed_from_events_respects_visibility(net) -> None:
    _show(net, 1, PAL, visibility="friends")
    _show(net, 2, PAL, visibility="public")
    _show(net, 3, PAL, visibility="private")
    _show(net, 4, PAL, visibility="friends", visible_to=[OTHER])
    _show(net, 5, OTHER, visibility="public")  # not a friend's
    _show(net, 6, PAL, visibility="friends", visible_to=[ME])
    net.deliver(MediaReadyV1(media_id=90, kind="photo", show_id=1, user_id=PAL,
                             thumbnail_url="/api/photos/90/thumbnail"))
    net.deliver(MediaReadyV1(media_id=91, kind="photo", show_id=3, user_id=PAL))  # private show
    # a friend's photo on a stranger's shows: public → visible, friends-only → not
    net.deliver(MediaReadyV1(media_id=92, kind="photo", show_id=5, user_id=PAL))
    _show(net, 7, OTHER, visibility="friends")
    net.deliver(MediaReadyV1(media_id=93, kind="video", show_id=7, user_id=PAL))
    r = net.client.get("/api/feed", headers=net.headers(ME))
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 5
    items = body["items"]
    assert [(i["type"], i["show_id"]) for i in items] == [("media", 5), ("media", 1), ("show", 6), ("show", 2),
                                                          ("show", 1)]
    items = items[1:]
    assert items[0]["media"] == {"id": 90, "kind": "photo", "thumbnail_url": "/api/photos/90/thumbnail"}
    assert items[0]["user"] == {"id": PAL, "username": "pal"}
    assert items[1]["show_name"] == "Band6 at Club" and items[1]["date"] == "2026-05-07"
    page = net.client.get("/api/feed?limit=2&offset=3", headers=net.headers(ME)).json()
    assert [i["show_id"] for i in page["items"]] == [2, 1] and page["total"] == 5
    # a later show.updated to private hides it
    net.deliver(ShowUpdatedV1(show_id=2, user_id=PAL, concert_id=20, visibility="private", aggregate_version=2))
    assert net.client.get("/api/feed", headers=net.headers(ME)).json()["total"] == 4
    # strangers see nothing of PAL
    assert net.client.get("/api/feed", headers=net.headers(OTHER)).json()["total"] == 0
    assert net.client.get("/api/feed?limit=101", headers=net.headers(ME)).status_code == 422
    # media.deleted removes the item
    net.deliver(MediaDeletedV1(media_id=90, kind="photo", show_id=1, user_id=PAL))
    assert net.client.get("/api/feed", headers=net.headers(ME)).json()["total"] == 3


def test_show_deleted_cleans_comments_feed_and_last_chat(net) -> None:
    _show(net, 1, PAL, visibility="public", concert_id=77)
    _show(net, 2, ME, visibility="public", concert_id=77)
    c = net.client
    for sid in (1, 2):
        assert c.post("/api/comments", json={"show_id": sid, "text": "hi"}, headers=net.headers(ME)).status_code \
            == 201
    assert c.post("/api/chat/show/2/messages", json={"message": "yo"}, headers=net.headers(ME)).status_code == 201
    net.deliver(ShowDeletedV1(show_id=1, user_id=PAL, concert_id=77, concert_has_other_shows=True,
                              aggregate_version=2))
    assert _count(net, Comment, Comment.show_id == 1) == 0
    assert _count(net, Comment, Comment.show_id == 2) == 1
    assert _count(net, FeedItem, FeedItem.show_id == 1) == 0
    assert _count(net, ShowRef, ShowRef.show_id == 1, ShowRef.deleted.is_(False)) == 0  # a tombstone remains
    assert _count(net, ChatMessage, ChatMessage.concert_id == 77) == 1  # the concert still has show 2
    net.deliver(ShowDeletedV1(show_id=2, user_id=ME, concert_id=77, concert_has_other_shows=False,
                              aggregate_version=2))
    assert _count(net, ChatMessage, ChatMessage.concert_id == 77) == 0
    assert _count(net, Comment) == 0


def test_user_deleted_cleans_everything_of_the_user(net) -> None:
    _show(net, 1, ME, visibility="public", concert_id=50)
    _show(net, 2, PAL, visibility="public", concert_id=50)
    net.world.checked_in.add((PAL, 50))
    c = net.client
    c.post("/api/comments", json={"show_id": 1, "text": "mine"}, headers=net.headers(ME))
    c.post("/api/comments", json={"show_id": 1, "text": "pal's"}, headers=net.headers(PAL))
    c.post("/api/chat/show/2/messages", json={"text": "pal chat"}, headers=net.headers(PAL))
    c.post("/api/chat/show/1/messages", json={"text": "my chat"}, headers=net.headers(ME))
    c.post("/api/friends/request", json={"friend_id": OTHER}, headers=net.headers(PAL))
    before = len(net.outbox_types())
    net.deliver(UserDeletedV1(user_id=PAL, aggregate_version=2))
    assert _count(net, Friendship) == 0
    assert _count(net, Comment, Comment.user_id == PAL) == 0 and _count(net, Comment) == 1
    assert _count(net, ChatMessage, ChatMessage.user_id == PAL) == 0 and _count(net, ChatMessage) == 1
    assert _count(net, FeedItem, FeedItem.owner_id == PAL) == 0
    assert _count(net, User, User.id == PAL, User.deleted.is_(False)) == 0  # only a tombstone is left
    assert net.outbox_types()[before:] == ["friendship.removed", "comment.deleted"]
    assert c.get("/api/friends", headers=net.headers(ME)).json()["total"] == 0


def test_media_deleted_photo_removes_its_comments(net) -> None:
    _show(net, 1, ME, visibility="public")
    net.world.photos[5] = {"show_id": 1, "user_id": ME}
    net.client.post("/api/comments", json={"photo_id": 5, "text": "x"}, headers=net.headers(PAL))
    net.deliver(MediaDeletedV1(media_id=5, kind="photo", show_id=1, user_id=ME))
    assert _count(net, Comment) == 0
