"""Visibility matrix: owner, friend, stranger, anonymous x private/friends/public for shows and setlists."""

from __future__ import annotations

from typing import Any

import pytest

OWNER, FRIEND, STRANGER, NARROWED_OUT = 1, 2, 3, 4

CAN_VIEW = {
    "private": {OWNER},
    "friends": {OWNER, FRIEND},
    "public": {OWNER, FRIEND, STRANGER, NARROWED_OUT},
}


@pytest.fixture
def world(make_show: Any, befriend: Any) -> dict[str, Any]:
    """One show per visibility; FRIEND and NARROWED_OUT are friends of OWNER, STRANGER is not."""
    befriend(OWNER, FRIEND)
    befriend(NARROWED_OUT, OWNER)
    shows = {
        "private": make_show(OWNER, date="2024-01-01", visibility="private"),
        "friends": make_show(OWNER, date="2024-01-02", visibility="friends", visible_to=[FRIEND]),
        "public": make_show(OWNER, date="2024-01-03", visibility="public"),
    }
    return shows


@pytest.mark.parametrize("visibility", ["private", "friends", "public"])
@pytest.mark.parametrize("viewer", [OWNER, FRIEND, STRANGER, NARROWED_OUT])
def test_read(client: Any, auth: Any, world: dict[str, Any], visibility: str, viewer: int) -> None:
    show = world[visibility]
    allowed = viewer in CAN_VIEW[visibility]
    detail = client.get(f"/api/shows/{show['id']}", headers=auth(viewer))
    setlist = client.get(f"/api/shows/{show['id']}/setlist", headers=auth(viewer))
    if allowed:
        assert detail.status_code == 200 and setlist.status_code == 200
        body = detail.json()
        assert body["is_owner"] is (viewer == OWNER)
        # visible_to is the owner's business only
        assert body["visible_to"] == ([FRIEND] if viewer == OWNER and visibility == "friends" else None)
    else:
        assert detail.status_code == 404 and setlist.status_code == 404
        assert "artist" not in detail.json()


@pytest.mark.parametrize("visibility", ["private", "friends", "public"])
@pytest.mark.parametrize("viewer", [FRIEND, STRANGER])
def test_write_by_others(client: Any, auth: Any, world: dict[str, Any], visibility: str, viewer: int) -> None:
    show = world[visibility]
    song = client.post(f"/api/shows/{show['id']}/setlist", json={"title": "Mine"}, headers=auth(OWNER)).json()
    expected = 403 if viewer in CAN_VIEW[visibility] else 404
    sid = show["id"]
    assert client.put(f"/api/shows/{sid}", json={"notes": "hacked"}, headers=auth(viewer)).status_code == expected
    assert client.delete(f"/api/shows/{sid}", headers=auth(viewer)).status_code == expected
    assert client.post(f"/api/shows/{sid}/setlist", json={"title": "x"}, headers=auth(viewer)).status_code == expected
    url = f"/api/shows/{sid}/setlist/{song['id']}"
    assert client.put(url, json={"title": "HACKED"}, headers=auth(viewer)).status_code == expected
    assert client.delete(url, headers=auth(viewer)).status_code == expected
    assert client.post(f"/api/shows/{sid}/checkin", headers=auth(viewer)).status_code == expected
    after = client.get(f"/api/shows/{sid}", headers=auth(OWNER)).json()
    assert after["notes"] == "Amazing show!" and [s["title"] for s in after["setlist"]] == ["Mine"]


def test_anonymous_gets_401_everywhere(client: Any, world: dict[str, Any]) -> None:
    sid = world["public"]["id"]
    for method, path in [
        ("GET", f"/api/shows/{sid}"),
        ("PUT", f"/api/shows/{sid}"),
        ("DELETE", f"/api/shows/{sid}"),
        ("GET", f"/api/shows/{sid}/setlist"),
        ("POST", f"/api/shows/{sid}/setlist"),
    ]:
        assert client.request(method, path, json={"title": "x"}).status_code == 401


def test_song_of_another_show_is_not_reachable(client: Any, auth: Any, make_show: Any) -> None:
    """The earlier IDOR: editing someone else's song through one's own show id."""
    victim = make_show(1, visibility="public")
    attacker = make_show(2, date="2024-01-05")
    song = client.post(f"/api/shows/{victim['id']}/setlist", json={"title": "Original"}, headers=auth(1)).json()
    url = f"/api/shows/{attacker['id']}/setlist/{song['id']}"
    assert client.put(url, json={"title": "HACKED"}, headers=auth(2)).status_code == 404
    assert client.delete(url, headers=auth(2)).status_code == 404
    assert client.get(f"/api/shows/{victim['id']}/setlist", headers=auth(1)).json()[0]["title"] == "Original"


@pytest.mark.parametrize("viewer", [OWNER, FRIEND, STRANGER, NARROWED_OUT])
def test_list_of_someone_else(client: Any, auth: Any, world: dict[str, Any], viewer: int) -> None:
    resp = client.get(f"/api/shows?user_id={OWNER}", headers=auth(viewer))
    assert resp.status_code == 200
    seen = {s["visibility"] for s in resp.json()}
    expected = {v for v, who in CAN_VIEW.items() if viewer in who}
    assert seen == expected
    assert resp.headers["X-Total-Count"] == str(len(expected))


def test_friendship_removed_hides_again(client: Any, auth: Any, world: dict[str, Any], befriend: Any) -> None:
    sid = world["friends"]["id"]
    assert client.get(f"/api/shows/{sid}", headers=auth(FRIEND)).status_code == 200
    befriend(FRIEND, OWNER, accepted=False)
    assert client.get(f"/api/shows/{sid}", headers=auth(FRIEND)).status_code == 404


def test_visible_to_null_means_all_friends(client: Any, auth: Any, world: dict[str, Any]) -> None:
    sid = world["friends"]["id"]
    assert client.get(f"/api/shows/{sid}", headers=auth(NARROWED_OUT)).status_code == 404
    client.put(f"/api/shows/{sid}", json={"visible_to": None}, headers=auth(OWNER))
    assert client.get(f"/api/shows/{sid}", headers=auth(NARROWED_OUT)).status_code == 200
    client.put(f"/api/shows/{sid}", json={"visible_to": [NARROWED_OUT]}, headers=auth(OWNER))
    assert client.get(f"/api/shows/{sid}", headers=auth(FRIEND)).status_code == 404
    listed = client.get(f"/api/shows?user_id={OWNER}", headers=auth(NARROWED_OUT)).json()
    assert sid in [s["id"] for s in listed]
