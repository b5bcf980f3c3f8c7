"""Share links: only the owner makes and revokes them; anyone with the token sees the page (escaped, with
Open Graph and Twitter tags) and the JSON until it is revoked, expires or the show goes; rate-limited."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import select

from shared.events import ShowDeletedV1
from social.models import ShareLink

OWNER, FRIEND = 1, 2


@pytest.fixture
def gig(social: Any) -> Any:
    social.add_user(OWNER, "own<er>")
    social.add_user(FRIEND, "friend")
    social.befriend(OWNER, FRIEND)
    social.world.add_show(5, OWNER, visibility="friends", name='<script>alert("x")</script> at The "Club"')
    social.world.shows[5]["setlist"] = [{"position": 1, "title": "Intro & <Outro>"}]
    return social


def _create(social: Any, user: int, show_id: int = 5, **body: Any) -> Any:
    return social.client.post(f"/api/shows/{show_id}/share-links", json=body or None, headers=social.headers(user))


def test_the_owner_shares_and_anyone_with_the_link_sees_an_escaped_page_with_og_tags(gig: Any) -> None:
    r = _create(gig, OWNER)
    assert r.status_code == 201, r.text
    link = r.json()
    token = link["token"]
    assert len(token) >= 32 and link["url"].endswith(f"/s/{token}") and link["expires_at"] is None
    page = gig.client.get(f"/s/{token}")  # no token at all
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    body = page.text
    assert "<script>" not in body and "&lt;script&gt;" in body and "Intro &amp; &lt;Outro&gt;" in body
    og = dict(re.findall(r'<meta property="(og:[a-z_]+)" content="([^"]*)"', body))
    assert og["og:title"].startswith("&lt;script&gt;alert(&quot;x&quot;)") and og["og:url"] == link["url"]
    assert "own&lt;er&gt; was at" in og["og:description"]
    assert '<meta name="twitter:card" content="summary">' in body
    assert page.headers["referrer-policy"] == "no-referrer"
    data = gig.client.get(f"/api/public/shows/{token}").json()
    assert data["show"]["setlist"] == [{"position": 1, "title": "Intro & <Outro>"}]
    assert data["owner"] == {"username": "own<er>"} and data["show"]["venue_name"] == 'The "Club"'
    with gig.session() as s:  # only the hash is stored
        assert s.scalar(select(ShareLink.token_hash)) != token


def test_only_the_owner_may_share_list_and_revoke(gig: Any) -> None:
    assert _create(gig, FRIEND).status_code == 403  # may see it, may not share it
    assert _create(gig, 3).status_code == 404  # may not even see it
    assert _create(gig, OWNER, 99).status_code == 404
    assert _create(gig, OWNER, expires_in_days=0).status_code == 422
    token = _create(gig, OWNER).json()["token"]
    listed = gig.client.get("/api/shows/5/share-links", headers=gig.headers(OWNER)).json()
    assert listed["total"] == 1 and listed["links"][0]["token_prefix"] == token[:6]
    assert "token" not in listed["links"][0]
    assert gig.client.get("/api/shows/5/share-links", headers=gig.headers(FRIEND)).status_code == 403
    assert gig.client.delete(f"/api/share-links/{token}", headers=gig.headers(FRIEND)).status_code == 404
    assert gig.client.delete(f"/api/share-links/{token}", headers=gig.headers(OWNER)).status_code == 204
    assert gig.client.get(f"/s/{token}").status_code == 404
    assert gig.client.get(f"/api/public/shows/{token}").json()["code"] == "share_link_not_found"
    assert gig.client.delete(f"/api/share-links/{token}", headers=gig.headers(OWNER)).status_code == 404


def test_expired_and_unknown_links_and_a_deleted_show_answer_404(gig: Any) -> None:
    token = _create(gig, OWNER, expires_in_days=1).json()["token"]
    assert gig.client.get(f"/api/public/shows/{token}").status_code == 200
    with gig.session() as s:
        s.scalar(select(ShareLink)).expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    assert gig.client.get(f"/s/{token}").status_code == 404
    with gig.session() as s:  # nothing kept after it expired
        assert s.scalar(select(ShareLink)) is None
    assert gig.client.get("/s/not-a-token").status_code == 404
    assert gig.client.get("/api/public/shows/" + "a" * 43).status_code == 404
    token = _create(gig, OWNER).json()["token"]
    gig.deliver(ShowDeletedV1(show_id=5, user_id=OWNER, concert_id=50, aggregate_version=9))
    assert gig.client.get(f"/api/public/shows/{token}").status_code == 404


def test_public_pages_are_rate_limited_per_address(social_factory: Any, token_verifier: Any, world: Any) -> None:
    app = social_factory(token_verifier, SOCIAL_SHARE_RATE_LIMIT="3")
    codes = [app.client.get("/s/" + "b" * 40, headers={"X-Forwarded-For": "203.0.113.9"}).status_code
             for _ in range(4)]
    assert codes == [404, 404, 404, 429]
    assert app.client.get("/s/" + "b" * 40, headers={"X-Forwarded-For": "203.0.113.10"}).status_code == 404
