"""Concert knowledge end to end: the gateway, the shows API, the catalog Celery worker on RabbitMQ and the fake
source server (recorded MusicBrainz / setlist.fm / Wikidata answers over real sockets)."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest

from shared.stack import REPO_ROOT
from shared.testing.plugin import wait_for

pytestmark = pytest.mark.e2e
FIXTURES = REPO_ROOT / "tests" / "fixtures"


def _finished(user: Any, accepted: httpx.Response, timeout_s: float = 60) -> dict[str, Any]:
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["job_id"]

    def done() -> dict[str, Any] | None:
        job = user.client.get(f"/api/jobs/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed") else None

    return wait_for(done, timeout_s, interval_s=0.3, what=f"job {job_id}")


def _show(user: Any, **fields: Any) -> dict[str, Any]:
    body = {"artist_name": "The Lanterns", "venue_name": "The Salt Shed", "venue_location": "Chicago, IL",
            "date": "2024-12-05", **fields}
    resp = user.client.post("/api/shows", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_import_a_setlist_through_the_worker(make_user: Any, fake_sources: str) -> None:
    user = make_user()
    show = _show(user)
    job = _finished(user, user.client.post(f"/api/shows/{show['id']}/setlist/import", json={"source": "setlistfm"}))
    assert job["status"] == "succeeded", job
    assert job["result"]["setlist_id"] == "2bd6a8f2" and job["progress"] == 100
    setlist = user.client.get(f"/api/shows/{show['id']}/setlist").json()
    assert [s["title"] for s in setlist] == ["Intro", "Lantern Light", "Harbour Song", "Wild Horses", "Northern Sky",
                                             "Glass House"]
    assert [(s["set_number"], s["encore"], s["is_tape"]) for s in setlist][::5] == [(1, 0, True), (3, 1, False)]
    # someone else can neither read the job nor start one on this show
    other = make_user()
    assert other.client.get(f"/api/jobs/{job['job_id']}").status_code == 404
    assert other.client.post(f"/api/shows/{show['id']}/setlist/import", json={}).status_code == 404
    # the source saw our key and the documented Accept header
    asked = httpx.get(fake_sources + "/_requests").json()["requests"]
    assert any(r["path"] == "/rest/1.0/search/setlists" for r in asked)


def test_rate_limited_then_busy_source(make_user: Any) -> None:
    user = make_user()
    show = _show(user)
    job = _finished(user, user.client.post(f"/api/shows/{show['id']}/setlist/import",
                                           json={"source": "setlistfm", "external_id": "ratelimited1"}))
    assert job["status"] == "succeeded" and job["result"]["songs"] == 2
    busy = user.client.post(f"/api/shows/{show['id']}/setlist/import",
                            json={"source": "setlistfm", "external_id": "busy1", "replace": True})
    job_id = busy.json()["job_id"]
    queued = wait_for(lambda: (j := user.client.get(f"/api/jobs/{job_id}").json())["error"] and j, 30,
                      what="the busy source's reason")
    assert queued["status"] == "queued" and "Retrying" in queued["error"]


def test_concert_archives_csv_twice(make_user: Any) -> None:
    user = make_user()
    data = (FIXTURES / "imports" / "concertarchives.csv").read_bytes()

    def send() -> dict[str, Any]:
        return _finished(user, user.client.post("/api/imports", files={"file": ("export.csv", data, "text/csv")},
                                                data={"format": "concertarchives"}))

    first = send()
    assert first["status"] == "succeeded", first
    assert (first["result"]["created"], first["result"]["matched"], first["result"]["skipped"]) == (3, 0, 2)
    second = send()
    assert (second["result"]["created"], second["result"]["matched"], second["result"]["skipped"]) == (0, 3, 2)
    shows = user.client.get("/api/shows").json()
    assert len(shows) == 3 and user.client.get("/api/shows").headers["X-Total-Count"] == "3"


def test_festival_three_acts_per_act_setlists_and_statistics(make_user: Any, fake_sources: str) -> None:
    user = make_user()
    fest = user.client.post("/api/shows", json={
        "artists": [{"name": "Florence Vale", "role": "headliner"}, {"name": "The Lanterns", "role": "support"},
                    {"name": "Paper Kites Club", "role": "guest"}],
        "venue_name": "Grant Park", "venue_location": "Chicago, IL", "date": "2019-08-02",
        "festival": {"name": "Lollapalooza", "day": "Friday", "stage": "Bud Light"},
        "ticket_price": 120, "currency": "USD"})
    assert fest.status_code == 201, fest.text
    fest = fest.json()
    lineup = {a["artist"]["name"]: a["artist"]["id"] for a in fest["lineup"]}
    assert list(lineup) == ["Florence Vale", "The Lanterns", "Paper Kites Club"]
    for title, act in (("Dog Days", "Florence Vale"), ("Lantern Light", "The Lanterns"),
                       ("Glass House", "The Lanterns"), ("Paper Boats", "Paper Kites Club")):
        resp = user.client.post(f"/api/shows/{fest['id']}/setlist", json={"title": title, "artist_id": lineup[act]})
        assert resp.status_code == 201, resp.text
    club = _show(user, ticket_price=45.5, currency="USD")
    job = _finished(user, user.client.post(f"/api/shows/{club['id']}/setlist/import", json={"source": "setlistfm"}))
    assert job["status"] == "succeeded", job
    lanterns = lineup["The Lanterns"]
    looked = _finished(user, user.client.post(f"/api/artists/{lanterns}/lookup", json={}))
    assert looked["status"] == "succeeded", looked

    # songs by hand: festival 4 songs (one each), club 5 heard live (the tape intro is not); Lantern Light and
    # Glass House were heard at both shows
    songs = user.client.get("/api/stats/songs").json()
    assert songs["total"] == 7
    top = {(s["title"], s["artist"]["name"]): (s["times_heard"], s["first_heard"], s["last_heard"], s["show_ids"])
           for s in songs["songs"]}
    assert top[("Lantern Light", "The Lanterns")] == (2, "2019-08-02", "2024-12-05", [fest["id"], club["id"]])
    assert top[("Dog Days", "Florence Vale")] == (1, "2019-08-02", "2019-08-02", [fest["id"]])
    assert [s["times_heard"] for s in songs["songs"]][:2] == [2, 2]
    only = user.client.get(f"/api/stats/songs?artist_id={lineup['Paper Kites Club']}").json()
    assert [s["title"] for s in only["songs"]] == ["Paper Boats"]

    # the artist page: 2 shows, heard 6 of theirs (Lantern Light, Glass House, Harbour Song, Wild Horses,
    # Northern Sky + nothing else), MusicBrainz knows 5 songs, 4 of them heard
    hist = user.client.get(f"/api/stats/artists/{lanterns}").json()
    assert [(s["show_id"], s["role"]) for s in hist["shows"]] == [(fest["id"], "support"), (club["id"], "headliner")]
    assert (hist["first_seen"], hist["last_seen"]) == ("2019-08-02", "2024-12-05")
    assert (hist["songs_heard"], hist["songs_known"], hist["coverage"], hist["not_heard"]) == (5, 5, 0.8,
                                                                                              ["Slow River"])
    assert hist["artist"]["image_url"].endswith("The_Lanterns_live_2022.jpg")

    # year in review
    user.client.put("/api/stats/home", json={"city": "Evanston", "latitude": 42.0451, "longitude": -87.6877})
    y2019 = user.client.get("/api/stats/years/2019").json()
    assert (y2019["shows"], y2019["artists"], len(y2019["new_artists"]), y2019["songs_heard"]) == (1, 3, 3, 4)
    assert y2019["spending"] == [{"currency": "USD", "total": 120.0, "shows": 1}]
    y2024 = user.client.get("/api/stats/years/2024").json()
    assert y2024["new_artists"] == [] and y2024["most_seen_artist"]["name"] == "The Lanterns"
    assert y2024["longest_trip"]["venue"] == "The Salt Shed" and y2024["longest_trip"]["km"] == pytest.approx(21.9,
                                                                                                          abs=0.1)
    # the map: The Salt Shed got its coordinates from setlist.fm; Grant Park has none
    venues = user.client.get("/api/stats/map").json()
    assert [(v["name"], v["show_count"], round(v["latitude"], 4)) for v in venues["venues"]] == [
        ("The Salt Shed", 1, 41.85)]
    assert venues["without_coordinates"] == 1

    # edits and deletes: retitle one song, delete the club show
    fest_songs = user.client.get(f"/api/shows/{fest['id']}/setlist").json()
    dog = next(s for s in fest_songs if s["title"] == "Dog Days")
    assert user.client.put(f"/api/shows/{fest['id']}/setlist/{dog['id']}", json={"title": "Dog Days Are Over"}
                           ).status_code == 200
    assert user.client.delete(f"/api/shows/{club['id']}").status_code == 204
    after = user.client.get("/api/stats/songs").json()
    assert after["total"] == 4 and {s["title"] for s in after["songs"]} == {
        "Dog Days Are Over", "Lantern Light", "Glass House", "Paper Boats"}
    assert all(s["show_ids"] == [fest["id"]] for s in after["songs"])
    assert user.client.get("/api/stats/years/2024").json()["shows"] == 0

    # MusicBrainz was asked at most once a second, always with our User-Agent
    asked = [r for r in httpx.get(fake_sources + "/_requests").json()["requests"] if r["path"].startswith("/ws/2/")]
    times = [r["at"] for r in asked]
    assert asked and all(r["user_agent"].startswith("ShareMyShows/") for r in asked)
    assert all(b - a >= 0.9 for a, b in itertools.pairwise(times))


def test_sources_say_what_is_configured(make_user: Any) -> None:
    user = make_user()
    body = user.client.get("/api/catalog/sources").json()
    assert body["sources"]["setlistfm"]["configured"] is True and body["map"]["tile_url"]


