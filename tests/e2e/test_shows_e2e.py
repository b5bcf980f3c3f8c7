"""Shows end to end through the gateway on PostgreSQL and RabbitMQ (the `stack` fixture)."""

from __future__ import annotations

import random
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.db import make_engine, make_session_factory
from shared.events import EventEnvelope, ShowDeletedV1
from shared.messaging import EventBus, EventConsumer, OutboxRelay, Subscriptions
from shared.settings import BaseServiceSettings
from shared.testing.plugin import wait_for

pytestmark = pytest.mark.e2e

SEED_SHOW = {
    "artist_name": "Arctic Monkeys",
    "venue_name": "Madison Square Garden",
    "venue_location": "New York, NY",
    "date": "2024-12-01",
    "time": "20:00",
    "notes": "Amazing show!",
}


class _ProbeSettings(BaseServiceSettings):
    service_name = "shows-e2e-probe"


def _bus(stack_env: dict[str, str]) -> EventBus:
    return EventBus(_ProbeSettings(BROKER_URL=stack_env["BROKER_URL"], VAR_DIR="/tmp"))


def _unique_show(**kw: Any) -> dict[str, Any]:
    # every test gets its own concert so reruns and other suites never collide
    return {**SEED_SHOW, "artist_name": f"Arctic Monkeys {uuid.uuid4().hex[:6]}", **kw}


def test_seed_body_verbatim_on_postgres(make_user: Any) -> None:
    user = make_user()
    created = user.client.post("/api/shows", json=SEED_SHOW)
    assert created.status_code in (201, 409), created.text
    if created.status_code == 409:  # the seed walkthrough may have logged it for another user only
        pytest.fail("a fresh user cannot already have this show")
    show = created.json()
    assert show["venue"]["city"] == "New York" and show["venue"]["state"] == "NY"
    assert show["owner"] == {"id": user.id, "username": user.username}
    listed = user.client.get("/api/shows")
    assert [s["id"] for s in listed.json()] == [show["id"]] and listed.headers["X-Total-Count"] == "1"
    detail = user.client.get(f"/api/shows/{show['id']}").json()
    assert detail["setlist"] == [] and isinstance(detail["photos"], list)
    other = make_user()
    again = other.client.post("/api/shows", json=SEED_SHOW).json()
    assert again["concert_id"] == show["concert_id"] and again["others_count"] >= 1
    assert other.client.get(f"/api/shows/{show['id']}").status_code == 404  # friends-only, not friends
    stats = user.client.get("/api/dashboard/stats").json()
    assert stats["total_shows"] == 1 and stats["total_artists"] == 1
    assert user.client.get("/api/shows/export.csv").status_code == 200
    assert user.client.get("/api/shows/calendar.ics").status_code == 200
    assert user.client.delete(f"/api/shows/{show['id']}").status_code == 204


def _befriend(a: Any, b: Any) -> None:
    """Through social's API only: if the friend flow breaks, the tests that need friends fail."""
    req = a.client.post("/api/friends/request", json={"friend_id": b.id})
    assert req.status_code == 201, req.text
    assert b.client.post(f"/api/friends/request/{req.json()['id']}/accept").status_code == 200


def test_friend_sees_friends_only_show_after_friendship(make_user: Any) -> None:
    owner, friend, stranger = make_user(), make_user(), make_user()
    show = owner.client.post("/api/shows", json=_unique_show(visibility="friends")).json()
    assert friend.client.get(f"/api/shows/{show['id']}").status_code == 404
    _befriend(owner, friend)
    wait_for(
        lambda: friend.client.get(f"/api/shows/{show['id']}").status_code == 200,
        30,
        what="friendship.accepted to reach shows",
    )
    seen = friend.client.get(f"/api/shows?user_id={owner.id}").json()
    assert [s["id"] for s in seen] == [show["id"]]
    assert stranger.client.get(f"/api/shows/{show['id']}").status_code == 404
    assert friend.client.put(f"/api/shows/{show['id']}", json={"notes": "x"}).status_code == 403
    assert stranger.client.delete(f"/api/shows/{show['id']}").status_code == 404


def test_concurrent_logging_gives_one_show_per_person_and_one_concert(make_user: Any) -> None:
    # artist, venue, concert and show are each inserted by INSERT ... ON CONFLICT DO NOTHING RETURNING: under a
    # race the loser finds the winner's row (one concert for everybody) or, for the same person, answers 409
    body = _unique_show(venue_name=f"Hall {uuid.uuid4().hex[:6]}")
    a, b, c = make_user(), make_user(), make_user()
    posters = [a, a, a, b, c]
    barrier = threading.Barrier(len(posters))
    answers: list[tuple[int, httpx.Response]] = []

    def post(user: Any) -> None:
        barrier.wait()
        answers.append((user.id, user.client.post("/api/shows", json=body)))

    threads = [threading.Thread(target=post, args=(u,)) for u in posters]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    created = {uid: r.json() for uid, r in answers if r.status_code == 201}
    refused = [r for uid, r in answers if r.status_code != 201]
    assert sorted(created) == sorted({a.id, b.id, c.id}), [(uid, r.status_code, r.text) for uid, r in answers]
    assert len(refused) == 2 and all(r.status_code == 409 and r.json()["code"] == "duplicate_show" for r in refused)
    assert all(r.json()["details"] == [{"field": "show_id", "message": str(created[a.id]["id"])}] for r in refused)
    assert len({s["concert_id"] for s in created.values()}) == 1
    assert len({s["artist"]["id"] for s in created.values()}) == 1 and len({s["venue"]["id"]
                                                                            for s in created.values()}) == 1
    assert [s["id"] for s in a.client.get("/api/shows").json()] == [created[a.id]["id"]]


def test_twenty_concurrent_setlist_moves_on_postgres(make_user: Any) -> None:
    user = make_user()
    sid = user.client.post("/api/shows", json=_unique_show()).json()["id"]
    ids = [user.client.post(f"/api/shows/{sid}/setlist", json={"title": f"S{i}"}).json()["id"] for i in range(10)]
    rng = random.Random(3)
    jobs = [(rng.choice(ids), rng.randint(1, 12)) for _ in range(20)]
    statuses: list[int] = []
    barrier = threading.Barrier(len(jobs))

    def move(song_id: int, target: int) -> None:
        with httpx.Client(base_url=str(user.client.base_url), headers=user.headers(), timeout=30) as c:
            barrier.wait()
            statuses.append(c.put(f"/api/shows/{sid}/setlist/{song_id}", json={"order": target}).status_code)

    threads = [threading.Thread(target=move, args=j) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 20
    songs = user.client.get(f"/api/shows/{sid}/setlist").json()
    assert [s["order"] for s in songs] == list(range(1, 11)) and sorted(s["id"] for s in songs) == sorted(ids)


def test_show_deleted_once_even_if_relayed_twice(make_user: Any, stack_env: dict[str, str], tmp_path: Path) -> None:
    from shows.db import Base, OutboxEvent, outbox

    bus = _bus(stack_env)
    probe_db = make_session_factory(make_engine(f"sqlite:///{tmp_path / 'probe.db'}"), outbox)
    Base.metadata.create_all(probe_db.kw["bind"])
    seen: list[int] = []

    subs = Subscriptions("shows-e2e-probe")

    @subs.on(ShowDeletedV1)
    def on_deleted(_s: Session, event: ShowDeletedV1, _env: EventEnvelope) -> None:
        seen.append(event.show_id)

    probe = EventConsumer(bus, subs, probe_db, outbox, topology={"shows-e2e-probe": ["show.deleted"]})
    probe.start()
    assert probe.ready.wait(20)
    try:
        user = make_user()
        show = user.client.post("/api/shows", json=_unique_show()).json()
        assert user.client.delete(f"/api/shows/{show['id']}").status_code == 204
        wait_for(lambda: show["id"] in seen, 30, what="show.deleted on the bus")
        # replay: mark the show's outbox rows unpublished and run a second relay against the shows database
        shows_db = make_session_factory(make_engine(stack_env["SHOWS_DATABASE_URL"]), outbox)
        with shows_db() as s:
            ids = [
                e.id
                for e in s.scalars(select(OutboxEvent).where(OutboxEvent.type == "show.deleted"))
                if e.payload["data"]["show_id"] == show["id"]
            ]
            assert len(ids) == 1  # emitted once
            s.execute(update(OutboxEvent).where(OutboxEvent.id.in_(ids)).values(published_at=None))
            s.commit()
        wait_for(
            lambda: OutboxRelay(bus, shows_db, outbox).relay_once() >= 0 and _published(shows_db, ids),
            30,
            what="second relay run",
        )
        time.sleep(2)
        assert seen.count(show["id"]) == 1
    finally:
        probe.stop()


def _published(factory: Any, ids: list[str]) -> bool:
    from shows.db import OutboxEvent

    with factory() as s:
        return all(s.get(OutboxEvent, i).published_at is not None for i in ids)
