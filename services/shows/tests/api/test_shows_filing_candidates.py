"""GET /internal/users/{id}/filing-candidates: the user's shows in a date range, venue position, check-ins."""

from __future__ import annotations

from typing import Any

from shared.db import utcnow


def test_candidates_in_range_with_checkins(client: Any, auth: Any, make_show: Any, settings: Any,
                                           session_factory: Any) -> None:
    today = utcnow().date().isoformat()
    a = make_show(1, date="2024-12-01", time="20:00")
    b = make_show(1, date="2024-12-03", artist_name="Other Band")
    make_show(1, date="2025-01-10", artist_name="Later Band")
    make_show(2, date="2024-12-01", artist_name="Not Mine")
    now_show = make_show(1, date=today, artist_name="Tonight")
    assert client.post(f"/api/shows/{now_show['id']}/checkin", headers=auth(1)).status_code in (200, 201)
    h = {"X-Internal-Token": settings.internal_token}

    r = client.get("/internal/users/1/filing-candidates", params={"from": "2024-11-30", "to": "2024-12-31"}, headers=h)
    assert r.status_code == 200, r.text
    shows = r.json()["shows"]
    assert [s["show_id"] for s in shows] == [a["id"], b["id"]]
    assert shows[0]["date"] == "2024-12-01" and shows[0]["time"] == "20:00" and shows[0]["checkins"] == []
    assert shows[0]["concert_id"] == a["concert_id"] and set(shows[0]["venue"]) == {"latitude", "longitude"}

    r = client.get("/internal/users/1/filing-candidates", params={"from": today, "to": today}, headers=h)
    (tonight,) = r.json()["shows"]
    (checkin,) = tonight["checkins"]
    assert checkin["checked_in_at"] < checkin["checked_out_at"]  # open: ends after the check-in lifetime

    assert client.get("/internal/users/1/filing-candidates", params={"from": "2024-12-31", "to": "2024-12-01"},
                      headers=h).status_code == 422
    assert client.get("/internal/users/1/filing-candidates", params={"from": "2000-01-01", "to": "2024-12-01"},
                      headers=h).status_code == 422
    assert client.get("/internal/users/1/filing-candidates", params={"from": "2024-12-01", "to": "2024-12-01"},
                      headers={"X-Internal-Token": "wrong"}).status_code == 401
