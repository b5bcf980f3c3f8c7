"""Internal endpoints media uses for a concert's album and clips: visible shows, setlist timing."""

from __future__ import annotations

from typing import Any

from shows.catalog.models import ArtistRecording
from shows.models import Concert


def test_visible_shows_follow_visibility(client: Any, auth: Any, make_show: Any, befriend: Any,
                                         settings: Any) -> None:
    h = {"X-Internal-Token": settings.internal_token}
    pub = make_show(1, visibility="public")
    priv = make_show(2, visibility="private")
    friends = make_show(3, visibility="friends")
    assert pub["concert_id"] == priv["concert_id"] == friends["concert_id"]
    concert = pub["concert_id"]
    url = f"/internal/concerts/{concert}/visible-shows"
    assert client.get(url, params={"viewer": 4}).status_code == 401

    def seen(viewer: int) -> list[int]:
        return [s["show_id"] for s in client.get(url, params={"viewer": viewer}, headers=h).json()["shows"]]

    assert seen(4) == [pub["id"]]
    assert seen(2) == [pub["id"], priv["id"]]
    befriend(3, 4)
    assert seen(4) == [pub["id"], friends["id"]]
    befriend(3, 4, accepted=False)
    assert seen(4) == [pub["id"]]
    first = client.get(url, params={"viewer": 1}, headers=h).json()["shows"][0]
    assert first == {"show_id": pub["id"], "owner_id": 1, "username": "user1", "visibility": "public"}
    assert client.get("/internal/concerts/99999/visible-shows", params={"viewer": 1}, headers=h).json() == {
        "concert_id": 99999, "shows": []}


def test_setlist_timing(client: Any, auth: Any, make_show: Any, settings: Any) -> None:
    h = {"X-Internal-Token": settings.internal_token}
    show = make_show(1, time="20:30")
    for body in ({"title": "Intro", "duration": "1:30"}, {"title": "505"}):
        assert client.post(f"/api/shows/{show['id']}/setlist", json=body, headers=auth(1)).status_code == 201
    timing = client.get(f"/internal/shows/{show['id']}/setlist-timing", headers=h).json()
    assert timing["start"] == f"{show['date']}T20:30:00" and timing["concert_id"] == show["concert_id"]
    assert [(s["position"], s["title"], s["key"], s["duration_s"]) for s in timing["songs"]] == [
        (1, "Intro", "intro", 90), (2, "505", "505", None)]
    with_setlists = client.get(f"/internal/concerts/{show['concert_id']}/visible-shows",
                               params={"viewer": 1, "setlists": "true"}, headers=h).json()["shows"][0]
    assert with_setlists["songs"] == timing["songs"] and with_setlists["start"] == timing["start"]
    assert client.get("/internal/shows/99999/setlist-timing", headers=h).status_code == 404


def test_setlist_timing_falls_back_to_recording_lengths(client: Any, auth: Any, make_show: Any, settings: Any,
                                                        session_factory: Any) -> None:
    h = {"X-Internal-Token": settings.internal_token}
    show = make_show(1, time=None)
    mbid = "0f0f0f0f-0000-4000-8000-000000000001"
    songs = ({"title": "By Mbid", "recording_mbid": mbid}, {"title": "Do I Wanna Know?"}, {"title": "Unknown"},
             {"title": "Own Length", "duration": "2:05"})
    for body in songs:
        assert client.post(f"/api/shows/{show['id']}/setlist", json=body, headers=auth(1)).status_code == 201
    with session_factory() as s:
        artist_id = s.get(Concert, show["concert_id"]).artist_id
        s.add_all([ArtistRecording(artist_id=artist_id, mbid=mbid, title="Other Title", song_key="other",
                                   length_ms=201_400),
                   ArtistRecording(artist_id=artist_id, mbid="0f0f0f0f-0000-4000-8000-000000000002",
                                   title="Do I Wanna Know?", song_key="do i wanna know", length_ms=272_000)])
        s.commit()
    timing = client.get(f"/internal/shows/{show['id']}/setlist-timing", headers=h).json()
    assert timing["start"] is None  # the show has no time
    assert [s["duration_s"] for s in timing["songs"]] == [201, 272, None, 125]
