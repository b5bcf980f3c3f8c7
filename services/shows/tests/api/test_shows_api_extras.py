"""Dashboard, exports (CSV, iCalendar), autocomplete and internal endpoints."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from icalendar import Calendar


def test_dashboard_stats(client: Any, auth: Any, make_show: Any, peers: Any) -> None:
    empty = client.get("/api/dashboard/stats", headers=auth(1))
    assert empty.status_code == 200 and empty.json()["total_shows"] == 0
    make_show(1, date="2022-01-01")
    make_show(1, date="2023-01-01")
    make_show(1, artist_name="Radiohead", venue_name="Olympia", venue_location="Paris, France", date="2023-05-01")
    future = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    make_show(1, artist_name="Radiohead", venue_name="Olympia", venue_location="Paris, France", date=future)
    make_show(2, date="2020-01-01")
    peers.media_counts = {"photos": 4, "audio": 2, "videos": 1}
    peers.social_counts = {"comments": 7, "friends": 3}
    body = client.get("/api/dashboard/stats", headers=auth(1)).json()
    assert body["total_shows"] == 4 and body["total_artists"] == 2 and body["total_venues"] == 2
    assert (body["total_photos"], body["total_audio"], body["total_videos"]) == (4, 2, 1)
    assert body["total_comments"] == 7 and body["total_friends"] == 3
    assert body["upcoming_shows"] == 1
    years = {y["year"]: y["count"] for y in body["shows_per_year"]}
    assert years[2022] == 1 and years[2023] == 2
    assert "degraded" not in body or body["degraded"] is None


def test_dashboard_stats_degrades(client: Any, auth: Any, make_show: Any, peers: Any) -> None:
    make_show(1)
    peers.down = {"media", "social"}
    body = client.get("/api/dashboard/stats", headers=auth(1)).json()
    assert body["total_shows"] == 1 and body["total_photos"] == 0 and body["total_friends"] == 0
    assert sorted(body["degraded"]) == ["media", "social"]


def test_dashboard_artists_and_venues(client: Any, auth: Any, make_show: Any) -> None:
    make_show(1, date="2022-01-01")
    make_show(1, date="2023-06-01", venue_name="The O2", venue_location="London, UK")
    make_show(1, artist_name="Radiohead", date="2021-01-01")
    artists = client.get("/api/dashboard/artists", headers=auth(1)).json()
    assert artists["total"] == 2
    top = artists["artists"][0]
    assert top["artist_name"] == "Arctic Monkeys" and top["show_count"] == 2
    assert top["first_seen"] == "2022-01-01" and top["last_seen"] == "2023-06-01"
    assert set(top) == {"artist_id", "artist_name", "show_count", "first_seen", "last_seen", "image_url"}
    venues = client.get("/api/dashboard/venues?limit=1", headers=auth(1)).json()
    assert venues["total"] == 2 and len(venues["venues"]) == 1
    msg = venues["venues"][0]
    assert msg["venue_name"] == "Madison Square Garden" and msg["show_count"] == 2 and msg["city"] == "New York"
    assert client.get("/api/dashboard/artists", headers=auth(2)).json() == {"artists": [], "total": 0}


def test_export_csv(client: Any, auth: Any, make_show: Any) -> None:
    make_show(1, notes='He said "encore", twice\nthen left', rating=5)
    make_show(1, artist_name='=HYPERLINK("http://evil")', date="2020-01-01")
    make_show(2, artist_name="Not Mine")
    resp = client.get("/api/shows/export.csv", headers=auth(1))
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    assert resp.headers["content-disposition"].startswith("attachment")
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert len(rows) == 2
    assert rows[1]["artist"] == "Arctic Monkeys" and rows[1]["notes"] == 'He said "encore", twice\nthen left'
    assert rows[1]["rating"] == "5" and rows[1]["city"] == "New York"
    assert rows[0]["artist"].startswith("'=")  # no formula injection
    assert "Not Mine" not in resp.text


def test_export_ics(client: Any, auth: Any, make_show: Any) -> None:
    a = make_show(1)
    b = make_show(1, date="2020-02-02", time=None, venue_name="Café Łódź", venue_location="Łódź, Poland")
    resp = client.get("/api/shows/calendar.ics", headers=auth(1))
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/calendar")
    cal = Calendar.from_ical(resp.content)
    events = {str(e["uid"]): e for e in cal.walk("VEVENT")}
    assert set(events) == {f"show-{a['id']}@sharemyshows", f"show-{b['id']}@sharemyshows"}
    ea = events[f"show-{a['id']}@sharemyshows"]
    assert str(ea["summary"]) == "Arctic Monkeys at Madison Square Garden"
    assert ea.decoded("dtstart") == dt.datetime(2024, 12, 1, 20, 0)
    assert "New York, NY" in str(ea["location"])
    eb = events[f"show-{b['id']}@sharemyshows"]
    assert eb.decoded("dtstart") == dt.date(2020, 2, 2)
    assert str(eb["summary"]) == "Arctic Monkeys at Café Łódź"


def test_autocomplete(client: Any, auth: Any, make_show: Any) -> None:
    make_show(1, artist_name="Arcade Fire", date="2020-01-01")
    make_show(2, artist_name="Arcade Fire", date="2020-01-01")
    make_show(1, artist_name="Arctic Monkeys")
    make_show(1, artist_name="Árvore", date="2021-01-01")
    make_show(1, artist_name="Blur", date="2021-01-02")
    names = [a["name"] for a in client.get("/api/artists?q=AR", headers=auth(3)).json()["artists"]]
    assert names == ["Arcade Fire", "Arctic Monkeys", "Árvore"]
    assert [a["name"] for a in client.get("/api/artists?q=arv", headers=auth(3)).json()["artists"]] == ["Árvore"]
    assert client.get("/api/artists?q=%25", headers=auth(3)).json() == {"artists": []}
    assert client.get("/api/artists", headers=auth(3)).json() == {"artists": []}
    venues = client.get("/api/venues?q=madi", headers=auth(3)).json()["venues"]
    assert venues[0]["name"] == "Madison Square Garden" and venues[0]["location"] == "New York, NY"
    assert venues[0]["show_count"] == 5


def test_internal_access(client: Any, auth: Any, make_show: Any, befriend: Any, settings: Any) -> None:
    show = make_show(1, visibility="friends")
    befriend(1, 2)
    h = {"X-Internal-Token": settings.internal_token}
    assert client.get(f"/internal/shows/{show['id']}/access?user_id=2").status_code == 401
    assert (
        client.get(f"/internal/shows/{show['id']}/access?user_id=2", headers={"X-Internal-Token": "wrong"}).status_code
        == 401
    )
    friend = client.get(f"/internal/shows/{show['id']}/access?user_id=2", headers=h).json()
    assert friend == {
        "show_id": show["id"],
        "owner_id": 1,
        "concert_id": show["concert_id"],
        "visibility": "friends",
        "can_view": True,
        "can_edit": False,
        "logged_concert": False,
        "checked_in": False,
        "show_name": "Arctic Monkeys at Madison Square Garden",
        "date": "2024-12-01",
    }
    owner = client.get(f"/internal/shows/{show['id']}/access?user_id=1", headers=h).json()
    assert owner["can_edit"] and owner["logged_concert"]
    stranger = client.get(f"/internal/shows/{show['id']}/access?user_id=3", headers=h).json()
    assert not stranger["can_view"] and not stranger["can_edit"]
    assert client.get("/internal/shows/99999/access?user_id=3", headers=h).status_code == 404
    info = client.get(f"/internal/shows/{show['id']}", headers=h).json()
    assert info["owner_id"] == 1 and info["show_name"] == "Arctic Monkeys at Madison Square Garden"
    assert info["setlist"] == []
    client.post(f"/api/shows/{show['id']}/setlist", json={"title": "505"}, headers=auth(1))
    assert client.get(f"/internal/shows/{show['id']}", headers=h).json()["setlist"] == [
        {"position": 1, "title": "505"}]
    ids = client.get("/internal/users/1/shows?ids_only=1", headers=h).json()
    assert ids["show_ids"] == [show["id"]]
    info = client.get(f"/internal/shows/{make_show(1, date='2024-12-02', time='20:30')['id']}", headers=h).json()
    assert info["time"] == "20:30"


def test_internal_public_profile_counts_only_public_shows(client: Any, make_show: Any, settings: Any) -> None:
    h = {"X-Internal-Token": settings.internal_token}
    a = make_show(1, visibility="public", artist_name="Radiohead", venue_name="Olympia", date="2023-05-01")
    b = make_show(1, visibility="public", artist_name="Radiohead", venue_name="Zenith", date="2024-05-01")
    c = make_show(1, visibility="public", artist_name="Björk", venue_name="Olympia", date="2022-05-01")
    make_show(1, visibility="friends", artist_name="Secret Band", venue_name="Basement", date="2024-06-01")
    make_show(1, visibility="private", artist_name="Radiohead", venue_name="Home", date="2024-07-01")
    make_show(2, visibility="public", artist_name="Other", venue_name="Elsewhere", date="2024-08-01")
    assert client.get("/internal/users/1/public-profile").status_code == 401
    body = client.get("/internal/users/1/public-profile", headers=h).json()
    assert [s["id"] for s in body["shows"]] == [b["id"], a["id"], c["id"]]
    assert body["shows"][0]["date"] == "2024-05-01" and body["shows"][0]["artist"]["name"] == "Radiohead"
    assert body["shows"][0]["venue"]["name"] == "Zenith"
    assert body["counts"] == {"shows": 3, "artists": 2, "venues": 2}
    assert [(t["artist"]["name"], t["shows"]) for t in body["top_artists"]] == [("Radiohead", 2), ("Björk", 1)]
    assert client.get("/internal/users/3/public-profile", headers=h).json() == {
        "shows": [], "counts": {"shows": 0, "artists": 0, "venues": 0}, "top_artists": []}


def test_internal_access_takes_socials_answer_on_the_friendship(
    client: Any, make_show: Any, befriend: Any, settings: Any
) -> None:
    """Right after an unfriending, social knows and shows' copy does not yet: social's fact wins."""
    show = make_show(1, visibility="friends")
    private = make_show(1, visibility="private", artist_name="Blur")
    befriend(1, 2)  # shows' copy still has the friendship
    h = {"X-Internal-Token": settings.internal_token}
    url = f"/internal/shows/{show['id']}/access"
    assert client.get(url, params={"user_id": 2}, headers=h).json()["can_view"] is True
    assert client.get(url, params={"user_id": 2, "friends": 0}, headers=h).json()["can_view"] is False
    # and the other way round (accepted a moment ago, not copied yet); visibility still rules
    assert client.get(url, params={"user_id": 3}, headers=h).json()["can_view"] is False
    assert client.get(url, params={"user_id": 3, "friends": 1}, headers=h).json()["can_view"] is True
    private_url = f"/internal/shows/{private['id']}/access"
    assert client.get(private_url, params={"user_id": 2, "friends": 1}, headers=h).json()["can_view"] is False
    assert client.get(url, params={"user_id": 1, "friends": 0}, headers=h).json()["can_view"] is True  # owner


def test_internal_access_audience_attendance_and_check_ins(client: Any, auth: Any, make_show: Any, befriend: Any,
                                                           settings: Any, session_factory: Any) -> None:
    """The access answer media and social act on: a narrowed audience, who logged the same concert, who is
    checked in there now (checked out, or in longer ago than the check-in lifetime, is not)."""
    import datetime as dt

    from shared.db import utcnow
    from shows.models import CheckIn

    h = {"X-Internal-Token": settings.internal_token}
    today = utcnow().date().isoformat()
    mine = make_show(1, date=today, visibility="friends", visible_to=[3])
    make_show(2, date=today)  # the same concert
    befriend(1, 2)
    befriend(1, 3)

    def ask(user: int) -> dict[str, Any]:
        r = client.get(f"/internal/shows/{mine['id']}/access", params={"user_id": user}, headers=h)
        assert r.status_code == 200, r.text
        return dict(r.json())

    two, three = ask(2), ask(3)
    assert (two["can_view"], two["logged_concert"], two["checked_in"]) == (False, True, False)  # a friend, not in
    assert (three["can_view"], three["logged_concert"], three["checked_in"]) == (True, False, False)
    theirs = client.get("/api/shows", headers=auth(2)).json()[0]["id"]
    assert client.post(f"/api/shows/{theirs}/checkin", headers=auth(2)).status_code == 200
    assert ask(2)["checked_in"] is True and ask(3)["checked_in"] is False
    assert client.post(f"/api/shows/{theirs}/checkout", headers=auth(2)).status_code == 200
    assert ask(2)["checked_in"] is False
    assert client.post(f"/api/shows/{theirs}/checkin", headers=auth(2)).status_code == 200
    with session_factory() as s:
        row = s.query(CheckIn).filter(CheckIn.user_id == 2, CheckIn.checked_out_at.is_(None)).one()
        row.checked_in_at = utcnow() - dt.timedelta(hours=settings.checkin_ttl_hours, minutes=1)
        s.commit()
    assert ask(2)["checked_in"] is False
    assert ask(1) == {**ask(1), "can_view": True, "can_edit": True, "logged_concert": True, "date": today}
