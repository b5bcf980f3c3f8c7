"""Versions on friendship events, the friendship snapshot shows repairs from, deleted accounts, and the
comment that races its show's deletion."""

from __future__ import annotations

from sqlalchemy import func, select

from shared.events import ShowCreatedV1, ShowDeletedV1
from social.models import Comment

A, B = 1, 2


def _friend_events(social) -> list[tuple[str, int]]:
    model = social.app.state.outbox.Event
    with social.session() as s:
        rows = s.scalars(select(model).where(model.type.like("friendship.%"), model.type != "friendship.requested")
                         .order_by(model.created_at)).all()
        return [(r.type, r.payload["data"]["aggregate_version"]) for r in rows]


def _befriend(social, a: int, b: int) -> int:
    c = social.client
    rid = c.post("/api/friends/request", json={"friend_id": b}, headers=social.headers(a)).json()["id"]
    assert c.post(f"/api/friends/request/{rid}/accept", headers=social.headers(b)).status_code == 200
    return int(rid)


def test_a_pair_keeps_one_growing_version_across_unfriend_and_befriend(social) -> None:
    social.add_user(A, "alice")
    social.add_user(B, "bob")
    rid = _befriend(social, A, B)
    assert social.client.delete(f"/api/friends/{rid}", headers=social.headers(B)).status_code == 204
    _befriend(social, B, A)
    assert _friend_events(social) == [("friendship.accepted", 1), ("friendship.removed", 2),
                                      ("friendship.accepted", 3)]
    h = {"X-Internal-Token": social.app.state.settings.internal_token}
    assert social.client.get("/internal/snapshot/friendships").status_code == 401
    snap = social.client.get("/internal/snapshot/friendships", headers=h).json()
    assert snap == {"items": [{"user_a": A, "user_b": B, "accepted": True, "version": 3}], "next_after": None}
    assert social.client.get("/internal/snapshot/friendships?after=x", headers=h).status_code == 422


def test_a_deleted_accounts_token_posts_nothing(social) -> None:
    social.add_user(B, "bob")
    social.directory.deleted.add(9)
    social.world.add_show(1, B, visibility="public")
    c = social.client
    r = c.post("/api/friends/request", json={"friend_id": B}, headers=social.headers(9))
    assert r.status_code == 401 and r.json()["code"] == "account_deleted"
    assert c.post("/api/comments", json={"show_id": 1, "text": "hi"}, headers=social.headers(9)).status_code == 401
    assert social.outbox_types() == []


def test_a_comment_after_its_shows_deletion_is_refused(social) -> None:
    social.add_user(A, "alice")
    social.world.add_show(1, A, visibility="public")
    social.deliver(ShowCreatedV1(show_id=1, user_id=A, concert_id=10, visibility="public", aggregate_version=1))
    social.deliver(ShowDeletedV1(show_id=1, user_id=A, concert_id=10, aggregate_version=2))
    # shows still answers "visible" (its answer was cached, or the call raced the deletion): the copy's
    # tombstone, read under the row lock, refuses the write
    r = social.client.post("/api/comments", json={"show_id": 1, "text": "too late"}, headers=social.headers(A))
    assert r.status_code == 404
    with social.session() as s:
        assert s.scalar(select(func.count()).select_from(Comment)) == 0
