"""Setlist: dense ordered positions under insert, move, delete, and 20 concurrent moves."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from shared.db import make_engine, make_session_factory
from shows import setlist
from shows.db import outbox
from shows.schemas import SongUpdate
from shows.service import Viewer


@pytest.fixture
def show_with_songs(client: Any, auth: Any, make_show: Any) -> tuple[int, list[dict[str, Any]]]:
    show = make_show(1)
    songs = [
        client.post(f"/api/shows/{show['id']}/setlist", json={"title": t}, headers=auth(1)).json()
        for t in ("A", "B", "C", "D")
    ]
    return show["id"], songs


def _titles(client: Any, auth: Any, sid: int) -> list[str]:
    songs = client.get(f"/api/shows/{sid}/setlist", headers=auth(1)).json()
    assert [s["order"] for s in songs] == list(range(1, len(songs) + 1))
    return [s["title"] for s in songs]


def test_song_shape_and_aliases(client: Any, auth: Any, make_show: Any) -> None:
    sid = make_show(1)["id"]
    resp = client.post(
        f"/api/shows/{sid}/setlist",
        json={
            "song_name": "505",
            "notes": "Encore",
            "is_cover": True,
            "original_artist": "Someone",
            "duration": "4:13",
            "songwriter": "Alex Turner",
            "with_artist": "Miles Kane",
            "show_id": 999,
        },
        headers=auth(1),
    )
    assert resp.status_code == 201, resp.text
    song = resp.json()
    assert song == {
        "id": song["id"],
        "show_id": sid,
        "title": "505",
        "song_name": "505",
        "order": 1,
        "notes": "Encore",
        "is_cover": True,
        "original_artist": "Someone",
        "duration": "4:13",
        "songwriter": "Alex Turner",
        "with_artist": "Miles Kane",
        "artist_id": None,
        "set_number": 1,
        "set_name": "",
        "encore": 0,
        "is_tape": False,
        "recording_mbid": None,
        "source": "manual",
    }
    listed = client.get(f"/api/shows/{sid}/setlist", headers=auth(1))
    assert isinstance(listed.json(), list) and listed.json()[0] == song


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "x", "order": 0}, "order"),
        ({"title": "x", "order": -3}, "order"),
        ({"title": "x", "duration": "4m13"}, "duration"),
        ({"title": "x", "duration": "4:75"}, "duration"),
        ({"title": "x", "is_cover": "maybe"}, "is_cover"),
    ],
)
def test_song_validation(client: Any, auth: Any, make_show: Any, body: dict[str, Any], field: str) -> None:
    sid = make_show(1)["id"]
    resp = client.post(f"/api/shows/{sid}/setlist", json=body, headers=auth(1))
    assert resp.status_code == 422, resp.text
    assert field in [d["field"] for d in resp.json()["details"]]


def test_insert_at_position(client: Any, auth: Any, show_with_songs: Any) -> None:
    sid, _ = show_with_songs
    r = client.post(f"/api/shows/{sid}/setlist", json={"title": "X", "order": 2}, headers=auth(1))
    assert r.status_code == 201 and r.json()["order"] == 2
    assert _titles(client, auth, sid) == ["A", "X", "B", "C", "D"]
    client.post(f"/api/shows/{sid}/setlist", json={"title": "First", "order": 1}, headers=auth(1))
    client.post(f"/api/shows/{sid}/setlist", json={"title": "Last", "order": 99}, headers=auth(1))
    assert _titles(client, auth, sid) == ["First", "A", "X", "B", "C", "D", "Last"]


def test_move_and_edit(client: Any, auth: Any, show_with_songs: Any) -> None:
    sid, songs = show_with_songs
    a, _, _, d = songs
    r = client.put(f"/api/shows/{sid}/setlist/{a['id']}", json={"order": 3}, headers=auth(1))
    assert r.status_code == 200 and r.json()["order"] == 3 and r.json()["title"] == "A"
    assert _titles(client, auth, sid) == ["B", "C", "A", "D"]
    client.put(f"/api/shows/{sid}/setlist/{d['id']}", json={"order": 1, "song_name": "D!"}, headers=auth(1))
    assert _titles(client, auth, sid) == ["D!", "B", "C", "A"]
    client.put(f"/api/shows/{sid}/setlist/{d['id']}", json={"order": 100}, headers=auth(1))
    assert _titles(client, auth, sid) == ["B", "C", "A", "D!"]
    edit = client.put(
        f"/api/shows/{sid}/setlist/{a['id']}", json={"duration": "3:30", "notes": "acoustic"}, headers=auth(1)
    ).json()
    assert edit["duration"] == "3:30" and edit["notes"] == "acoustic" and edit["order"] == 3
    assert client.put(f"/api/shows/{sid}/setlist/{a['id']}", json={"order": 0}, headers=auth(1)).status_code == 422


def test_delete_closes_gap(client: Any, auth: Any, show_with_songs: Any) -> None:
    sid, songs = show_with_songs
    assert client.delete(f"/api/shows/{sid}/setlist/{songs[1]['id']}", headers=auth(1)).status_code == 204
    assert _titles(client, auth, sid) == ["A", "C", "D"]
    assert client.delete(f"/api/shows/{sid}/setlist/{songs[1]['id']}", headers=auth(1)).status_code == 404
    assert client.put(f"/api/shows/{sid}/setlist/999999", json={"title": "x"}, headers=auth(1)).status_code == 404


def test_twenty_concurrent_moves_keep_positions_dense(client: Any, auth: Any, make_show: Any, db_url: str) -> None:
    sid = make_show(1)["id"]
    ids = [
        client.post(f"/api/shows/{sid}/setlist", json={"title": f"S{i}"}, headers=auth(1)).json()["id"]
        for i in range(10)
    ]
    factory = make_session_factory(make_engine(db_url), outbox)
    errors: list[BaseException] = []
    barrier = threading.Barrier(20)
    rng = random.Random(7)
    moves = [(rng.choice(ids), rng.randint(1, 12)) for _ in range(20)]

    def move(song_id: int, target: int) -> None:
        try:
            barrier.wait()
            with factory() as s:
                setlist.update_song(s, viewer=Viewer(1), show_id=sid, song_id=song_id, data=SongUpdate(order=target))
                s.commit()
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=move, args=m) for m in moves]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    songs = client.get(f"/api/shows/{sid}/setlist", headers=auth(1)).json()
    assert sorted(s["id"] for s in songs) == sorted(ids)
    assert [s["order"] for s in songs] == list(range(1, 11))


def test_setlist_limit(client: Any, auth: Any, make_show: Any, settings: Any, app: Any) -> None:
    app.state.settings.setlist_max_songs = 2
    sid = make_show(1)["id"]
    for t in ("a", "b"):
        assert client.post(f"/api/shows/{sid}/setlist", json={"title": t}, headers=auth(1)).status_code == 201
    assert client.post(f"/api/shows/{sid}/setlist", json={"title": "c"}, headers=auth(1)).status_code == 409
