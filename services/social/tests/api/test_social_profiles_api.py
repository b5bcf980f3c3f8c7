"""Opt-in public profiles: off by default, the same 404 for an unknown user and a private profile, only
public shows once on, an escaped page with Open Graph tags, anonymous, rate-limited like share pages."""

from __future__ import annotations

from typing import Any

import pytest

from shared.events import UserDeletedV1

ANN, BEN = 1, 2


@pytest.fixture
def people(social: Any) -> Any:
    social.add_user(ANN, "Ann<b>")
    social.add_user(BEN, "ben")
    social.world.add_show(10, ANN, visibility="public", name="Radiohead at Olympia")
    social.world.add_show(11, ANN, visibility="friends", name="Secret Band at Basement")
    social.world.add_show(12, ANN, visibility="private", name="Diary at Home")
    social.world.add_show(13, BEN, visibility="public", name="Other at Elsewhere")
    return social


def _settings(social: Any, user: int, on: bool | None = None) -> Any:
    url, h = "/api/users/me/profile-settings", social.headers(user)
    return social.client.get(url, headers=h) if on is None else social.client.put(url, json={"public_profile": on},
                                                                                   headers=h)


def test_a_profile_is_off_by_default_and_then_shows_only_public_shows(people: Any) -> None:
    c = people.client
    assert _settings(people, ANN).json() == {"public_profile": False}
    off, unknown = c.get("/api/users/Ann%3Cb%3E/profile"), c.get("/api/users/nobody/profile")
    assert off.status_code == unknown.status_code == 404 and off.json() == unknown.json()
    assert off.json()["code"] == "profile_not_found"
    assert c.get("/u/Ann<b>").status_code == 404 and "No public profile here" in c.get("/u/Ann<b>").text
    assert _settings(people, ANN, True).json() == {"public_profile": True}
    body = c.get("/api/users/ann<b>/profile").json()  # anonymous; usernames are case-insensitive
    assert body["user"] == {"id": ANN, "username": "Ann<b>"}
    assert [s["id"] for s in body["shows"]] == [10] and body["counts"]["shows"] == 1
    assert body["top_artists"] == [{"artist": {"id": 1, "name": "Radiohead"}, "shows": 1}]
    page = c.get("/u/ann<b>")
    assert page.status_code == 200 and "Radiohead" in page.text and "Secret Band" not in page.text
    assert "<b>" not in page.text and '<meta property="og:title" content="Ann&lt;b&gt; on ShareMyShows">' in page.text
    assert '<meta property="og:url" content="http://localhost:5000/u/Ann&lt;b&gt;">' in page.text
    assert c.get("/api/users/ben/profile").status_code == 404  # Ben did not opt in
    assert _settings(people, ANN, False).json() == {"public_profile": False}
    assert c.get("/api/users/ann<b>/profile").status_code == 404
    assert c.put("/api/users/me/profile-settings", json={"public_profile": True}).status_code == 401
    assert _settings(people, ANN, "yes").status_code == 422  # type: ignore[arg-type]


def test_a_deleted_account_has_no_profile(people: Any) -> None:
    _settings(people, BEN, True)
    assert people.client.get("/api/users/ben/profile").status_code == 200
    people.deliver(UserDeletedV1(user_id=BEN, aggregate_version=2))
    assert people.client.get("/api/users/ben/profile").status_code == 404


def test_profiles_are_rate_limited_per_address(social_factory: Any, token_verifier: Any, world: Any) -> None:
    app = social_factory(token_verifier, SOCIAL_SHARE_RATE_LIMIT="2")
    codes = [app.client.get("/u/someone", headers={"X-Forwarded-For": "203.0.113.7"}).status_code for _ in range(3)]
    assert codes == [404, 404, 429]
