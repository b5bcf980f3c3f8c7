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


def test_chosen_photos_are_shown_through_the_token_only_and_die_with_the_link(gig: Any) -> None:
    gig.world.photos.update({11: {"show_id": 5, "user_id": OWNER}, 12: {"show_id": 5, "user_id": OWNER},
                             13: {"show_id": 5, "user_id": FRIEND}, 14: {"show_id": 6, "user_id": OWNER},
                             15: {"show_id": 5, "user_id": OWNER, "status": "processing"}})
    for wrong in ([13], [14], [15], [99], [11, 13], list(range(1, 14))):  # not the owner's ready photos; > 12
        r = _create(gig, OWNER, photo_ids=wrong)
        assert r.status_code == 422, (wrong, r.text)
        assert r.json()["code"] == "validation_error"
    r = _create(gig, OWNER, photo_ids=[12, 11, 12])
    assert r.status_code == 201 and r.json()["photo_ids"] == [12, 11]
    token = r.json()["token"]
    photos = gig.client.get(f"/api/public/shows/{token}").json()["photos"]
    base = f"http://localhost:5000/api/public/shows/{token}/photos"
    assert photos == [{"id": 12, "url": f"{base}/12/large", "thumbnail_url": f"{base}/12/medium", "width": 1200,
                       "height": 800}, {"id": 11, "url": f"{base}/11/large", "thumbnail_url": f"{base}/11/medium",
                                        "width": 1200, "height": 800}]
    page = gig.client.get(f"/s/{token}").text
    assert f'<meta property="og:image" content="{base}/12/medium">' in page
    assert f'<meta name="twitter:image" content="{base}/12/medium">' in page
    assert '<meta name="twitter:card" content="summary_large_image">' in page
    assert f'<img src="{base}/11/medium"' in page
    img = gig.client.get(f"/api/public/shows/{token}/photos/12/medium")  # anonymous
    assert img.status_code == 200 and img.content == b"webp 12 medium" and img.headers["content-type"] == "image/webp"
    assert img.headers["cache-control"].startswith("private")
    # a photo of the show that is not on the link, a size not offered, a photo gone from media: 404 / 422
    assert gig.client.get(f"/api/public/shows/{token}/photos/13/medium").status_code == 404
    assert gig.client.get(f"/api/public/shows/{token}/photos/11/original").status_code == 422
    del gig.world.photos[11]
    assert gig.client.get(f"/api/public/shows/{token}/photos/11/medium").status_code == 404
    assert [p["id"] for p in gig.client.get(f"/api/public/shows/{token}").json()["photos"]] == [12]
    # the owner changes them; nobody else can
    put = gig.client.put(f"/api/share-links/{token}", json={"photo_ids": [13]}, headers=gig.headers(OWNER))
    assert put.status_code == 422
    assert gig.client.put(f"/api/share-links/{token}", json={"photo_ids": []},
                          headers=gig.headers(FRIEND)).status_code == 404
    put = gig.client.put(f"/api/share-links/{token}", json={"photo_ids": []}, headers=gig.headers(OWNER))
    assert put.status_code == 200 and put.json()["photo_ids"] == []
    assert gig.client.get(f"/api/public/shows/{token}/photos/12/medium").status_code == 404
    assert '<meta name="twitter:card" content="summary">' in gig.client.get(f"/s/{token}").text
    gig.client.put(f"/api/share-links/{token}", json={"photo_ids": [12]}, headers=gig.headers(OWNER))
    assert gig.client.get(f"/api/public/shows/{token}/photos/12/medium").status_code == 200
    assert gig.client.delete(f"/api/share-links/{token}", headers=gig.headers(OWNER)).status_code == 204
    assert gig.client.get(f"/api/public/shows/{token}/photos/12/medium").status_code == 404
