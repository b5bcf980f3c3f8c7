"""Conditional GETs of the list and the detail: 304 without reading rows, and every change that alters an
answer changes its ETag (so no client, least of all a revoked viewer, can keep a stale copy). SQLite and
PostgreSQL, since the versions are kept by each database's own triggers."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared import adb
from shows import readpath, service
from shows.models import Artist, Venue

OWNER, FRIEND, STRANGER = 1, 2, 3


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, migrated_db: Path) -> str:
    """Each test on the embedded database and on PostgreSQL."""
    if request.param == "sqlite":
        target = tmp_path / "shows.db"
        shutil.copy(migrated_db, target)
        return f"sqlite:///{target}"
    from shared.db import run_migrations

    url: str = request.getfixturevalue("pg_url_factory")(f"etag_{tmp_path.name[-20:]}")
    run_migrations("shows", url)
    return url


@pytest.fixture
def queries(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[adb.Query]]:
    """Every statement the read path runs."""
    seen: list[adb.Query] = []
    original = adb.Bound.all

    async def spy(self: adb.Bound, query: adb.Query, **params: Any) -> list[Any]:
        seen.append(query)
        return await original(self, query, **params)

    monkeypatch.setattr(adb.Bound, "all", spy)
    yield seen


@pytest.fixture
def world(make_show: Callable[..., dict[str, Any]], befriend: Callable[..., None]) -> dict[str, Any]:
    """OWNER with a friends-only show (FRIEND sees it) and a public one."""
    befriend(OWNER, FRIEND)
    return {
        "friends": make_show(OWNER, date="2023-01-01", visibility="friends"),
        "public": make_show(OWNER, artist_name="Other Band", date="2023-02-02", visibility="public"),
    }


def _get(client: TestClient, path: str, headers: dict[str, str], tag: str | None = None) -> Any:
    return client.get(path, headers={**headers, **({"If-None-Match": tag} if tag else {})})


def test_304_when_nothing_changed_without_reading_rows(client: TestClient, auth: Any, world: dict[str, Any],
                                                       queries: list[adb.Query]) -> None:
    sid = world["friends"]["id"]
    for path in ("/api/shows", f"/api/shows?user_id={OWNER}&limit=1", f"/api/shows/{sid}"):
        first = _get(client, path, auth(FRIEND))
        assert first.status_code == 200 and first.headers["ETag"].startswith('W/"')
        assert first.headers["Cache-Control"] == "private, no-cache"
        queries.clear()
        again = _get(client, path, auth(FRIEND), first.headers["ETag"])
        assert again.status_code == 304 and again.content == b""
        assert again.headers["ETag"] == first.headers["ETag"]
        # only the version query ran: not the page, the count, the bill or the setlist
        assert [q for q in queries if q is not readpath.EPOCH] in ([readpath.LIST_VERSIONS], [readpath.DETAIL_VERSIONS])
        # a list of tags, a strong form of ours, or "*" match too; another tag does not
        tag = first.headers["ETag"]
        assert _get(client, path, auth(FRIEND), f'"x", {tag.removeprefix("W/")}').status_code == 304
        assert _get(client, path, auth(FRIEND), "*").status_code == 304
        assert _get(client, path, auth(FRIEND), 'W/"other"').status_code == 200


def test_viewers_and_requests_get_their_own_tags(client: TestClient, auth: Any, world: dict[str, Any]) -> None:
    sid = world["public"]["id"]
    tags = {
        _get(client, f"/api/shows/{sid}", auth(OWNER)).headers["ETag"],
        _get(client, f"/api/shows/{sid}", auth(STRANGER)).headers["ETag"],
        _get(client, f"/api/shows?user_id={OWNER}", auth(STRANGER)).headers["ETag"],
        _get(client, f"/api/shows?user_id={OWNER}&limit=1", auth(STRANGER)).headers["ETag"],
        _get(client, "/api/shows", auth(OWNER)).headers["ETag"],
    }
    assert len(tags) == 5
    # the owner's 304 is not a stranger's
    owner_tag = _get(client, f"/api/shows/{sid}", auth(OWNER)).headers["ETag"]
    assert _get(client, f"/api/shows/{sid}", auth(STRANGER), owner_tag).status_code == 200


def _changes(client: TestClient, auth: Any, world: dict[str, Any], session_factory: Any, peers: Any,
             make_show: Callable[..., dict[str, Any]]) -> list[tuple[str, Callable[[], None]]]:
    sid = world["friends"]["id"]
    h = auth(OWNER)

    def put(**body: Any) -> None:
        assert client.put(f"/api/shows/{sid}", json=body, headers=h).status_code == 200

    def song() -> None:
        assert client.post(f"/api/shows/{sid}/setlist", json={"title": "New"}, headers=h).status_code == 201

    def song_edit() -> None:
        first = client.get(f"/api/shows/{sid}/setlist", headers=h).json()[0]
        url = f"/api/shows/{sid}/setlist/{first['id']}"
        assert client.put(url, json={"title": "Renamed"}, headers=h).status_code == 200

    def song_delete() -> None:
        first = client.get(f"/api/shows/{sid}/setlist", headers=h).json()[0]
        assert client.delete(f"/api/shows/{sid}/setlist/{first['id']}", headers=h).status_code == 204

    def in_session(fn: Callable[[Any], None]) -> Callable[[], None]:
        def run() -> None:
            with session_factory() as s:
                fn(s)
                s.commit()
        return run

    def artist_image(s: Any) -> None:
        s.get(Artist, world["friends"]["artist_id"]).image_url = "https://img.example/a.jpg"

    def venue_place(s: Any) -> None:
        s.get(Venue, world["friends"]["venue_id"]).latitude = 40.75

    def new_photo() -> None:
        peers.media = {"photos": [{"id": 99}], "audio": [], "videos": []}

    return [
        ("notes", lambda: put(notes="changed")),
        ("rating", lambda: put(rating=2)),
        ("song added", song),
        ("song renamed", song_edit),
        ("song removed", song_delete),
        ("bill", lambda: put(artists=[{"name": "Arctic Monkeys", "role": "headliner"},
                                      {"name": "Support Act", "role": "support"}])),
        ("festival", lambda: put(festival={"name": "Fest"})),
        ("audience", lambda: put(visible_to=[FRIEND])),
        ("photo counter", in_session(lambda s: service.on_counter(s, show_id=sid, kind="photo", delta=1))),
        ("comment counter", in_session(lambda s: service.on_counter(s, show_id=sid, kind="comment", delta=1))),
        ("someone else logged the concert (attendees)",
         lambda: make_show(STRANGER, date="2023-01-01", visibility="private")),
        ("artist looked up", in_session(artist_image)),
        ("venue placed", in_session(venue_place)),
        ("owner renamed", in_session(lambda s: service.on_user(
            s, {"user_id": OWNER, "username": "renamed", "version": 50}))),
        ("media changed (detail only)", new_photo),
    ]


def test_every_change_that_alters_the_answer_changes_the_tag(
    client: TestClient, auth: Any, world: dict[str, Any], session_factory: Any, peers: Any,
    make_show: Callable[..., dict[str, Any]],
) -> None:
    sid = world["friends"]["id"]
    paths = {"list": f"/api/shows?user_id={OWNER}", "detail": f"/api/shows/{sid}", "own list": "/api/shows"}
    for what, change in _changes(client, auth, world, session_factory, peers, make_show):
        before = {}
        for name, path in paths.items():
            viewer = OWNER if name == "own list" else FRIEND
            resp = _get(client, path, auth(viewer))
            assert resp.status_code == 200, (what, name)
            before[name] = (resp.headers["ETag"], resp.content)
        change()
        altered = 0
        for name, path in paths.items():
            viewer = OWNER if name == "own list" else FRIEND
            fresh = _get(client, path, auth(viewer))
            conditional = _get(client, path, auth(viewer), before[name][0])
            if fresh.content != before[name][1]:
                altered += 1
                # the answer changed: the stale tag is refused and the client gets the new answer
                assert conditional.status_code == 200, (what, name)
                assert conditional.headers["ETag"] != before[name][0], (what, name)
                assert conditional.content == fresh.content, (what, name)
        assert altered, f"{what} altered no answer: the case tests nothing"


def test_a_revoked_viewer_never_keeps_a_cached_show(client: TestClient, auth: Any, world: dict[str, Any],
                                                    befriend: Callable[..., None]) -> None:
    friends_show, public_show = world["friends"]["id"], world["public"]["id"]
    detail = _get(client, f"/api/shows/{friends_show}", auth(FRIEND))
    listing = _get(client, f"/api/shows?user_id={OWNER}", auth(FRIEND))
    assert detail.status_code == 200 and {s["id"] for s in listing.json()} == {friends_show, public_show}

    befriend(OWNER, FRIEND, accepted=False)  # unfriended
    gone = _get(client, f"/api/shows/{friends_show}", auth(FRIEND), detail.headers["ETag"])
    assert gone.status_code == 404
    fresh = _get(client, f"/api/shows?user_id={OWNER}", auth(FRIEND), listing.headers["ETag"])
    assert fresh.status_code == 200 and [s["id"] for s in fresh.json()] == [public_show]

    # a public show turned private: the stranger's tag from when it was public gets a 404, not a 304
    seen = _get(client, f"/api/shows/{public_show}", auth(STRANGER))
    listed = _get(client, f"/api/shows?user_id={OWNER}", auth(STRANGER))
    assert seen.status_code == 200 and [s["id"] for s in listed.json()] == [public_show]
    h = auth(OWNER)
    assert client.put(f"/api/shows/{public_show}", json={"visibility": "private"}, headers=h).status_code == 200
    assert _get(client, f"/api/shows/{public_show}", auth(STRANGER), seen.headers["ETag"]).status_code == 404
    hidden = _get(client, f"/api/shows?user_id={OWNER}", auth(STRANGER), listed.headers["ETag"])
    assert hidden.status_code == 200 and hidden.json() == []

    # befriended again: a new friendship version, so not the tag from before the unfriending either
    befriend(OWNER, FRIEND)
    back = _get(client, f"/api/shows/{friends_show}", auth(FRIEND), detail.headers["ETag"])
    assert back.status_code == 200 and back.headers["ETag"] != detail.headers["ETag"]

    # deleted: 404 whatever the tag
    tag = _get(client, f"/api/shows/{friends_show}", auth(OWNER)).headers["ETag"]
    assert client.delete(f"/api/shows/{friends_show}", headers=h).status_code == 204
    assert _get(client, f"/api/shows/{friends_show}", auth(OWNER), tag).status_code == 404
