"""Golden answers of the read path: list, detail, dashboard and stats answer exactly as recorded.

The answers in `golden/read_path.json` were recorded from the implementation before the async read path
(issue 17) replaced it: the same fixed data set (five users, friends, an unfriending, private / friends /
narrowed / public shows, a bill, a festival, tickets, setlists, counters, a shared concert) and the same
requests (filters, sorts, pages, other people's lists, every visibility, errors) must give the same status,
the same JSON and the same headers on SQLite (the embedded mode) and on PostgreSQL. Timestamps differ per
run and are compared as "<ts>". New headers (ETag) are allowed; recorded ones must match.

Re-record (only when a change of the answers is intended): `UPDATE_GOLDEN=1 pytest <this file> -k sqlite`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shows import service

GOLDEN = Path(__file__).parent / "golden" / "read_path.json"
HEADERS = ("content-type", "x-total-count", "link")
_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
TODAY_SAFE_PAST, TODAY_SAFE_FUTURE = "2019", "2099"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, migrated_db: Path) -> str:
    """The same data set on the embedded database and on PostgreSQL."""
    if request.param == "sqlite":
        import shutil

        target = tmp_path / "shows.db"
        shutil.copy(migrated_db, target)
        return f"sqlite:///{target}"
    from shared.db import run_migrations

    url: str = request.getfixturevalue("pg_url_factory")(f"golden_{tmp_path.name[-20:]}")
    run_migrations("shows", url)
    return url


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, str) and _TS.match(value):
        return "<ts>"
    return value


def build_world(client: TestClient, auth: Callable[..., dict[str, str]], befriend: Callable[..., None],
                session_factory: Any) -> dict[str, int]:
    """The fixed data set; returns named show ids."""
    for uid, name in [(1, "ann"), (2, "bob"), (3, "cat"), (4, "dan"), (5, "eve")]:
        auth(uid, name)
    befriend(1, 2)
    befriend(3, 1)  # a friend left out of a narrowed show
    befriend(1, 4)
    befriend(1, 4, accepted=False)  # unfriended: version 2

    def make(uid: int, **body: Any) -> int:
        resp = client.post("/api/shows", json=body, headers=auth(uid))
        assert resp.status_code == 201, resp.text
        return int(resp.json()["id"])

    ids = {
        "private": make(1, artist_name="Arctic Monkeys", venue_name="Madison Square Garden",
                        venue_location="New York, NY", date="2018-03-01", time="20:00", notes="Private one",
                        rating=5, visibility="private"),
        "friends": make(1, artist_name="Radiohead", venue_name="O2 Arena", venue_location="London, UK",
                        date="2018-06-15", visibility="friends", rating=4),
        "narrowed": make(1, artist_name="Björk", venue_name="Harpa", city="Reykjavík", country="Iceland",
                         date="2019-07-04", time="21:30", visibility="friends", visible_to=[2]),
        "public": make(1, artist_name="The National", venue_name="Brixton Academy", venue_location="London, UK",
                       date="2019-11-20", notes="Great encore", visibility="public",
                       artists=[{"name": "The National", "role": "headliner"},
                                {"name": "Phoebe Bridgers", "role": "support"}],
                       festival={"name": "All Points East", "day": "Saturday", "stage": "Main"},
                       ticket_price=45.5, currency="gbp", seat="Standing"),
        "upcoming": make(1, artist_name="Arctic Monkeys", venue_name="Red Rocks", city="Morrison", state="CO",
                         date="2099-05-05", visibility="public"),
        "bob_shared": make(2, artist_name="The National", venue_name="Brixton Academy",
                           venue_location="London, UK", date="2019-11-20", visibility="friends"),
        "bob_public": make(2, artist_name="Radiohead", venue_name="Madison Square Garden",
                           venue_location="New York, NY", date="2017-01-01", visibility="public"),
        "dan_friends": make(4, artist_name="Björk", venue_name="Harpa", city="Reykjavík", date="2016-02-02",
                            visibility="friends"),
    }
    h = auth(1)
    for sid, titles in [(ids["public"], ["Fake Empire", "Mr. November", "Terrible Love"]),
                        (ids["private"], ["Do I Wanna Know?"])]:
        for t in titles:
            assert client.post(f"/api/shows/{sid}/setlist", json={"title": t}, headers=h).status_code == 201
    assert client.post(f"/api/shows/{ids['public']}/setlist",
                       json={"title": "Kyoto", "artist_name": "Phoebe Bridgers", "is_cover": False},
                       headers=h).status_code == 201
    with session_factory() as s:
        service.on_counter(s, show_id=ids["public"], kind="photo", delta=3)
        service.on_counter(s, show_id=ids["public"], kind="comment", delta=2)
        service.on_counter(s, show_id=ids["friends"], kind="video", delta=1)
        s.commit()
    return ids


def requests_of(ids: dict[str, int]) -> list[tuple[str, int | None, str]]:
    """(label, viewer, path) of every request compared (viewer None = anonymous)."""
    reqs: list[tuple[str, int | None, str]] = []
    lists = [
        "/api/shows", "/api/shows?limit=2", "/api/shows?limit=2&offset=2", "/api/shows?limit=1&offset=4",
        "/api/shows?sort=date", "/api/shows?sort=-date&limit=3", "/api/shows?filter=upcoming",
        "/api/shows?filter=past", "/api/shows?artist=arctic", "/api/shows?venue=brix", "/api/shows?city=london",
        f"/api/shows?year={TODAY_SAFE_PAST}", "/api/shows?date_from=2018-06-01&date_to=2019-12-31",
        "/api/shows?q=encore", "/api/shows?q=bjork", "/api/shows?limit=0", "/api/shows?limit=1000",
        "/api/shows?artist=nobody", "/api/shows?offset=50",
    ]
    reqs += [(f"list 1 {p}", 1, p) for p in lists]
    for viewer in (1, 2, 3, 4, 5):
        for p in ("/api/shows?user_id=1", "/api/shows?user_id=1&limit=2&offset=1", "/api/shows?user_id=2",
                  "/api/shows?user_id=4", "/api/shows?user_id=1&filter=past&sort=date"):
            reqs.append((f"list {viewer} {p}", viewer, p))
    reqs += [
        ("list 2 user 999", 2, "/api/shows?user_id=999"),
        ("list artist_id", 1, "/api/shows?artist_id=1"),
        ("list venue_id", 1, "/api/shows?venue_id=1"),
        ("list bad limit", 1, "/api/shows?limit=abc"),
        ("list bad offset", 1, "/api/shows?offset=-1"),
        ("list bad sort", 1, "/api/shows?sort=name"),
        ("list bad filter", 1, "/api/shows?filter=soon"),
        ("list bad date", 1, "/api/shows?date_from=yesterday"),
        ("list bad user", 1, "/api/shows?user_id=0"),
        ("list anonymous", None, "/api/shows"),
    ]
    for name, sid in ids.items():
        for viewer in (1, 2, 3, 4, 5):
            reqs.append((f"detail {name} by {viewer}", viewer, f"/api/shows/{sid}"))
    reqs += [
        ("detail missing", 1, "/api/shows/999999"),
        ("detail zero", 1, "/api/shows/0"),
        ("detail not a number", 1, "/api/shows/abc"),
        ("detail anonymous", None, f"/api/shows/{ids['public']}"),
        ("setlist public by 3", 3, f"/api/shows/{ids['public']}/setlist"),
        ("setlist private by 2", 2, f"/api/shows/{ids['private']}/setlist"),
    ]
    for viewer in (1, 2):
        for p in ("/api/dashboard/stats", "/api/dashboard/artists", "/api/dashboard/venues?limit=2",
                  "/api/stats/songs", "/api/stats/songs?limit=2&offset=1", "/api/stats/artists/1",
                  "/api/stats/artists/999999", f"/api/stats/years/{TODAY_SAFE_PAST}", "/api/stats/years/2018",
                  "/api/stats/map"):
            reqs.append((f"stats {viewer} {p}", viewer, p))
    return reqs


def answers(client: TestClient, auth: Callable[..., dict[str, str]], ids: dict[str, int]) -> dict[str, Any]:
    """Every request's status, recorded headers and scrubbed body."""
    out: dict[str, Any] = {}
    for label, viewer, path in requests_of(ids):
        resp = client.get(path, headers=auth(viewer) if viewer else {})
        body = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else resp.text
        out[label] = {
            "path": path,
            "status": resp.status_code,
            "headers": {h: resp.headers.get(h) for h in HEADERS},
            "body": _scrub(body),
        }
    return out


def test_read_path_answers_as_recorded(client: TestClient, auth: Any, befriend: Any, session_factory: Any,
                                       peers: Any, db_url: str) -> None:
    ids = build_world(client, auth, befriend, session_factory)
    peers.media = {"photos": [{"id": 7, "status": "ready"}], "audio": [], "videos": []}
    peers.comments = [{"id": 3, "body": "nice"}]
    peers.media_counts = {"photos": 3, "audio": 0, "videos": 1}
    peers.social_counts = {"comments": 2, "friends": 2}
    got = answers(client, auth, ids)
    peers.down = {"social"}  # a degraded detail: comments empty, "degraded" listed
    got["detail degraded"] = answers_one(client, auth(1), f"/api/shows/{ids['public']}")
    if os.environ.get("UPDATE_GOLDEN") and db_url.startswith("sqlite"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    want = json.loads(GOLDEN.read_text())
    assert sorted(got) == sorted(want)
    for label in want:
        assert got[label] == want[label], label


def answers_one(client: TestClient, headers: dict[str, str], path: str) -> dict[str, Any]:
    """One request's status, recorded headers and scrubbed body."""
    resp = client.get(path, headers=headers)
    return {"path": path, "status": resp.status_code, "headers": {h: resp.headers.get(h) for h in HEADERS},
            "body": _scrub(resp.json())}
