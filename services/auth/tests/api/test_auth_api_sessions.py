"""Refresh rotation and reuse detection, logout, tampered/expired tokens, CSRF, in-process on SQLite."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

Login = Callable[[dict[str, Any]], dict[str, Any]]


def _login(client: TestClient, u: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/api/auth/login", json={"username": u["username"], "password": u["password"]})
    assert r.status_code == 200, r.text
    return r.json()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_refresh_rotates_and_reuse_revokes_the_family(
    client: TestClient, new_user: Callable[..., dict[str, Any]]
) -> None:
    u = new_user()
    r1 = _login(client, u)["refresh_token"]
    client.cookies.clear()
    step = client.post("/api/auth/refresh", json={"refresh_token": r1})
    assert step.status_code == 200, step.text
    r2 = step.json()["refresh_token"]
    assert r2 != r1 and step.json()["access_token"] and step.json()["user"]["id"] == u["id"]
    assert client.get("/api/auth/me", headers=_bearer(step.json()["access_token"])).status_code == 200
    # R1 again: reuse -> 401, and R2 (same family) is revoked too
    client.cookies.clear()
    reuse = client.post("/api/auth/refresh", json={"refresh_token": r1})
    assert reuse.status_code == 401 and reuse.json()["code"] == "refresh_token_reused"
    client.cookies.clear()
    assert client.post("/api/auth/refresh", json={"refresh_token": r2}).status_code == 401


def test_reuse_revokes_only_that_family(client: TestClient, new_user: Callable[..., dict[str, Any]]) -> None:
    u = new_user()
    phone = _login(client, u)["refresh_token"]
    laptop = _login(client, u)["refresh_token"]
    client.cookies.clear()
    client.post("/api/auth/refresh", json={"refresh_token": phone})
    client.cookies.clear()
    assert client.post("/api/auth/refresh", json={"refresh_token": phone}).status_code == 401
    client.cookies.clear()
    assert client.post("/api/auth/refresh", json={"refresh_token": laptop}).status_code == 200


def test_refresh_with_cookie_like_curl(client: TestClient, new_user: Callable[..., dict[str, Any]]) -> None:
    u = new_user()
    _login(client, u)
    old = client.cookies.get("refresh_token_cookie")
    r = client.post("/api/auth/refresh")
    assert r.status_code == 200
    assert client.cookies.get("refresh_token_cookie") not in (None, old)
    assert client.get("/api/auth/me").status_code == 200


def test_refresh_cookie_from_a_browser_needs_its_csrf_header(
    client: TestClient, new_user: Callable[..., dict[str, Any]]
) -> None:
    u = new_user()
    _login(client, u)
    browser = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    r = client.post("/api/auth/refresh", headers=browser)
    assert r.status_code == 403 and r.json()["code"] == "csrf_failed"
    r = client.post("/api/auth/refresh", headers={**browser, "X-CSRF-TOKEN": client.cookies["csrf_refresh_token"]})
    assert r.status_code == 200


def test_no_or_garbage_refresh_token_is_401(client: TestClient) -> None:
    assert client.post("/api/auth/refresh").status_code == 401
    assert client.post("/api/auth/refresh", json={"refresh_token": "garbage"}).status_code == 401


def test_logout_revokes_refresh_and_clears_cookies(client: TestClient, new_user: Callable[..., dict[str, Any]]) -> None:
    u = new_user()
    refresh = _login(client, u)["refresh_token"]
    r = client.post("/api/auth/logout")
    assert r.status_code == 200 and r.json() == {"message": "Logged out successfully"}
    cleared = [c.split("=")[0] for c in r.headers.get_list("set-cookie") if "Max-Age=0" in c]
    assert {"access_token_cookie", "refresh_token_cookie", "csrf_access_token"} <= set(cleared)
    assert client.get("/api/auth/me").status_code == 401
    assert client.post("/api/auth/refresh", json={"refresh_token": refresh}).status_code == 401
    # bearer clients log out by sending their refresh token
    other = _login(client, u)["refresh_token"]
    client.cookies.clear()
    assert client.post("/api/auth/logout", json={"refresh_token": other}).status_code == 200
    assert client.post("/api/auth/refresh", json={"refresh_token": other}).status_code == 401
    assert client.post("/api/auth/logout").status_code == 200  # idempotent, no session needed


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_tampered_and_wrong_type_tokens_are_401(client: TestClient, new_user: Callable[..., dict[str, Any]]) -> None:
    u = new_user()
    body = _login(client, u)
    client.cookies.clear()
    access, refresh = body["access_token"], body["refresh_token"]
    claims = jwt.decode(access, options={"verify_signature": False})
    kid = jwt.get_unverified_header(access)["kid"]
    head, payload, sig = access.split(".")
    evil = Ed25519PrivateKey.generate()
    forged = {
        "bad signature": f"{head}.{_b64({**claims, 'sub': '999'})}.{sig}",
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{payload}.",
        "other key, our kid": jwt.encode(claims, evil, algorithm="EdDSA", headers={"kid": kid}),
        "unknown kid": jwt.encode(claims, evil, algorithm="EdDSA", headers={"kid": "not-a-key"}),
        "refresh as access": refresh,
        "expired": jwt.encode(
            {**claims, "exp": 1_000_000, "iat": 999_000}, evil, algorithm="EdDSA", headers={"kid": kid}
        ),
        "garbage": "not.a.token",
    }
    for what, token in forged.items():
        r = client.get("/api/auth/me", headers=_bearer(token))
        assert r.status_code == 401, what
        assert r.json()["code"] in ("invalid_token", "token_expired"), what
    assert client.get("/api/auth/me", headers=_bearer(access)).status_code == 200


def test_expired_access_token_is_401(app_factory: Callable[..., TestClient]) -> None:
    client = app_factory(access_ttl_s=1)
    client.post(
        "/api/auth/register",
        json={"username": "shortlived", "email": "s@example.test", "password": "stage lights and loud guitars"},
    )
    access = _login(client, {"username": "shortlived", "password": "stage lights and loud guitars"})["access_token"]
    keys = client.app.state.auth.keys  # type: ignore[attr-defined]
    expired, _ = keys.issue("access", 1, -60, name="shortlived", csrf="x")
    client.cookies.clear()
    r = client.get("/api/auth/me", headers=_bearer(expired))
    assert r.status_code == 401 and r.json()["code"] == "token_expired"
    assert client.get("/api/auth/me", headers=_bearer(access)).status_code == 200


def test_mfa_pending_token_is_not_an_access_token(client: TestClient) -> None:
    keys = client.app.state.auth.keys  # type: ignore[attr-defined]
    mfa_token, _ = keys.issue("mfa", 1, 300)
    assert client.get("/api/auth/me", headers=_bearer(mfa_token)).status_code == 401


def test_csrf_for_cookie_authenticated_browser_requests(
    client: TestClient, new_user: Callable[..., dict[str, Any]]
) -> None:
    u = new_user()
    _login(client, u)
    body = {"password": u["password"]}
    path = "/api/auth/reauthenticate"
    # a browser (Origin) with cookie auth and no X-CSRF-TOKEN is refused
    r = client.post(path, json=body, headers={"Origin": "http://testserver"})
    assert r.status_code == 403 and r.json()["code"] == "csrf_failed"
    r = client.post(path, json=body, headers={"Origin": "http://testserver", "X-CSRF-TOKEN": "wrong"})
    assert r.status_code == 403
    r = client.post(
        path,
        json=body,
        headers={"Sec-Fetch-Site": "cross-site", "X-CSRF-TOKEN": client.cookies["csrf_access_token"]},
    )
    assert r.status_code == 403
    r = client.post(
        path,
        json=body,
        headers={"Origin": "http://testserver", "X-CSRF-TOKEN": client.cookies["csrf_access_token"]},
    )
    assert r.status_code == 200, r.text
    # curl (no browser headers) with cookies, and bearer clients, are not subject to CSRF
    assert client.post(path, json=body).status_code == 200
    token = _login(client, u)["access_token"]
    client.cookies.clear()
    r = client.post(path, json=body, headers={**_bearer(token), "Origin": "http://evil.example"})
    assert r.status_code == 200
