"""Catalogue through the in-process app: jobs run by the real runner against the recorded source answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared.db import after_commit
from shared.testing.directory import StaticDirectory
from shared.testing.fakesources import FakeSources, mock_transport
from shows.catalog.runner import run_job
from shows.catalog.sources import build_sources
from shows.config import ShowsSettings
from shows.main import create_app

FIXTURES = Path(__file__).resolve().parents[4] / "tests" / "fixtures"
LANTERNS_MBID = "3f1c9e0a-6d2b-4c55-9a17-2b8e5d4c7a01"


class Inline:
    """Jobs queued by requests, run on demand by the real runner over the fake sources."""

    def __init__(self) -> None:
        self.pending: list[int] = []
        self.delays: dict[int, float | None] = {}

    def __call__(self, session: Any, job_id: int) -> None:
        after_commit(session, lambda: self.pending.append(job_id))  # queued only if the request commits


@pytest.fixture
def cat(tmp_path: Path, db_url: str, token_verifier: Any, peers: Any, directory: Any) -> Any:
    settings = ShowsSettings(
        ENV="testing", VAR_DIR=str(tmp_path / "var"), DATABASE_URL=db_url, BUS_RELAY_ENABLED=False,
        BUS_CONSUMER_ENABLED=False, BUS_EXCHANGE=f"sms.events.{tmp_path.name}", LOG_FORMAT="text",
        LOG_LEVEL="WARNING", SETLISTFM_API_KEY="test-key", musicbrainz_url="http://fake",
        setlistfm_url="http://fake/rest", wikidata_url="http://fake", musicbrainz_min_interval_s=0,
        setlistfm_min_interval_s=0, catalog_sweep_enabled=False, catalog_max_wait_s=2,
    )
    inline = Inline()
    app = create_app(settings, token_verifier=token_verifier, peers=peers, catalog_enqueue=inline, users=directory)
    fake = FakeSources(FIXTURES, mb_min_interval_s=0, sf_min_interval_s=0)
    sources = build_sources(settings, app.state.session_factory, transport=mock_transport(fake))

    class Ctx:
        pass

    ctx = Ctx()
    ctx.settings, ctx.app, ctx.fake, ctx.inline = settings, app, fake, inline  # type: ignore[attr-defined]

    def run() -> None:
        while inline.pending:
            job_id = inline.pending.pop(0)
            inline.delays[job_id] = run_job(app.state.session_factory, sources, settings, job_id, directory)

    ctx.run = run  # type: ignore[attr-defined]
    with TestClient(app) as client:
        ctx.client = client  # type: ignore[attr-defined]
        yield ctx
    sources.close()


def _job(ctx: Any, resp: Any, headers: dict[str, str]) -> dict[str, Any]:
    assert resp.status_code == 202, resp.text
    ctx.run()
    job = ctx.client.get(f"/api/jobs/{resp.json()['job_id']}", headers=headers)
    assert job.status_code == 200, job.text
    return job.json()


def _show(ctx: Any, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"artist_name": "The Lanterns", "venue_name": "The Salt Shed", "venue_location": "Chicago, IL",
            "date": "2024-12-05", **fields}
    resp = ctx.client.post("/api/shows", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_festival_with_three_acts_and_per_act_setlists(cat: Any, auth: Any) -> None:
    h = auth(1)
    show = _show(cat, h, artist_name=None, venue_name="Grant Park", date="2019-08-02", festival={
        "name": "Lollapalooza", "day": "Friday", "stage": "Bud Light"},
        artists=[{"name": "Florence Vale", "role": "headliner"}, {"name": "The Lanterns", "role": "support"},
                 {"name": "Paper Kites Club", "role": "guest"}], ticket_price=120, currency="usd", seat="GA")
    assert show["artist_name"] == "Florence Vale"
    assert [(a["artist"]["name"], a["role"], a["position"]) for a in show["lineup"]] == [
        ("Florence Vale", "headliner", 1), ("The Lanterns", "support", 2), ("Paper Kites Club", "guest", 3)]
    assert show["festival"] == {"name": "Lollapalooza", "day": "Friday", "stage": "Bud Light"}
    assert (show["ticket_price"], show["currency"], show["seat"]) == (120.0, "USD", "GA")
    lanterns_id = show["lineup"][1]["artist"]["id"]
    sid = show["id"]
    for title, act in (("Dog Days", None), ("Lantern Light", lanterns_id), ("Glass House", lanterns_id)):
        body = {"title": title, **({"artist_id": act} if act else {})}
        assert cat.client.post(f"/api/shows/{sid}/setlist", json=body, headers=h).status_code == 201
    bad = cat.client.post(f"/api/shows/{sid}/setlist", json={"title": "X", "artist_name": "Nobody"}, headers=h)
    assert bad.status_code == 422
    songs = cat.client.get("/api/stats/songs", headers=h).json()
    assert songs["total"] == 3
    assert {(s["title"], s["artist"]["name"], s["times_heard"]) for s in songs["songs"]} == {
        ("Dog Days", "Florence Vale", 1), ("Lantern Light", "The Lanterns", 1), ("Glass House", "The Lanterns", 1)}
    hist = cat.client.get(f"/api/stats/artists/{lanterns_id}", headers=h).json()
    assert [s["role"] for s in hist["shows"]] == ["support"] and hist["songs_heard"] == 2
    year = cat.client.get("/api/stats/years/2019", headers=h).json()
    assert year["shows"] == 1 and year["artists"] == 3 and len(year["new_artists"]) == 3
    assert year["spending"] == [{"currency": "USD", "total": 120.0, "shows": 1}]
    # someone else sees neither the ticket facts nor anything of this person's statistics
    assert cat.client.get("/api/stats/songs", headers=auth(2)).json() == {"songs": [], "total": 0}
    # deleting the show leaves no song behind
    assert cat.client.delete(f"/api/shows/{sid}", headers=h).status_code == 204
    assert cat.client.get("/api/stats/songs", headers=h).json()["total"] == 0
    assert cat.client.get(f"/api/stats/artists/{lanterns_id}", headers=h).json()["shows"] == []


def test_setlist_import_found_by_artist_date_and_venue(cat: Any, auth: Any) -> None:
    h = auth(1)
    show = _show(cat, h)
    job = _job(cat, cat.client.post(f"/api/shows/{show['id']}/setlist/import", json={"source": "setlistfm"},
                                    headers=h), h)
    assert job["status"] == "succeeded", job
    assert job["result"]["setlist_id"] == "2bd6a8f2" and job["result"]["songs"] == 6
    setlist = cat.client.get(f"/api/shows/{show['id']}/setlist", headers=h).json()
    by_title = {s["title"]: s for s in setlist}
    assert by_title["Intro"]["is_tape"] is True
    assert by_title["Wild Horses"]["is_cover"] and by_title["Wild Horses"]["original_artist"] == "The Rolling Stones"
    assert by_title["Harbour Song"]["with_artist"] == "Paper Kites Club"
    assert by_title["Northern Sky"]["set_number"] == 2 and by_title["Northern Sky"]["set_name"] == "Acoustic"
    assert by_title["Glass House"]["encore"] == 1 and by_title["Glass House"]["set_name"] == "Encore 1"
    assert [s["order"] for s in setlist] == list(range(1, 7))
    detail = cat.client.get(f"/api/shows/{show['id']}", headers=h).json()
    assert detail["venue"]["latitude"] == pytest.approx(41.850033)
    # the tape intro was not heard live
    assert cat.client.get("/api/stats/songs", headers=h).json()["total"] == 5
    again = _job(cat, cat.client.post(f"/api/shows/{show['id']}/setlist/import", json={"source": "setlistfm"},
                                      headers=h), h)
    assert again["status"] == "failed" and "replace" in again["error"]
    replaced = _job(cat, cat.client.post(f"/api/shows/{show['id']}/setlist/import",
                                         json={"source": "setlistfm", "external_id": "ratelimited1",
                                               "replace": True}, headers=h), h)
    assert replaced["status"] == "succeeded" and replaced["result"]["songs"] == 2
    assert [s["title"] for s in cat.client.get(f"/api/shows/{show['id']}/setlist", headers=h).json()] == [
        "Lantern Light", "Slow River"]


def test_hand_made_setlist_is_never_overwritten_without_replace(cat: Any, auth: Any) -> None:
    h = auth(1)
    show = _show(cat, h)
    cat.client.post(f"/api/shows/{show['id']}/setlist", json={"title": "My Own Memory"}, headers=h)
    job = _job(cat, cat.client.post(f"/api/shows/{show['id']}/setlist/import",
                                    json={"source": "setlistfm", "external_id": "2bd6a8f2"}, headers=h), h)
    assert job["status"] == "failed"
    assert [s["title"] for s in cat.client.get(f"/api/shows/{show['id']}/setlist", headers=h).json()] == [
        "My Own Memory"]


def test_musicbrainz_event_setlist(cat: Any, auth: Any) -> None:
    h = auth(1)
    show = _show(cat, h, venue_name="Thalia Hall", date="2023-06-10")
    job = _job(cat, cat.client.post(f"/api/shows/{show['id']}/setlist/import", json={"source": "musicbrainz"},
                                    headers=h), h)
    assert job["status"] == "succeeded", job
    songs = cat.client.get(f"/api/shows/{show['id']}/setlist", headers=h).json()
    assert [(s["title"], s["recording_mbid"] is not None) for s in songs] == [
        ("Glass House", True), ("Lantern Light", True), ("Slow River", False)]


@pytest.mark.parametrize(("external_id", "status", "error"), [
    ("malformed1", "failed", "not JSON"),
    ("nope404", "failed", "does not know"),
])
def test_bad_answers_end_in_failed_with_the_reason(cat: Any, auth: Any, external_id: str, status: str,
                                                   error: str) -> None:
    h = auth(1)
    show = _show(cat, h)
    job = _job(cat, cat.client.post(f"/api/shows/{show['id']}/setlist/import",
                                    json={"source": "setlistfm", "external_id": external_id}, headers=h), h)
    assert job["status"] == status and error in job["error"], job


def test_busy_source_is_retried_later_with_its_retry_after(cat: Any, auth: Any) -> None:
    h = auth(1)
    show = _show(cat, h)
    resp = cat.client.post(f"/api/shows/{show['id']}/setlist/import",
                           json={"source": "setlistfm", "external_id": "busy1"}, headers=h)
    job = _job(cat, resp, h)
    assert job["status"] == "queued" and "Retrying" in job["error"]
    assert cat.inline.delays[resp.json()["job_id"]] >= 120  # never sooner than the source asked


def test_history_import_twice_creates_nothing_the_second_time(cat: Any, auth: Any) -> None:
    h = auth(1, "casey")
    data = (FIXTURES / "imports" / "concertarchives.csv").read_bytes()

    def send(dry_run: bool = False) -> dict[str, Any]:
        resp = cat.client.post("/api/imports", headers=h, files={"file": ("export.csv", data, "text/csv")},
                               data={"format": "concertarchives", "dry_run": str(dry_run).lower()})
        return _job(cat, resp, h)

    dry = send(dry_run=True)
    assert (dry["result"]["created"], dry["result"]["skipped"]) == (3, 2)
    assert cat.client.get("/api/shows", headers=h).json() == []
    first = send()
    assert (first["result"]["created"], first["result"]["matched"], first["result"]["skipped"]) == (3, 0, 2)
    reasons = {r["line"]: r["reason"] for r in first["result"]["rows"] if r["status"] == "skipped"}
    assert reasons == {5: "no readable date", 6: "no readable date"}
    second = send()
    assert (second["result"]["created"], second["result"]["matched"]) == (0, 3)
    shows = cat.client.get("/api/shows", headers=h).json()
    assert len(shows) == 3
    lolla = next(s for s in shows if s["venue_name"] == "Grant Park")
    assert lolla["festival"]["name"] == "Lollapalooza 2019" and len(lolla["lineup"]) == 3


def test_history_file_checked_before_queueing(cat: Any, auth: Any) -> None:
    resp = cat.client.post("/api/imports", headers=auth(1), files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")},
                           data={"format": "concertarchives"})
    assert resp.status_code == 422 and "start date" in resp.json()["error"]


def test_setlistfm_attended_imports_shows_and_setlists(cat: Any, auth: Any) -> None:
    h = auth(1)
    job = _job(cat, cat.client.post("/api/imports/setlistfm-attended", json={"username": "lantern-fan"}, headers=h), h)
    assert job["status"] == "succeeded", job
    assert job["result"]["created"] == 3
    songs = cat.client.get("/api/stats/songs", headers=h).json()
    assert songs["total"] == 5  # 3 songs of The Lanterns + 2 of Paper Kites Club; the Lollapalooza day had none
    again = _job(cat, cat.client.post("/api/imports/setlistfm-attended", json={"username": "lantern-fan"},
                                      headers=h), h)
    assert (again["result"]["created"], again["result"]["matched"]) == (0, 3)
    unknown = _job(cat, cat.client.post("/api/imports/setlistfm-attended", json={"username": "nobody"}, headers=h), h)
    assert unknown["status"] == "failed" and "no user" in unknown["error"]


def test_artist_lookup_and_coverage(cat: Any, auth: Any) -> None:
    h = auth(1)
    show = _show(cat, h)
    _job(cat, cat.client.post(f"/api/shows/{show['id']}/setlist/import", json={"source": "setlistfm"}, headers=h), h)
    artist_id = show["artist"]["id"]
    job = _job(cat, cat.client.post(f"/api/artists/{artist_id}/lookup", json={}, headers=h), h)
    assert job["status"] == "succeeded", job
    artist = cat.client.get(f"/api/artists/{artist_id}", headers=h).json()
    assert artist["mbid"] == LANTERNS_MBID and "Die Laternen" in artist["aliases"]
    assert artist["image_url"].endswith("Special:FilePath/The_Lanterns_live_2022.jpg")
    assert artist["description"] == "American indie rock band from Chicago"
    hist = cat.client.get(f"/api/stats/artists/{artist_id}", headers=h).json()
    # heard: lantern light, harbour song, wild horses, northern sky, glass house; known: 5 distinct titles
    assert (hist["songs_heard"], hist["songs_known"]) == (5, 5)
    assert hist["coverage"] == 0.8 and hist["not_heard"] == ["Slow River"]
    # a typed alias finds the artist: same concert, not a new artist
    other = _show(cat, auth(2), artist_name="Die Laternen")
    assert other["artist"]["id"] == artist_id and other["concert_id"] == show["concert_id"]


def test_ambiguous_name_asks_then_takes_the_chosen_mbid(cat: Any, auth: Any) -> None:
    h = auth(1)
    show = _show(cat, h, artist_name="Genesis")
    aid = show["artist"]["id"]
    job = _job(cat, cat.client.post(f"/api/artists/{aid}/lookup", json={}, headers=h), h)
    assert job["result"]["ambiguous"] is True
    assert [c["disambiguation"] for c in job["result"]["candidates"]] == ["UK rock band", "US progressive metal band"]
    chosen = job["result"]["candidates"][0]["mbid"]
    done = _job(cat, cat.client.post(f"/api/artists/{aid}/lookup", json={"mbid": chosen}, headers=h), h)
    assert done["status"] == "succeeded"
    artist = cat.client.get(f"/api/artists/{aid}", headers=h).json()
    assert artist["disambiguation"] == "UK rock band"
    assert artist["image_url"] == "https://commons.wikimedia.org/wiki/Special:FilePath/Genesis_band_1974.jpg"
    hits = cat.client.get("/api/artists?q=gene", headers=h).json()["artists"]
    assert hits[0]["disambiguation"] == "UK rock band"
    # a new show's bill, written without reading it back, is the one its detail reads
    h2 = auth(2)
    second = _show(cat, h2, artist_name="genesis", venue_name="Wembley Arena")
    assert second["artist"]["id"] == aid
    assert second["lineup"] == [{"artist": {"id": aid, "name": "Genesis", "mbid": chosen,
                                            "image_url": artist["image_url"], "disambiguation": "UK rock band"},
                                 "role": "headliner", "position": 1}]
    assert cat.client.get(f"/api/shows/{second['id']}", headers=h2).json()["lineup"] == second["lineup"]


def test_jobs_are_private_and_sources_say_what_is_configured(cat: Any, auth: Any, settings: Any,
                                                            token_verifier: Any, peers: Any) -> None:
    h = auth(1)
    show = _show(cat, h)
    resp = cat.client.post(f"/api/shows/{show['id']}/setlist/import", json={"source": "setlistfm"}, headers=h)
    job_id = resp.json()["job_id"]
    assert cat.client.get(f"/api/jobs/{job_id}", headers=auth(2)).status_code == 404
    assert cat.client.post(f"/api/shows/{show['id']}/setlist/import", json={}, headers=auth(2)).status_code == 404
    srcs = cat.client.get("/api/catalog/sources", headers=h).json()
    assert srcs["sources"]["setlistfm"]["configured"] is True and "{z}" in srcs["map"]["tile_url"]
    # without a key: said so, and the import is refused at once
    keyless = create_app(settings, token_verifier=token_verifier, peers=peers, catalog_enqueue=lambda *_: None,
                         users=StaticDirectory())
    with TestClient(keyless) as c:
        state = c.get("/api/catalog/sources", headers=h).json()["sources"]["setlistfm"]
        assert state["configured"] is False and "SETLISTFM_API_KEY" in state["reason"]
        refused = c.post(f"/api/shows/{show['id']}/setlist/import", json={"source": "setlistfm"}, headers=h)
        assert refused.status_code == 409 and refused.json()["code"] == "source_not_configured"


def test_year_map_and_home(cat: Any, auth: Any) -> None:
    h = auth(1)
    a = _show(cat, h, ticket_price=45.5, currency="USD")
    _job(cat, cat.client.post(f"/api/shows/{a['id']}/setlist/import", json={"source": "setlistfm"}, headers=h), h)
    b = _show(cat, h, artist_name="Paper Kites Club", venue_name="Cactus Club", venue_location="Milwaukee, WI",
              date="2024-04-20", ticket_price=20, currency="USD")
    _show(cat, h, artist_name="Florence Vale", venue_name="Paradiso", venue_location="Amsterdam, Netherlands",
          date="2023-01-01")
    assert cat.client.put("/api/stats/home", json={"city": "Evanston", "latitude": 42.0451,
                                                    "longitude": -87.6877}, headers=h).status_code == 200
    year = cat.client.get("/api/stats/years/2024", headers=h).json()
    assert (year["shows"], year["venues"], year["cities"]) == (2, 2, ["Chicago", "Milwaukee"])
    assert year["spending"] == [{"currency": "USD", "total": 65.5, "shows": 2}]
    assert year["songs_heard"] == 5 and year["most_seen_artist"]["shows"] == 1
    # only The Salt Shed has coordinates (from setlist.fm): 21.9 km from Evanston, by hand with the haversine
    trip = year["longest_trip"]
    assert trip["venue"] == "The Salt Shed" and trip["km"] == pytest.approx(21.9, abs=0.1)
    venues = cat.client.get("/api/stats/map", headers=h).json()
    assert [(v["name"], v["show_count"]) for v in venues["venues"]] == [("The Salt Shed", 1)]
    assert venues["without_coordinates"] == 2
    assert b["lineup"][0]["artist"]["name"] == "Paper Kites Club"


def _expected_songs(cat: Any, h: dict[str, str]) -> dict[tuple[int, str], tuple[int, str, str, list[int]]]:
    """The songs heard, computed by hand from the shows and setlists the API returns."""
    from shows.catalog.text import song_key

    out: dict[tuple[int, str], list[Any]] = {}
    for show in cat.client.get("/api/shows?limit=100", headers=h).json():
        head = show["lineup"][0]["artist"]["id"]
        for song in cat.client.get(f"/api/shows/{show['id']}/setlist", headers=h).json():
            if song["is_tape"]:
                continue
            key = (song["artist_id"] or head, song_key(song["title"]))
            entry = out.setdefault(key, [0, show["date"], show["date"], set()])
            entry[0] += 1
            entry[1], entry[2] = min(entry[1], show["date"]), max(entry[2], show["date"])
            entry[3].add(show["id"])
    return {k: (v[0], v[1], v[2], sorted(v[3])) for k, v in out.items()}


def test_songs_heard_stay_right_under_random_edits_and_deletes(cat: Any, auth: Any) -> None:
    import random

    rng = random.Random(14)
    h = auth(1)
    titles = ["Lantern Light", "Glass House", "Slow River", "Harbour Song", "Wild Horses", "Northern Sky"]
    shows = [_show(cat, h, date=f"2024-0{m}-1{m}", venue_name=f"Hall {m}",
                   artists=[{"name": "The Lanterns", "role": "headliner"}, {"name": "Paper Kites Club",
                                                                           "role": "support"}]) for m in range(1, 6)]
    cat.client.get("/api/stats/songs", headers=h)  # build the summary first: every later change must keep it right
    for step in range(60):
        show = rng.choice(shows)
        sid = show["id"]
        op = rng.random()
        songs = cat.client.get(f"/api/shows/{sid}/setlist", headers=h).json() if op > 0.45 else []
        if op <= 0.45 or not songs:
            act = rng.choice([None, show["lineup"][1]["artist"]["id"]])
            body = {"title": rng.choice(titles) + rng.choice(["", " (Live)"]), "is_tape": rng.random() < 0.1,
                    **({"artist_id": act} if act else {})}
            assert cat.client.post(f"/api/shows/{sid}/setlist", json=body, headers=h).status_code == 201
        elif op <= 0.7:
            song = rng.choice(songs)
            assert cat.client.put(f"/api/shows/{sid}/setlist/{song['id']}", json={"title": rng.choice(titles)},
                                  headers=h).status_code == 200
        elif op <= 0.85:
            song = rng.choice(songs)
            assert cat.client.delete(f"/api/shows/{sid}/setlist/{song['id']}", headers=h).status_code == 204
        elif op <= 0.95:
            change = ({"date": f"202{rng.randint(0, 3)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"}
                      if rng.random() < 0.5 else {"artist_name": rng.choice(["Florence Vale", "The Lanterns"])})
            resp = cat.client.put(f"/api/shows/{sid}", json=change, headers=h)
            assert resp.status_code in (200, 409), resp.text
            if resp.status_code == 200:
                shows[shows.index(show)] = resp.json()
        elif len(shows) > 2:
            assert cat.client.delete(f"/api/shows/{sid}", headers=h).status_code == 204
            shows.remove(show)
        if step % 10 == 9:
            got = cat.client.get("/api/stats/songs?limit=500", headers=h).json()
            actual = {(s["artist"]["id"], s["song_key"]): (s["times_heard"], s["first_heard"], s["last_heard"],
                                                           s["show_ids"]) for s in got["songs"]}
            assert actual == _expected_songs(cat, h) and got["total"] == len(actual), f"after step {step}"
