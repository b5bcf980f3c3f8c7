"""Consumers: each event applied once even when delivered twice; counters never negative."""

from __future__ import annotations

from typing import Any

import pytest

from shared.events import (
    CommentCreatedV1,
    CommentDeletedV1,
    Event,
    EventEnvelope,
    FriendshipAcceptedV1,
    FriendshipRemovedV1,
    MediaDeletedV1,
    MediaUploadedV1,
    UserDeletedV1,
    UserRegisteredV1,
    make_envelope,
)
from shared.messaging import EventBus, EventConsumer
from shows.consumers import subscriptions
from shows.db import OutboxEvent, outbox
from shows.models import CheckIn, Friendship, User


@pytest.fixture
def consumer(settings: Any, session_factory: Any) -> EventConsumer:
    """The shows consumer without a bus connection (handle() only)."""
    return EventConsumer(EventBus(settings), subscriptions, session_factory, outbox)


def _env(event: Event) -> EventEnvelope:
    return make_envelope(event, "test")


def test_counters_apply_once_and_never_go_negative(
    consumer: EventConsumer, client: Any, auth: Any, make_show: Any
) -> None:
    sid = make_show(1)["id"]
    up = _env(MediaUploadedV1(media_id=1, kind="photo", show_id=sid, user_id=1))
    assert consumer.handle(up) is True
    assert consumer.handle(up) is False  # redelivery
    consumer.handle(_env(MediaUploadedV1(media_id=2, kind="video", show_id=sid, user_id=1)))
    consumer.handle(_env(MediaUploadedV1(media_id=3, kind="audio", show_id=sid, user_id=1)))
    consumer.handle(_env(CommentCreatedV1(comment_id=1, show_id=sid, user_id=2)))
    consumer.handle(_env(CommentCreatedV1(comment_id=2, show_id=sid, photo_id=1, user_id=2)))
    body = client.get(f"/api/shows/{sid}", headers=auth(1)).json()
    assert (body["photo_count"], body["video_count"], body["audio_count"], body["comment_count"]) == (1, 1, 1, 1)
    for i in range(3):
        consumer.handle(_env(MediaDeletedV1(media_id=10 + i, kind="photo", show_id=sid, user_id=1)))
        consumer.handle(_env(CommentDeletedV1(comment_id=10 + i, show_id=sid, user_id=1)))
    listed = client.get("/api/shows", headers=auth(1)).json()[0]
    assert listed["photo_count"] == 0 and listed["comment_count"] == 0
    # events about unknown shows are harmless
    assert consumer.handle(_env(MediaUploadedV1(media_id=99, kind="photo", show_id=424242, user_id=1))) is True


def test_user_registered_and_friendship(consumer: EventConsumer, session_factory: Any) -> None:
    reg = _env(UserRegisteredV1(user_id=5, username="alice", email="a@example.test", aggregate_version=1))
    consumer.handle(reg)
    consumer.handle(reg)
    consumer.handle(_env(UserRegisteredV1(user_id=5, username="stale", aggregate_version=1)))  # not newer
    fr = _env(FriendshipAcceptedV1(user_id=6, friend_id=5, aggregate_version=1))
    consumer.handle(fr)
    consumer.handle(fr)
    consumer.handle(_env(FriendshipAcceptedV1(user_id=5, friend_id=6, aggregate_version=1)))
    with session_factory() as s:
        assert s.get(User, 5).username == "alice"
        assert [(f.user_a, f.user_b, f.accepted) for f in s.query(Friendship)] == [(5, 6, True)]


def test_removed_before_accepted_never_revives_the_friendship(consumer: EventConsumer, session_factory: Any) -> None:
    # the pair's history: accepted v1, removed v2; delivered in reverse order
    consumer.handle(_env(FriendshipRemovedV1(user_id=5, friend_id=6, aggregate_version=2)))
    consumer.handle(_env(FriendshipAcceptedV1(user_id=5, friend_id=6, aggregate_version=1)))
    with session_factory() as s:
        row = s.get(Friendship, (5, 6))
        assert (row.accepted, row.version) == (False, 2)
    # befriended again later: a newer version wins
    consumer.handle(_env(FriendshipAcceptedV1(user_id=6, friend_id=5, aggregate_version=3)))
    with session_factory() as s:
        assert s.get(Friendship, (5, 6)).accepted is True


def test_deleted_user_is_never_recreated(consumer: EventConsumer, session_factory: Any) -> None:
    consumer.handle(_env(UserDeletedV1(user_id=9, aggregate_version=2)))
    consumer.handle(_env(UserRegisteredV1(user_id=9, username="ghost", aggregate_version=1)))
    with session_factory() as s:
        user = s.get(User, 9)
        assert user.deleted is True and user.version == 2


def test_unknown_fields_are_tolerated(consumer: EventConsumer, session_factory: Any) -> None:
    data = {"user_id": 8, "username": "bob", "x": 1, "aggregate_version": 1}
    env = EventEnvelope(type="user.registered", producer="auth", data=data)
    assert consumer.handle(env) is True
    with session_factory() as s:
        assert s.get(User, 8).username == "bob"


def test_user_deleted_removes_shows_once(
    consumer: EventConsumer, make_show: Any, client: Any, auth: Any, session_factory: Any
) -> None:
    today = __import__("datetime").date.today().isoformat()
    a = make_show(1, date=today)
    make_show(1, date="2020-01-01")
    other = make_show(2, date=today)
    client.post(f"/api/shows/{a['id']}/checkin", headers=auth(1))
    deleted = _env(UserDeletedV1(user_id=1, aggregate_version=2))
    assert consumer.handle(deleted) is True
    assert consumer.handle(deleted) is False
    assert client.get("/api/shows", headers=auth(1)).json() == []
    assert client.get(f"/api/shows/{other['id']}", headers=auth(2)).json()["attendee_count"] == 1
    with session_factory() as s:
        deleted_events = s.query(OutboxEvent).filter_by(type="show.deleted").all()
        assert len(deleted_events) == 2
        data = {e.payload["data"]["show_id"]: e.payload["data"] for e in deleted_events}
        assert data[a["id"]]["concert_has_other_shows"] is True
        assert s.query(CheckIn).filter_by(user_id=1).count() == 0
