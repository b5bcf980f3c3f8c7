"""The seed document's curl walkthrough, verbatim, through the gateway (cookies, no browser headers)."""

from __future__ import annotations

import httpx
import pytest

from shared.stack import Stack

pytestmark = pytest.mark.e2e

SEED_USER = {"username": "MeDic8TeD", "email": "tim.h.orlando@gmail.com", "password": "Ih34rtN4th4n*01"}
SEED_SHOW = {
    "artist_name": "Arctic Monkeys",
    "venue_name": "Madison Square Garden",
    "venue_location": "New York, NY",
    "date": "2024-12-01",
    "time": "20:00",
    "notes": "Amazing show!",
}


def test_seed_curl_walkthrough(stack: Stack) -> None:
    # like curl -c/-b /tmp/cookies.txt: a cookie jar, JSON bodies, no Origin / Sec-Fetch-* headers
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as curl:
        health = curl.get("/health")
        assert health.status_code == 200
        assert set(health.json()["services"]) >= {"auth"}

        reg = curl.post("/api/auth/register", json=SEED_USER)
        assert reg.status_code == 201, reg.text
        assert reg.json()["user"]["username"] == "MeDic8TeD"

        login = curl.post("/api/auth/login", json={"username": "MeDic8TeD", "password": "Ih34rtN4th4n*01"})
        assert login.status_code == 200, login.text
        assert login.json()["mfa_required"] is False
        assert "access_token_cookie" in curl.cookies

        me = curl.get("/api/auth/me")
        assert me.status_code == 200, me.text
        assert me.json()["username"] == "MeDic8TeD" and me.json()["email"] == "tim.h.orlando@gmail.com"

        stats = curl.get("/api/dashboard/stats")
        assert stats.status_code == 200, stats.text
        assert stats.json()["total_shows"] == 0

        created = curl.post("/api/shows", json=SEED_SHOW)
        assert created.status_code == 201, created.text
        show = created.json()
        assert show["artist"]["name"] == "Arctic Monkeys" and show["venue"]["name"] == "Madison Square Garden"
        assert show["date"] == "2024-12-01" and show["time"] == "20:00" and show["notes"] == "Amazing show!"
        assert show["venue"]["city"] == "New York" and show["venue"]["state"] == "NY"

        listed = curl.get("/api/shows")
        assert listed.status_code == 200
        assert [s["id"] for s in listed.json()] == [show["id"]]
        assert listed.headers["x-total-count"] == "1"

        assert curl.get("/api/dashboard/stats").json()["total_shows"] == 1


def test_root_and_docs(stack: Stack) -> None:
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as c:
        root = c.get("/", headers={"Accept": "application/json"})
        assert root.status_code == 200 and root.json()["message"] == "ShareMyShows API"
        spec = c.get("/openapi.json").json()
        paths = spec["paths"]
        assert "/api/auth/login" in paths and "/api/shows" in paths
        assert not any(p.startswith("/internal") for p in paths)
        assert c.get("/docs").status_code == 200


def test_missing_or_garbage_token_is_401_never_500(stack: Stack) -> None:
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as c:
        assert c.get("/api/auth/me").status_code == 401
        r = c.get("/api/shows", headers={"Authorization": "Bearer not.a.token"})
        assert r.status_code == 401 and r.json()["code"] in ("invalid_token", "not_authenticated")
        r = c.get("/api/shows", cookies={"access_token_cookie": "garbage"})
        assert r.status_code == 401
