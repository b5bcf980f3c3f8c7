"""Check-in window, idempotency, check-out, expiry and active users."""

from __future__ import annotations

import datetime as dt
from typing import Any

from shared.db import utcnow
from shows import live
from shows.service import Viewer


def _today() -> str:
    return utcnow().date().isoformat()


def test_checkin_idempotent_and_checkout(client: Any, auth: Any, make_show: Any, outbox_types: Any) -> None:
    sid = make_show(1, date=_today())["id"]
    first = client.post(f"/api/shows/{sid}/checkin", headers=auth(1))
    assert first.status_code == 200, first.text
    again = client.post(f"/api/shows/{sid}/checkin", headers=auth(1))
    assert again.status_code == 200
    assert again.json()["checked_in_at"] == first.json()["checked_in_at"]
    assert first.json()["checked_in_at"].endswith("Z")
    out = client.post(f"/api/shows/{sid}/checkout", headers=auth(1))
    assert out.status_code == 200 and out.json()["checked_in_at"] == first.json()["checked_in_at"]
    out_again = client.post(f"/api/shows/{sid}/checkout", headers=auth(1))
    assert out_again.status_code == 200 and out_again.json()["checked_in_at"] is None
    assert outbox_types() == ["show.created", "checkin.created", "checkin.ended"]
    assert client.post(f"/api/shows/{sid}/checkin", headers=auth(1)).status_code == 200
    assert outbox_types()[-1] == "checkin.created"


def test_checkin_closed_far_from_the_date(client: Any, auth: Any, make_show: Any) -> None:
    sid = make_show(1, date="2019-01-01")["id"]
    resp = client.post(f"/api/shows/{sid}/checkin", headers=auth(1))
    assert resp.status_code == 409 and resp.json()["code"] == "checkin_closed"


def test_checkin_window_edges(session_factory: Any, make_show: Any) -> None:
    sid = make_show(1, date="2024-06-10")["id"]
    day_start = dt.datetime(2024, 6, 10, tzinfo=dt.UTC)
    with session_factory() as s:
        for offset_h, ok in [(-12, True), (-12.01, False), (36, True), (36.01, False), (20, True)]:
            now = day_start + dt.timedelta(hours=offset_h)
            assert live.checkin_open(dt.date(2024, 6, 10), now, 12) is ok
        before = day_start - dt.timedelta(hours=13)
        try:
            live.check_in(s, viewer=Viewer(1), show_id=sid, window_hours=12, ttl_hours=6, now=before)
            raise AssertionError("check-in should be closed")
        except Exception as exc:
            assert type(exc).__name__ == "CheckinClosed"
        r = live.check_in(s, viewer=Viewer(1), show_id=sid, window_hours=12, ttl_hours=6, now=day_start)
        assert r["checked_in_at"] == "2024-06-10T00:00:00Z"
        s.commit()


def test_checkins_expire_after_ttl(session_factory: Any, make_show: Any) -> None:
    sid = make_show(1, date="2024-06-10")["id"]
    t0 = dt.datetime(2024, 6, 10, 18, tzinfo=dt.UTC)
    with session_factory() as s:
        live.check_in(s, viewer=Viewer(1, "u1"), show_id=sid, window_hours=12, ttl_hours=6, now=t0)
        s.commit()
        seen = live.active_users(s, viewer=Viewer(1), show_id=sid, ttl_hours=6, now=t0 + dt.timedelta(hours=5))
        assert seen["total"] == 1 and seen["users"][0]["username"] == "user1"
        later = t0 + dt.timedelta(hours=7)
        assert live.active_users(s, viewer=Viewer(1), show_id=sid, ttl_hours=6, now=later)["total"] == 0
        # the expired check-in no longer counts: checking in again starts a new one
        again = live.check_in(s, viewer=Viewer(1), show_id=sid, window_hours=12, ttl_hours=6, now=later)
        assert again["checked_in_at"] == "2024-06-11T01:00:00Z"


def test_active_users_privacy(client: Any, auth: Any, make_show: Any, befriend: Any) -> None:
    today = _today()
    owner = make_show(1, date=today, visibility="public")
    friend = make_show(2, date=today, visibility="friends")
    hidden = make_show(3, date=today, visibility="private")
    stranger_pub = make_show(4, date=today, visibility="public")
    befriend(1, 2)
    for uid, show in [(1, owner), (2, friend), (3, hidden), (4, stranger_pub)]:
        assert client.post(f"/api/shows/{show['id']}/checkin", headers=auth(uid)).status_code == 200
    seen_by_1 = client.get(f"/api/shows/{owner['id']}/active-users", headers=auth(1)).json()
    assert {u["user_id"] for u in seen_by_1["users"]} == {1, 2, 4}
    assert seen_by_1["total"] == 3
    assert set(seen_by_1["users"][0]) == {"user_id", "username", "checked_in_at"}
    seen_by_4 = client.get(f"/api/shows/{stranger_pub['id']}/active-users", headers=auth(4)).json()
    assert {u["user_id"] for u in seen_by_4["users"]} == {1, 4}
    # someone who may see the show but was not at the concert: 403; someone who may not see it: 404
    assert client.get(f"/api/shows/{owner['id']}/active-users", headers=auth(9)).status_code == 403
    assert client.get(f"/api/shows/{hidden['id']}/active-users", headers=auth(9)).status_code == 404
    # one who logged the concert without checking in may look
    logged = make_show(5, date=today, visibility="public")
    assert client.get(f"/api/shows/{logged['id']}/active-users", headers=auth(5)).status_code == 200


def test_checkin_needs_own_show(client: Any, auth: Any, make_show: Any) -> None:
    sid = make_show(1, date=_today(), visibility="public")["id"]
    assert client.post(f"/api/shows/{sid}/checkin", headers=auth(2)).status_code == 403
    assert client.post(f"/api/shows/{sid}/checkout", headers=auth(2)).status_code == 403
    assert client.post("/api/shows/424242/checkin", headers=auth(2)).status_code == 404
