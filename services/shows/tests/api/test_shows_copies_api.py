"""The shows snapshot other services repair their copies from, versions on show events, and refusing
tokens of accounts that auth says are gone."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from shows.db import OutboxEvent


def _versions(session_factory: Any, show_id: int) -> list[tuple[str, int]]:
    with session_factory() as s:
        rows = s.scalars(select(OutboxEvent).order_by(OutboxEvent.created_at)).all()
        return [(r.type, r.payload["data"]["aggregate_version"]) for r in rows
                if r.payload["data"].get("show_id") == show_id]


def test_show_events_carry_growing_versions(client: Any, auth: Any, make_show: Any, session_factory: Any) -> None:
    sid = make_show(1)["id"]
    client.put(f"/api/shows/{sid}", json={"visibility": "private"}, headers=auth(1))
    client.put(f"/api/shows/{sid}", json={"notes": "encore!"}, headers=auth(1))
    assert client.delete(f"/api/shows/{sid}", headers=auth(1)).status_code == 204
    assert _versions(session_factory, sid) == [("show.created", 1), ("show.updated", 2), ("show.updated", 3),
                                                ("show.deleted", 4)]


def test_snapshot_pages_live_shows_and_tombstones(client: Any, auth: Any, make_show: Any) -> None:
    ids = [make_show(1, artist_name=f"Band {i}")["id"] for i in range(3)]
    client.put(f"/api/shows/{ids[0]}", json={"visibility": "public", "visible_to": None}, headers=auth(1))
    client.delete(f"/api/shows/{ids[1]}", headers=auth(1))
    h = {"X-Internal-Token": client.app.state.settings.internal_token}
    assert client.get("/internal/snapshot/shows").status_code == 401
    first = client.get("/internal/snapshot/shows", params={"limit": 2}, headers=h).json()
    assert [(i["show_id"], i["aggregate_version"], i["deleted"]) for i in first["items"]] == [
        (ids[0], 2, False), (ids[1], 2, True)
    ]
    live = first["items"][0]
    assert live["visibility"] == "public" and live["user_id"] == 1 and live["artist_name"] == "Band 0"
    assert first["next_after"] == str(ids[1])
    rest = client.get("/internal/snapshot/shows", params={"after": first["next_after"]}, headers=h).json()
    assert [i["show_id"] for i in rest["items"]] == [ids[2]] and rest["next_after"] is None
    later = client.get("/internal/snapshot/shows", params={"since": "2999-01-01T00:00:00Z"}, headers=h).json()
    assert later["items"] == []


def test_a_deleted_accounts_token_creates_nothing(client: Any, auth: Any, directory: Any, outbox_types: Any) -> None:
    directory.deleted.add(5)
    r = client.post("/api/shows", json={"artist_name": "A", "venue_name": "V", "date": "2024-01-01"},
                    headers=auth(5))
    assert r.status_code == 401 and r.json()["code"] == "account_deleted"
    directory.unknown.add(6)  # an id auth never issued
    r = client.post("/api/shows", json={"artist_name": "A", "venue_name": "V", "date": "2024-01-01"},
                    headers=auth(6))
    assert r.status_code == 401
    assert outbox_types() == []


def test_access_endpoint_takes_socials_word_on_friendship(client: Any, auth: Any, make_show: Any,
                                                          befriend: Any) -> None:
    sid = make_show(1, visibility="friends")["id"]
    befriend(1, 2)
    h = {"X-Internal-Token": client.app.state.settings.internal_token}
    ask = lambda **p: client.get(f"/internal/shows/{sid}/access", params={"user_id": 2, **p}, headers=h).json()  # noqa: E731
    assert ask()["can_view"] is True
    assert ask(friends="false")["can_view"] is False  # social just unfriended them; the copy lags
    assert ask(friends="true")["can_view"] is True
