"""Friends' positions at a concert: only accepted friends checked in to the same concert see them; they end
at check-out and expiry and are not kept; approximate positions are rounded to about 100 m; live updates reach
only those friends' chat sockets; "appear offline"."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
from sqlalchemy import select

from shared.events import CheckinCreatedV1, CheckinEndedV1
from social.locations import approximate
from social.models import FriendLocation

A, B, C, D = 1, 2, 3, 4  # A and B friends at concert 200; C a stranger there; D A's friend at concert 300
SPOT = {"latitude": 51.50135, "longitude": -0.14189, "accuracy_m": 8, "precision": "exact"}


def _meters(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    return 6_371_000 * math.hypot(x, math.radians(lat2 - lat1))


@pytest.fixture
def venue(social: Any) -> Any:
    for uid, name in ((A, "ann"), (B, "ben"), (C, "cat"), (D, "dan")):
        social.add_user(uid, name)
    social.befriend(A, B)
    social.befriend(A, D)
    for show_id, owner, concert in ((20, A, 200), (21, B, 200), (22, C, 200), (23, D, 300)):
        social.world.add_show(show_id, owner, visibility="public", concert_id=concert)
        social.world.shows[show_id]["date"] = dt.datetime.now(dt.UTC).date().isoformat()  # tonight's concert
        social.world.checked_in.add((owner, concert))
        social.deliver(CheckinCreatedV1(user_id=owner, concert_id=concert, show_id=show_id))
    return social


def _put(social: Any, user: int, show_id: int, **body: Any) -> Any:
    return social.client.put(f"/api/shows/{show_id}/location", json={**SPOT, **body}, headers=social.headers(user))


def _seen(social: Any, user: int, show_id: int) -> Any:
    return social.client.get(f"/api/shows/{show_id}/friends-locations", headers=social.headers(user))


def test_only_friends_checked_in_to_the_same_concert_see_a_position(venue: Any) -> None:
    assert _seen(venue, B, 21).json() == {"locations": []}  # off by default
    r = _put(venue, A, 20)
    assert r.status_code == 200 and r.json()["latitude"] == SPOT["latitude"] and r.json()["precision"] == "exact"
    seen = _seen(venue, B, 21).json()["locations"]  # B reaches the concert through their own show
    assert [(x["user"], x["latitude"], x["longitude"], x["accuracy_m"]) for x in seen] == [
        ({"id": A, "username": "ann"}, SPOT["latitude"], SPOT["longitude"], 8.0)]
    assert _seen(venue, B, 20).json()["locations"][0]["user"]["id"] == A  # or through A's
    assert _seen(venue, C, 22).json() == {"locations": []}  # a stranger at the same concert
    r = _seen(venue, D, 20)  # a friend who is at another concert
    assert r.status_code == 403 and r.json()["code"] == "not_checked_in"
    assert _seen(venue, D, 23).json() == {"locations": []}
    # unfriending takes it away at once
    fid = venue.client.get("/api/friends", headers=venue.headers(B)).json()["friends"][0]["id"]
    venue.client.delete(f"/api/friends/{fid}", headers=venue.headers(B))
    assert _seen(venue, B, 21).json() == {"locations": []}


def test_sharing_needs_a_check_in_and_validates_input(venue: Any) -> None:
    r = _put(venue, D, 20)  # D may see show 20 but is not at concert 200
    assert r.status_code == 403 and r.json()["code"] == "not_checked_in"
    venue.world.shows[99] = {**venue.world.shows[20], "visibility": "private"}
    assert _put(venue, B, 99).status_code == 404
    assert _put(venue, A, 20, latitude=91).status_code == 422
    assert _put(venue, A, 20, longitude=-180.5).status_code == 422
    assert _put(venue, A, 20, precision="street").status_code == 422
    assert venue.client.put("/api/shows/20/location", json=SPOT).status_code == 401
    # the show started more than six hours ago: nothing is shared any more
    yesterday = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).date().isoformat()
    venue.world.shows[20].update(date=yesterday, time="12:00")
    r = _put(venue, A, 20, utc_offset_minutes=0)
    assert r.status_code == 403 and r.json()["code"] == "location_sharing_over"


def test_check_out_and_expiry_end_a_position_and_nothing_is_kept(venue: Any) -> None:
    _put(venue, A, 20)
    venue.world.checked_in.discard((A, 200))
    venue.deliver(CheckinEndedV1(user_id=A, concert_id=200, show_id=20))
    assert _seen(venue, B, 21).json() == {"locations": []}
    with venue.session() as s:
        assert s.scalar(select(FriendLocation)) is None
    venue.world.checked_in.add((A, 200))
    venue.deliver(CheckinCreatedV1(user_id=A, concert_id=200, show_id=20))
    shared = _put(venue, A, 20).json()
    expires = dt.datetime.fromisoformat(shared["expires_at"].replace("Z", "+00:00"))
    assert dt.timedelta(hours=5, minutes=59) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=6)
    with venue.session() as s:
        s.scalar(select(FriendLocation)).expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    assert _seen(venue, B, 21).json() == {"locations": []}
    with venue.session() as s:
        assert s.scalar(select(FriendLocation)) is None
    # DELETE stops sharing
    _put(venue, A, 20)
    assert venue.client.delete("/api/shows/20/location", headers=venue.headers(A)).status_code == 204
    assert _seen(venue, B, 21).json() == {"locations": []}


def test_approximate_positions_are_rounded_to_about_100_m(venue: Any) -> None:
    got = _put(venue, A, 20, precision="approximate").json()
    assert got["accuracy_m"] == 100.0 and got["precision"] == "approximate"
    assert (got["latitude"], got["longitude"]) != (SPOT["latitude"], SPOT["longitude"])
    seen = _seen(venue, B, 21).json()["locations"][0]
    assert (seen["latitude"], seen["longitude"]) == (got["latitude"], got["longitude"])


@pytest.mark.parametrize("lat,lon", [(51.50135, -0.14189), (0.0001, 179.9999), (-33.8568, 151.2153), (69.6, 18.9)])
def test_rounding_unit(lat: float, lon: float) -> None:
    rlat, rlon = approximate(lat, lon)
    assert _meters(lat, lon, rlat, rlon) <= 75  # within half a cell's diagonal
    # a point ~30 m away in the same cell maps to the same centre; the cell is about 100 m tall
    step = 100 / 111_320
    base = (math.floor(lat / step) + 0.5) * step
    assert approximate(base + step * 0.3, rlon) == approximate(base - step * 0.3, rlon)
    assert approximate(base + step * 0.6, rlon)[0] != approximate(base, rlon)[0]


def test_live_updates_reach_only_friends_at_the_concert(venue: Any) -> None:
    with venue.client.websocket_connect("/api/chat/show/21/ws", headers=venue.headers(B)) as friend, \
            venue.client.websocket_connect("/api/chat/show/22/ws", headers=venue.headers(C)) as stranger:
        assert friend.receive_json()["type"] == "history" and stranger.receive_json()["type"] == "history"
        _put(venue, A, 20)
        frame = _next(friend, "location")
        assert frame["user"]["id"] == A and frame["latitude"] == SPOT["latitude"]
        # the stranger's next frame is the chat message below, never the position
        venue.client.post("/api/chat/show/20/messages", json={"message": "hi"}, headers=venue.headers(A))
        assert _next(stranger, "message", skip=("presence",))["message"] == "hi"


def _next(ws: Any, kind: str, skip: tuple[str, ...] = ("presence", "typing")) -> dict[str, Any]:
    while True:
        frame = ws.receive_json()
        if frame["type"] == kind:
            return frame  # type: ignore[no-any-return]
        assert frame["type"] in skip, frame


def test_appear_offline_hides_from_active_users(venue: Any) -> None:
    c = venue.client
    assert c.put("/api/chat/presence", json={"appear_offline": True}, headers=venue.headers(B)).json() == {
        "appear_offline": True}
    with c.websocket_connect("/api/chat/show/21/ws", headers=venue.headers(B)) as ws:
        ws.receive_json()
        users = c.get("/api/chat/show/20/active-users", headers=venue.headers(A)).json()
        assert users["total"] == 0
    assert c.get("/api/chat/presence", headers=venue.headers(B)).json() == {"appear_offline": True}
