"""Auth end to end through the gateway: the seed's curl walkthrough, TOTP and email MFA, refresh reuse, CSRF."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pyotp
import pytest

from shared.stack import Stack
from shared.testing.revocation import mailed

pytestmark = pytest.mark.e2e

SEED_USER = {"username": "MeDic8TeD", "email": "tim.h.orlando@gmail.com", "password": "Ih34rtN4th4n*01"}
PW = "stage lights and loud guitars"


def _fresh(client: httpx.Client, **extra: Any) -> dict[str, Any]:
    name = f"e2e{uuid.uuid4().hex[:10]}"
    body = {"username": name, "email": f"{name}@example.test", "password": PW, **extra}
    r = client.post("/api/auth/register", json=body)
    assert r.status_code == 201, r.text
    return {**body, "id": r.json()["user"]["id"], "register": r.json()}


def _login(client: httpx.Client, u: dict[str, Any]) -> httpx.Response:
    return client.post("/api/auth/login", json={"username": u["username"], "password": u["password"]})


def test_seed_walkthrough_register_login_me(stack: Stack) -> None:
    # the seed's account, made unique per test: test_seed_walkthrough.py registers the verbatim one in this run
    suffix = uuid.uuid4().hex[:6]
    user = {
        **SEED_USER,
        "username": f"{SEED_USER['username']}{suffix}",
        "email": SEED_USER["email"].replace("@", f"+{suffix}@"),
    }
    # like curl -c/-b /tmp/cookies.txt: a cookie jar, JSON bodies, no Origin / Sec-Fetch-* headers
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as curl:
        reg = curl.post("/api/auth/register", json=user)
        assert reg.status_code == 201, reg.text
        login = curl.post("/api/auth/login", json={"username": user["username"], "password": "Ih34rtN4th4n*01"})
        assert login.status_code == 200, login.text
        assert login.json()["mfa_required"] is False
        assert {"access_token_cookie", "csrf_access_token"} <= set(curl.cookies.keys())
        me = curl.get("/api/auth/me")
        assert me.status_code == 200, me.text
        assert me.json()["username"] == user["username"] and me.json()["email"] == user["email"]
        assert curl.post("/api/auth/logout").status_code == 200
        assert curl.get("/api/auth/me").status_code == 401


def test_totp_login_and_replay(stack: Stack) -> None:
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as c:
        u = _fresh(c)
        assert _login(c, u).status_code == 200
        # a session alone (as a thief holding a cookie would have) cannot enroll a second factor
        refused = c.post("/api/auth/mfa/setup", json={"method": "totp"})
        assert refused.status_code == 403 and refused.json()["code"] == "reauthentication_required"
        assert c.post("/api/auth/reauthenticate", json={"password": u["password"]}).status_code == 200
        setup = c.post("/api/auth/mfa/setup", json={"method": "totp"})
        assert setup.status_code == 200, setup.text
        totp = pyotp.TOTP(setup.json()["totp_secret"])
        # confirm with the previous step's code (inside the ±1 window) so the login can use the current one
        enabled = c.post("/api/auth/mfa/enable", json={"code": totp.generate_otp(int(time.time() // 30) - 1)})
        assert enabled.status_code == 200, enabled.text
        c.cookies.clear()
        pending = _login(c, u)
        assert pending.json()["mfa_required"] is True and "user" not in pending.json()
        code = totp.now()
        done = c.post("/api/auth/verify-mfa", json={"code": code})  # bound by the mfa_pending cookie
        assert done.status_code == 200, done.text
        assert c.get("/api/auth/me").json()["mfa_enabled"] is True
        c.cookies.clear()
        again = _login(c, u).json()
        replay = c.post("/api/auth/verify-mfa", json={"mfa_token": again["mfa_token"], "code": code})
        assert replay.status_code == 401
        recovery = enabled.json()["recovery_codes"][0]
        assert (
            c.post("/api/auth/verify-mfa", json={"mfa_token": again["mfa_token"], "code": recovery}).status_code == 200
        )


def test_email_code_mfa(stack: Stack) -> None:
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as c:
        u = _fresh(c, mfa_method="email")
        started = time.time() - 1
        pending = _login(c, u).json()
        assert pending["mfa_required"] is True and pending["methods"][0] == "email"
        code = mailed(stack.var_dir, u["email"], started, r"\b(\d{6})\b")
        done = c.post("/api/auth/verify-mfa", json={"mfa_token": pending["mfa_token"], "code": code})
        assert done.status_code == 200, done.text
        assert done.json()["user"]["email_verified"] is True


def test_refresh_rotation_and_reuse(stack: Stack) -> None:
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as c:
        u = _fresh(c)
        r1 = _login(c, u).json()["refresh_token"]
        c.cookies.clear()
        step = c.post("/api/auth/refresh", json={"refresh_token": r1})
        assert step.status_code == 200, step.text
        r2 = step.json()["refresh_token"]
        c.cookies.clear()
        reuse = c.post("/api/auth/refresh", json={"refresh_token": r1})
        assert reuse.status_code == 401 and reuse.json()["code"] == "refresh_token_reused"
        c.cookies.clear()
        assert c.post("/api/auth/refresh", json={"refresh_token": r2}).status_code == 401


def test_csrf_for_browser_cookie_requests(stack: Stack) -> None:
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as c:
        u = _fresh(c)
        assert _login(c, u).status_code == 200
        browser = {"Origin": stack.gateway_url, "Sec-Fetch-Site": "same-origin"}
        body = {"password": u["password"]}
        r = c.post("/api/auth/reauthenticate", json=body, headers=browser)
        assert r.status_code == 403 and r.json()["code"] == "csrf_failed"
        r = c.post(
            "/api/auth/reauthenticate",
            json=body,
            headers={**browser, "X-CSRF-TOKEN": c.cookies["csrf_access_token"]},
        )
        assert r.status_code == 200, r.text


def test_tampered_tokens_and_login_limit(stack: Stack) -> None:
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as c:
        u = _fresh(c)
        token = _login(c, u).json()["access_token"]
        c.cookies.clear()
        head, payload, _ = token.split(".")
        for bad in (f"{head}.{payload}.AAAA", f"{payload}.{payload}.", token + "x"):
            assert c.get("/api/auth/me", headers={"Authorization": f"Bearer {bad}"}).status_code == 401
        wrong = [
            c.post("/api/auth/login", json={"username": u["username"], "password": "wrong password guess"})
            for _ in range(10)
        ]
        assert {r.status_code for r in wrong} == {401}
        limited = _login(c, u)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0


def test_forgot_password_is_identical_and_reset_single_use(stack: Stack) -> None:
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as c:
        u = _fresh(c)
        started = time.time() - 1
        known = c.post("/api/auth/forgot-password", json={"email": u["email"]})
        unknown = c.post("/api/auth/forgot-password", json={"email": f"ghost{uuid.uuid4().hex[:6]}@example.test"})
        assert known.status_code == unknown.status_code == 200 and known.content == unknown.content

        reset = mailed(stack.var_dir, u["email"], started, r"/reset-password\?token=([A-Za-z0-9_\-]+)")
        new_pw = "encore under the disco ball"
        assert c.post("/api/auth/reset-password", json={"token": reset, "password": new_pw}).status_code == 200
        assert c.post("/api/auth/reset-password", json={"token": reset, "password": new_pw}).status_code == 400
        assert c.post("/api/auth/login", json={"username": u["username"], "password": new_pw}).status_code == 200
