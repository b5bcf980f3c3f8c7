"""Notifications: made by the consumers (once per fact, only for what the recipient may see), listed, marked
read, pushed live on the socket; per-type email preferences, the digest and its unsubscribe link."""

from __future__ import annotations

import datetime as dt
from typing import Any

import jwt
import pytest
from sqlalchemy import select
from starlette.websockets import WebSocketDisconnect

from shared.events import (
    CheckinCreatedV1,
    CheckinEndedV1,
    CommentCreatedV1,
    MediaFailedV1,
    MediaReadyV1,
    ShowCreatedV1,
    ShowUpdatedV1,
    make_envelope,
)
from shared.messaging import EventBus, EventConsumer
from social import digest
from social import notifications as notes
from social.models import Notification

OWNER, PAL, STRANGER, FAN = 1, 2, 3, 4


def _show(social: Any, show_id: int, owner: int, *, visibility: str = "friends", concert_id: int | None = None,
          version: int = 1) -> None:
    concert = concert_id or show_id * 10
    social.deliver(ShowCreatedV1(show_id=show_id, user_id=owner, aggregate_version=version, concert_id=concert,
                                 visibility=visibility, show_name=f"Band{show_id} at Club", date=dt.date(2026, 5, 1)))
    social.world.add_show(show_id, owner, visibility=visibility, concert_id=concert)


def _comment(social: Any, show_id: int, author: int, text: str) -> int:
    r = social.client.post("/api/comments", json={"show_id": show_id, "text": text}, headers=social.headers(author))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _list(social: Any, user: int, **params: Any) -> dict[str, Any]:
    r = social.client.get("/api/notifications", params=params, headers=social.headers(user))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


@pytest.fixture
def town(social: Any) -> Any:
    """Owner and Pal are friends; Fan is Owner's friend too; Stranger is nobody's friend."""
    for uid, name in ((OWNER, "owner"), (PAL, "pal"), (STRANGER, "stranger"), (FAN, "fan")):
        social.add_user(uid, name)
    social.befriend(OWNER, PAL)
    social.befriend(OWNER, FAN)
    return social


def test_a_comment_notifies_the_owner_once_even_when_delivered_twice(town: Any) -> None:
    _show(town, 5, OWNER)
    cid = _comment(town, 5, PAL, "great gig")
    event = CommentCreatedV1(comment_id=cid, show_id=5, user_id=PAL)
    env = town.deliver(event)
    town.deliver(event, envelope=env)  # the same envelope redelivered: the inbox skips it
    town.deliver(event)  # the same fact in a new envelope: the dedupe key skips it
    page = _list(town, OWNER)
    assert page["total"] == 1 and page["unread"] == 1
    n = page["notifications"][0]
    assert n["type"] == "comment" and n["actor"] == {"id": PAL, "username": "pal"} and n["show_id"] == 5
    assert n["concert_id"] == 50 and n["read_at"] is None and "pal commented on your show" in n["text"]
    assert _list(town, PAL)["total"] == 0  # the author hears nothing of their own comment
    # own comment on own show: nothing
    town.deliver(CommentCreatedV1(comment_id=_comment(town, 5, OWNER, "thanks"), show_id=5, user_id=OWNER))
    assert _list(town, OWNER)["total"] == 1


def test_mentions_reach_only_who_may_see_the_show_and_did_not_block_the_author(town: Any) -> None:
    _show(town, 6, OWNER)  # friends only: Pal and Fan see it, Stranger does not
    cid = _comment(town, 6, PAL, "@fan @stranger @owner look at this")
    town.client.post(f"/api/users/{PAL}/block", headers=town.headers(FAN))  # Fan blocks Pal first
    town.deliver(CommentCreatedV1(comment_id=cid, show_id=6, user_id=PAL))
    assert _list(town, STRANGER)["total"] == 0  # may not see the show: never told it exists
    assert _list(town, FAN)["total"] == 0  # blocked the author
    owner = _list(town, OWNER)["notifications"]
    assert [n["type"] for n in owner] == ["comment"]  # the owner gets the comment, not a second mention
    town.client.delete(f"/api/users/{PAL}/block", headers=town.headers(FAN))
    cid2 = _comment(town, 6, PAL, "@fan again")
    town.deliver(CommentCreatedV1(comment_id=cid2, show_id=6, user_id=PAL))
    assert [n["type"] for n in _list(town, FAN)["notifications"]] == ["mention"]


def test_a_comment_on_a_show_nobody_may_see_notifies_nobody_and_lost_sight_hides(town: Any) -> None:
    _show(town, 7, OWNER)
    cid = _comment(town, 7, PAL, "hi @fan")
    town.deliver(CommentCreatedV1(comment_id=cid, show_id=7, user_id=PAL))
    assert _list(town, FAN)["total"] == 1
    # the owner makes the show private: Fan's mention disappears from the list (the rule applies when listing)
    town.deliver(ShowUpdatedV1(show_id=7, user_id=OWNER, aggregate_version=2, concert_id=70, visibility="private"))
    assert _list(town, FAN) == {"notifications": [], "total": 0, "unread": 0}
    # a comment on a show that no longer exists notifies nobody
    town.deliver(CommentCreatedV1(comment_id=999, show_id=7, user_id=PAL))
    assert _list(town, OWNER)["total"] == 1


def test_friend_request_and_acceptance_notify_the_other_side(social: Any) -> None:
    social.add_user(OWNER, "owner")
    social.add_user(PAL, "pal")
    r = social.client.post("/api/friends/request", json={"friend_id": PAL}, headers=social.headers(OWNER))
    rid = r.json()["id"]
    _feed_outbox(social)
    got = _list(social, PAL)["notifications"]
    assert [(n["type"], n["actor"]["id"]) for n in got] == [("friend_request", OWNER)]
    social.client.post(f"/api/friends/request/{rid}/accept", headers=social.headers(PAL))
    _feed_outbox(social)
    got = _list(social, OWNER)["notifications"]
    assert [(n["type"], n["actor"]["id"]) for n in got] == [("friend_accepted", PAL)]


def _feed_outbox(social: Any) -> None:
    """Run social's own outbox events through its consumer (what the relay and the bus do in production)."""
    from shared.events import EventEnvelope

    model = social.app.state.outbox.Event
    with social.session() as s:
        envs = [EventEnvelope.model_validate(r.payload) for r in s.scalars(select(model).order_by(model.id))]
    for env in envs:
        social.deliver(None, envelope=env)


def test_check_ins_notify_friends_at_the_same_concert_only(town: Any) -> None:
    _show(town, 8, OWNER, concert_id=800, visibility="public")
    _show(town, 9, PAL, concert_id=800, visibility="public")
    _show(town, 10, FAN, concert_id=900, visibility="public")  # another concert
    _show(town, 11, STRANGER, concert_id=800, visibility="public")
    town.deliver(CheckinCreatedV1(user_id=PAL, concert_id=800, show_id=9))
    town.deliver(CheckinCreatedV1(user_id=FAN, concert_id=900, show_id=10))
    town.deliver(CheckinCreatedV1(user_id=STRANGER, concert_id=800, show_id=11))
    town.deliver(CheckinCreatedV1(user_id=OWNER, concert_id=800, show_id=8))
    assert [n["type"] for n in _list(town, PAL)["notifications"]] == ["friend_checkin"]
    assert _list(town, FAN)["total"] == 0 and _list(town, STRANGER)["total"] == 0
    # a friend who checked out is not told
    town.deliver(CheckinEndedV1(user_id=PAL, concert_id=800, show_id=9))
    town.deliver(CheckinCreatedV1(user_id=FAN, concert_id=800, show_id=10))
    assert _list(town, PAL)["total"] == 1


def test_a_friend_logging_a_concert_you_went_to(town: Any) -> None:
    _show(town, 12, PAL, concert_id=1200)
    _show(town, 13, OWNER, concert_id=1200)
    assert [n["type"] for n in _list(town, PAL)["notifications"]] == ["friend_logged"]
    assert _list(town, STRANGER)["total"] == 0


def test_media_ready_and_failed_notify_the_uploader(town: Any) -> None:
    _show(town, 14, OWNER)
    town.deliver(MediaReadyV1(media_id=1, kind="photo", show_id=14, user_id=OWNER))
    town.deliver(MediaFailedV1(media_id=2, kind="video", show_id=14, user_id=OWNER, reason="not a video"))
    got = {n["type"]: n for n in _list(town, OWNER)["notifications"]}
    assert set(got) == {"media_ready", "media_failed"} and got["media_failed"]["media_id"] == 2
    assert "not a video" in got["media_failed"]["text"]


def test_mark_read_filters_and_validation(town: Any) -> None:
    _show(town, 15, OWNER)
    for text in ("one", "two", "three"):
        town.deliver(CommentCreatedV1(comment_id=_comment(town, 15, PAL, text), show_id=15, user_id=PAL))
    ids = [n["id"] for n in _list(town, OWNER)["notifications"]]
    c = town.client
    r = c.post("/api/notifications/read", json={"ids": ids[:1]}, headers=town.headers(OWNER))
    assert r.json() == {"marked": 1, "unread": 2}
    assert c.post("/api/notifications/read", json={"ids": ids}, headers=town.headers(PAL)).json()["marked"] == 0
    assert _list(town, OWNER, unread="true")["total"] == 2 and _list(town, OWNER, unread="false")["total"] == 1
    assert _list(town, OWNER, limit=1, offset=1)["notifications"][0]["id"] == ids[1]
    assert c.post("/api/notifications/read", json={}, headers=town.headers(OWNER)).status_code == 422
    assert c.post("/api/notifications/read", json={"ids": [0]}, headers=town.headers(OWNER)).status_code == 422
    assert c.post("/api/notifications/read", json={"all": True}, headers=town.headers(OWNER)).json() == {
        "marked": 2, "unread": 0}
    assert c.get("/api/notifications").status_code == 401


def test_preferences_defaults_and_changes(town: Any) -> None:
    c = town.client
    prefs = c.get("/api/notifications/preferences", headers=town.headers(OWNER)).json()["email"]
    assert prefs["comment"] is True and prefs["friend_checkin"] is False and set(prefs) == set(notes.TYPES)
    r = c.put("/api/notifications/preferences", json={"email": {"comment": False}}, headers=town.headers(OWNER))
    assert r.status_code == 200 and r.json()["email"]["comment"] is False and r.json()["email"]["mention"] is True
    bad = c.put("/api/notifications/preferences", json={"email": {"nope": True}}, headers=town.headers(OWNER))
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"


class FakeAuth:
    """Records the mails social asks auth to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def request(self, method: str, path: str, **kw: Any) -> Any:
        self.sent.append((path, kw["json"]))

        class R:
            status_code = 202

        return R()


def test_digest_batches_respects_preferences_and_unsubscribes_without_login(town: Any, monkeypatch: Any) -> None:
    _show(town, 16, OWNER)
    for text in ("a", "b"):
        town.deliver(CommentCreatedV1(comment_id=_comment(town, 16, PAL, text), show_id=16, user_id=PAL))
    town.deliver(MediaReadyV1(media_id=3, kind="photo", show_id=16, user_id=OWNER))  # not mailed by default
    auth = FakeAuth()
    state = town.app.state
    assert digest.run_once(state.session_factory, auth, state.settings) == 1  # type: ignore[arg-type]
    (path, mail), = auth.sent
    assert path == f"/internal/users/{OWNER}/mail" and mail["subject"] == "2 new notifications on ShareMyShows"
    assert sum("commented" in p for p in mail["paragraphs"]) == 2 and not any("photo" in p for p in mail["paragraphs"])
    # within the interval: a new notification waits
    town.deliver(CommentCreatedV1(comment_id=_comment(town, 16, PAL, "c"), show_id=16, user_id=PAL))
    assert digest.run_once(state.session_factory, auth, state.settings) == 0  # type: ignore[arg-type]
    later = notes.now() + dt.timedelta(seconds=state.settings.digest_interval_s + 1)
    monkeypatch.setattr(notes, "now", lambda: later)
    assert digest.run_once(state.session_factory, auth, state.settings) == 1  # type: ignore[arg-type]
    # the unsubscribe link works without a token, changes nothing on GET, and a forged one is refused
    link = mail["link"]
    query = link.split("?", 1)[1]
    c = town.client
    page = c.get(f"/api/public/unsubscribe?{query}")
    assert page.status_code == 200 and "<form method=\"post\"" in page.text
    assert c.get("/api/notifications/preferences", headers=town.headers(OWNER)).json()["email"]["comment"] is True
    forged = query[:-1] + ("0" if query[-1] != "0" else "1")
    assert c.post(f"/api/public/unsubscribe?{forged}").status_code == 404
    assert c.post(f"/api/public/unsubscribe?u={PAL}&{query.split('&')[1]}").status_code == 404  # not Pal's link
    assert c.post(f"/api/public/unsubscribe?{query}").status_code == 200
    assert not any(c.get("/api/notifications/preferences", headers=town.headers(OWNER)).json()["email"].values())
    town.deliver(CommentCreatedV1(comment_id=_comment(town, 16, PAL, "d"), show_id=16, user_id=PAL))
    monkeypatch.setattr(notes, "now", lambda: later + dt.timedelta(hours=1))
    assert digest.run_once(state.session_factory, auth, state.settings) == 0  # type: ignore[arg-type]
    with town.session() as s:  # nothing waits for a digest any more
        assert s.scalar(select(Notification).where(Notification.emailed_at.is_(None))) is None


def test_the_socket_pushes_new_notifications_and_closes_on_revocation(town: Any) -> None:
    _show(town, 17, OWNER)
    live = EventConsumer(EventBus(town.app.state.settings), town.app.state.event_subscriptions,
                         town.app.state.session_factory, town.app.state.outbox)
    with town.client.websocket_connect("/api/notifications/ws", headers=town.headers(OWNER)) as ws:
        assert ws.receive_json() == {"type": "hello", "unread": 0}
        cid = _comment(town, 17, PAL, "live!")
        live.handle(make_envelope(CommentCreatedV1(comment_id=cid, show_id=17, user_id=PAL), "social"))
        frame = ws.receive_json()
        assert frame["type"] == "notification" and frame["notification"]["type"] == "comment"
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}
    # a revoked session's socket closes with 4401 (the revocation list tells the hub)
    headers = town.headers(OWNER)
    sid = jwt.decode(headers["Authorization"].split()[1], options={"verify_signature": False})["sid"]
    with town.client.websocket_connect("/api/notifications/ws", headers=headers) as ws:
        assert ws.receive_json()["type"] == "hello"
        town.app.state.notify_hub.on_session_revoked(sid)
        assert ws.receive_json() == {"type": "closing", "code": 4401,
                                     "reason": "Your session has ended; sign in again."}
    with town.client.websocket_connect("/api/notifications/ws") as ws, pytest.raises(WebSocketDisconnect) as exc:
        ws.receive_json()
    assert exc.value.code == 4401
