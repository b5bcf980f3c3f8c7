"""Create, read, update and delete shows through the API."""

from __future__ import annotations

from typing import Any

SEED_SHOW = {
    "artist_name": "Arctic Monkeys",
    "venue_name": "Madison Square Garden",
    "venue_location": "New York, NY",
    "date": "2024-12-01",
    "time": "20:00",
    "notes": "Amazing show!",
}


def test_create_seed_body_verbatim(client: Any, auth: Any, outbox_types: Any) -> None:
    resp = client.post("/api/shows", json=SEED_SHOW, headers=auth(1, "medic"))
    assert resp.status_code == 201, resp.text
    show = resp.json()
    assert show["artist"]["name"] == "Arctic Monkeys"
    assert show["venue"]["name"] == "Madison Square Garden"
    assert show["venue"]["city"] == "New York" and show["venue"]["state"] == "NY"
    assert show["venue_location"] == "New York, NY"
    assert show["date"] == "2024-12-01" and show["time"] == "20:00" and show["notes"] == "Amazing show!"
    assert show["owner"] == {"id": 1, "username": "medic"} and show["is_owner"] is True
    assert show["visibility"] == "friends" and show["rating"] is None
    assert show["others_count"] == 0 and show["attendee_count"] == 1 and show["song_count"] == 0
    assert show["created_at"].endswith("Z")
    assert outbox_types() == ["show.created"]


def test_same_concert_is_shared_case_and_accent_insensitively(make_show: Any) -> None:
    first = make_show(1, artist_name="Sigur Rós", venue_name="Harpa", venue_location="Reykjavík, Iceland")
    second = make_show(2, artist_name="  sigur   ros ", venue_name="HARPA", venue_location="reykjavik, Iceland")
    assert second["concert_id"] == first["concert_id"]
    assert second["artist"]["id"] == first["artist"]["id"]
    assert second["others_count"] == 1 and second["attendee_count"] == 2
    assert first["venue"]["country"] == "Iceland" and first["venue"]["state"] == ""


def test_duplicate_show_is_409_with_existing_id(client: Any, auth: Any, make_show: Any) -> None:
    show = make_show(1)
    resp = client.post("/api/shows", json={**SEED_SHOW, "artist_name": "ARCTIC MONKEYS"}, headers=auth(1))
    assert resp.status_code == 409
    body = resp.json()
    assert body["code"] == "duplicate_show"
    assert body["details"] == [{"field": "show_id", "message": str(show["id"])}]


def test_optional_fields_and_mass_assignment_ignored(client: Any, auth: Any) -> None:
    body = {
        "artist_name": "Björk",
        "venue_name": "Royal Albert Hall",
        "city": "London",
        "country": "UK",
        "date": "2023-05-01",
        "rating": 5,
        "visibility": "public",
        "visible_to": [3, 2, 2],
        "artist_mbid": "87c5dedd-371d-4a53-9f7f-80522fb7f3cb",
        "user_id": 99,
        "owner": {"id": 99},
        "id": 5,
        "surprise": True,
    }
    resp = client.post("/api/shows", json=body, headers=auth(7))
    assert resp.status_code == 201, resp.text
    show = resp.json()
    assert show["user_id"] == 7 and show["owner"]["id"] == 7
    assert show["rating"] == 5 and show["visibility"] == "public" and show["visible_to"] == [2, 3]
    assert show["artist"]["mbid"] == "87c5dedd-371d-4a53-9f7f-80522fb7f3cb"
    assert show["venue_location"] == "London, UK" and show["time"] is None


def test_validation_errors_have_field_details(client: Any, auth: Any) -> None:
    h = auth(1)
    cases = [
        ({**SEED_SHOW, "date": "2024-02-30"}, "date"),
        ({**SEED_SHOW, "date": "yesterday"}, "date"),
        ({**SEED_SHOW, "artist_name": "x" * 10_240}, "artist_name"),
        ({**SEED_SHOW, "artist_name": "   "}, "artist_name"),
        ({**SEED_SHOW, "venue_name": ""}, "venue_name"),
        ({**SEED_SHOW, "rating": 6}, "rating"),
        ({**SEED_SHOW, "rating": 0}, "rating"),
        ({**SEED_SHOW, "time": "25:00"}, "time"),
        ({**SEED_SHOW, "visibility": "everyone"}, "visibility"),
        ({k: v for k, v in SEED_SHOW.items() if k != "date"}, "date"),
        ({k: v for k, v in SEED_SHOW.items() if k != "artist_name"}, "artist_name"),
    ]
    for body, field in cases:
        resp = client.post("/api/shows", json=body, headers=h)
        assert resp.status_code == 422, (body, resp.text)
        out = resp.json()
        assert out["code"] == "validation_error"
        assert field in [d["field"] for d in out["details"]], out


def test_malformed_and_null_bodies(client: Any, auth: Any) -> None:
    h = {**auth(1), "Content-Type": "application/json"}
    assert client.post("/api/shows", content=b"{not json", headers=h).status_code == 400
    assert client.post("/api/shows", content=b"null", headers=h).status_code == 422
    assert client.post("/api/shows", json=[1, 2], headers=h).status_code == 422


def test_detail_includes_setlist_media_and_comments(client: Any, auth: Any, make_show: Any, peers: Any) -> None:
    show = make_show(1)
    peers.media = {"photos": [{"id": 1}], "audio": [{"id": 2}], "videos": []}
    peers.comments = [{"id": 9, "text": "great"}]
    client.post(f"/api/shows/{show['id']}/setlist", json={"title": "Do I Wanna Know?"}, headers=auth(1))
    resp = client.get(f"/api/shows/{show['id']}", headers=auth(1))
    assert resp.status_code == 200
    body = resp.json()
    assert [s["title"] for s in body["setlist"]] == ["Do I Wanna Know?"]
    assert body["photos"] == [{"id": 1}] and body["audio"] == [{"id": 2}] and body["videos"] == []
    assert body["comments"] == [{"id": 9, "text": "great"}]
    assert body["song_count"] == 1 and body.get("degraded") is None


def test_detail_degrades_when_a_service_is_down(client: Any, auth: Any, make_show: Any, peers: Any) -> None:
    show = make_show(1)
    peers.down = {"media"}
    peers.comments = [{"id": 1}]
    body = client.get(f"/api/shows/{show['id']}", headers=auth(1)).json()
    assert body["photos"] == [] and body["audio"] == [] and body["videos"] == []
    assert body["comments"] == [{"id": 1}] and body["degraded"] == ["media"]


def test_unknown_and_bad_ids(client: Any, auth: Any) -> None:
    h = auth(1)
    assert client.get("/api/shows/999999", headers=h).status_code == 404
    assert client.get("/api/shows/999999", headers=h).json()["code"] == "show_not_found"
    assert client.put("/api/shows/999999", json={"notes": "x"}, headers=h).status_code == 404
    assert client.delete("/api/shows/999999", headers=h).status_code == 404
    assert client.get("/api/shows/abc", headers=h).status_code == 422
    assert client.get("/api/shows/0", headers=h).status_code == 422
    assert client.get("/api/shows/99999999999999999999", headers=h).status_code == 422


def test_update_partial(client: Any, auth: Any, make_show: Any, outbox_types: Any) -> None:
    show = make_show(1, rating=4)
    resp = client.put(f"/api/shows/{show['id']}", json={"notes": "Even better live", "user_id": 2}, headers=auth(1))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["notes"] == "Even better live" and body["rating"] == 4 and body["user_id"] == 1
    assert body["time"] == "20:00"
    resp = client.put(f"/api/shows/{show['id']}", json={"rating": None, "visibility": "public"}, headers=auth(1))
    assert resp.json()["rating"] is None and resp.json()["visibility"] == "public"
    assert client.put(f"/api/shows/{show['id']}", json={"rating": 9}, headers=auth(1)).status_code == 422
    assert client.put(f"/api/shows/{show['id']}", json={"date": None}, headers=auth(1)).status_code == 422
    assert outbox_types() == ["show.created", "show.updated", "show.updated"]


def test_update_moves_to_another_concert(client: Any, auth: Any, make_show: Any) -> None:
    a = make_show(1)
    b = make_show(2, date="2024-12-02")
    resp = client.put(f"/api/shows/{a['id']}", json={"date": "2024-12-02"}, headers=auth(1))
    assert resp.status_code == 200
    moved = resp.json()
    assert moved["concert_id"] == b["concert_id"] and moved["date"] == "2024-12-02"
    assert moved["attendee_count"] == 2
    assert moved["venue"]["city"] == "New York"
    c = make_show(1, date="2024-12-03")
    clash = client.put(f"/api/shows/{c['id']}", json={"date": "2024-12-02"}, headers=auth(1))
    assert clash.status_code == 409


def test_delete_cascades_and_emits(
    client: Any, auth: Any, make_show: Any, outbox_types: Any, session_factory: Any
) -> None:
    show = make_show(1, date="2024-01-01")
    sid = show["id"]
    client.post(f"/api/shows/{sid}/setlist", json={"title": "A"}, headers=auth(1))
    assert client.delete(f"/api/shows/{sid}", headers=auth(1)).status_code == 204
    assert client.get(f"/api/shows/{sid}", headers=auth(1)).status_code == 404
    assert client.delete(f"/api/shows/{sid}", headers=auth(1)).status_code == 404
    assert outbox_types() == ["show.created", "show.deleted"]
    from shows.db import OutboxEvent

    with session_factory() as s:
        ev = s.query(OutboxEvent).filter_by(type="show.deleted").one()
        assert ev.payload["data"]["show_id"] == sid and ev.payload["data"]["user_id"] == 1
        from shows.models import SetlistSong

        assert s.query(SetlistSong).count() == 0


def test_anonymous_is_401(client: Any, make_show: Any) -> None:
    show = make_show(1)
    for method, path in [
        ("GET", "/api/shows"),
        ("POST", "/api/shows"),
        ("GET", f"/api/shows/{show['id']}"),
        ("PUT", f"/api/shows/{show['id']}"),
        ("DELETE", f"/api/shows/{show['id']}"),
        ("GET", f"/api/shows/{show['id']}/setlist"),
        ("GET", "/api/dashboard/stats"),
        ("GET", "/api/shows/export.csv"),
        ("GET", "/api/artists?q=a"),
    ]:
        resp = client.request(method, path, json={})
        assert resp.status_code == 401, (method, path, resp.text)
        assert resp.json()["code"] == "not_authenticated"
    bad = client.get("/api/shows", headers={"Authorization": "Bearer not.a.token"})
    assert bad.status_code == 401


def test_venue_without_city_joins_the_known_one(make_show: Any) -> None:
    bare = make_show(1, venue_location=None, venue_name="Tiny Club", date="2020-05-05")
    assert bare["venue"]["city"] == ""
    full = make_show(2, venue_name="tiny club", venue_location="Austin, TX", date="2020-05-05")
    assert full["concert_id"] == bare["concert_id"] and full["venue"]["city"] == "Austin"
    again = make_show(3, venue_name="TINY CLUB", venue_location=None, date="2020-05-05")
    assert again["concert_id"] == bare["concert_id"] and again["attendee_count"] == 3
    elsewhere = make_show(4, venue_name="Tiny Club", venue_location="Boston, MA", date="2020-05-05")
    assert elsewhere["concert_id"] != bare["concert_id"]


def test_visible_to_must_hold_user_ids(client: Any, auth: Any) -> None:
    for bad in ([0], [2**40], ["x"], list(range(1, 1100))):
        resp = client.post("/api/shows", json={**SEED_SHOW, "visible_to": bad}, headers=auth(1))
        assert resp.status_code == 422, (bad, resp.text)
        assert resp.json()["details"][0]["field"].startswith("visible_to")
