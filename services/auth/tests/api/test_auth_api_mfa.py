"""MFA: TOTP setup and login, replay, email and SMS codes, recovery codes, binding, limits, disable."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
from fastapi.testclient import TestClient

Mailbox = Any


def _login(client: TestClient, u: dict[str, Any]) -> Any:
    return client.post("/api/auth/login", json={"username": u["username"], "password": u["password"]})


def _set_clock(client: TestClient, when: datetime) -> None:
    client.app.state.auth.clock = lambda: when  # type: ignore[attr-defined]


def _reauth(client: TestClient, u: dict[str, Any]) -> None:
    r = client.post("/api/auth/reauthenticate", json={"password": u["password"]})
    assert r.status_code == 200, r.text


def _code(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).generate_otp(int(when.timestamp() // 30))


def _enable_totp(client: TestClient, u: dict[str, Any], when: datetime) -> tuple[str, list[str]]:
    assert _login(client, u).status_code == 200
    _reauth(client, u)
    setup = client.post("/api/auth/mfa/setup", json={"method": "totp"})
    assert setup.status_code == 200, setup.text
    secret = setup.json()["totp_secret"]
    r = client.post("/api/auth/mfa/enable", json={"code": _code(secret, when), "method": "totp"})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return secret, r.json()["recovery_codes"]


def test_totp_setup_enable_and_login(client: TestClient, new_user: Callable[..., dict[str, Any]]) -> None:
    now = datetime.now(UTC)
    _set_clock(client, now)
    u = new_user()
    assert _login(client, u).status_code == 200
    _reauth(client, u)
    setup = client.post("/api/auth/mfa/setup", json={"method": "totp"}).json()
    assert setup["totp_uri"].startswith(f"otpauth://totp/ShareMyShows:{u['username']}?")
    assert "issuer=ShareMyShows" in setup["totp_uri"] and setup["totp_secret"] in setup["totp_uri"]
    assert setup["qr_code"].startswith("data:image/svg+xml")
    assert client.get("/api/auth/me").json()["mfa_enabled"] is False  # not before confirmation
    bad = client.post("/api/auth/mfa/enable", json={"code": "000000"})
    assert bad.status_code == 401 and bad.json()["code"] == "invalid_mfa_code"
    ok = client.post("/api/auth/mfa/enable", json={"code": _code(setup["totp_secret"], now)})
    assert ok.status_code == 200 and ok.json()["method"] == "totp"
    codes = ok.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    me = client.get("/api/auth/me").json()
    assert me["mfa_enabled"] is True and me["mfa_method"] == "totp"
    client.cookies.clear()

    login = _login(client, u)
    body = login.json()
    assert login.status_code == 200 and body["mfa_required"] is True
    assert set(body) == {"mfa_required", "mfa_token", "methods", "message"}  # no user, no email before MFA
    assert body["methods"] == ["totp", "recovery_code"]
    assert "access_token_cookie" not in client.cookies and "mfa_pending" in login.headers["set-cookie"]
    assert "HttpOnly" in login.headers["set-cookie"]
    # the enable code (same time step) cannot be replayed to sign in
    replay = client.post(
        "/api/auth/verify-mfa", json={"mfa_token": body["mfa_token"], "code": _code(setup["totp_secret"], now)}
    )
    assert replay.status_code == 401 and replay.json()["code"] == "invalid_mfa_code"
    later = now + timedelta(seconds=30)
    done = client.post(
        "/api/auth/verify-mfa", json={"mfa_token": body["mfa_token"], "code": _code(setup["totp_secret"], later)}
    )
    assert done.status_code == 200, done.text
    assert done.json()["user"]["id"] == u["id"] and done.json()["access_token"] and done.json()["mfa_required"] is False
    assert client.get("/api/auth/me").status_code == 200
    # the login attempt is spent
    again = client.post(
        "/api/auth/verify-mfa",
        json={"mfa_token": body["mfa_token"], "code": _code(setup["totp_secret"], later + timedelta(seconds=30))},
    )
    assert again.status_code == 401


def test_totp_code_replay_is_rejected(client: TestClient, new_user: Callable[..., dict[str, Any]]) -> None:
    now = datetime.now(UTC)
    _set_clock(client, now)
    u = new_user()
    secret, _ = _enable_totp(client, u, now)
    t1 = now + timedelta(seconds=60)
    _set_clock(client, t1)
    first = _login(client, u).json()["mfa_token"]
    assert client.post("/api/auth/verify-mfa", json={"mfa_token": first, "code": _code(secret, t1)}).status_code == 200
    client.cookies.clear()
    second = _login(client, u).json()["mfa_token"]
    r = client.post("/api/auth/verify-mfa", json={"mfa_token": second, "code": _code(secret, t1)})
    assert r.status_code == 401
    # an older step inside the window is refused too (only strictly later steps)
    r = client.post(
        "/api/auth/verify-mfa", json={"mfa_token": second, "code": _code(secret, t1 - timedelta(seconds=30))}
    )
    assert r.status_code == 401


def test_totp_replay_race_only_one_wins(client: TestClient, new_user: Callable[..., dict[str, Any]]) -> None:
    now = datetime.now(UTC)
    _set_clock(client, now)
    u = new_user()
    secret, _ = _enable_totp(client, u, now)
    later = now + timedelta(seconds=60)
    _set_clock(client, later)
    tokens = [_login(client, u).json()["mfa_token"] for _ in range(4)]
    client.cookies.clear()
    results: list[int] = []

    def attempt(token: str) -> None:
        r = client.post("/api/auth/verify-mfa", json={"mfa_token": token, "code": _code(secret, later)})
        results.append(r.status_code)

    threads = [threading.Thread(target=attempt, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 401, 401, 401]


def test_mfa_pending_cookie_binds_the_attempt_and_bare_email_does_not(
    client: TestClient, new_user: Callable[..., dict[str, Any]]
) -> None:
    now = datetime.now(UTC)
    _set_clock(client, now)
    u = new_user()
    secret, _ = _enable_totp(client, u, now)
    later = now + timedelta(seconds=30)
    _login(client, u)
    assert "mfa_pending" in client.cookies
    # the old app's takeover: email + code, no login attempt
    client.cookies.delete("mfa_pending")
    r = client.post("/api/auth/verify-mfa", json={"email": u["email"], "code": _code(secret, later)})
    assert r.status_code == 401 and r.json()["code"] == "mfa_session_invalid"
    assert client.post("/api/auth/resend-mfa", json={"email": u["email"]}).status_code == 401
    _login(client, u)
    r = client.post("/api/auth/verify-mfa", json={"code": _code(secret, later)})  # cookie only
    assert r.status_code == 200, r.text
    assert any(c.startswith("mfa_pending=") and "Max-Age=0" in c for c in r.headers.get_list("set-cookie"))


def test_mfa_attempt_expires(client: TestClient, new_user: Callable[..., dict[str, Any]]) -> None:
    now = datetime.now(UTC)
    _set_clock(client, now)
    u = new_user()
    secret, _ = _enable_totp(client, u, now)
    token = _login(client, u).json()["mfa_token"]
    late = now + timedelta(seconds=400)
    _set_clock(client, late)
    r = client.post("/api/auth/verify-mfa", json={"mfa_token": token, "code": _code(secret, late)})
    assert r.status_code == 401 and r.json()["code"] == "mfa_session_invalid"


def test_recovery_code_works_once(client: TestClient, new_user: Callable[..., dict[str, Any]]) -> None:
    now = datetime.now(UTC)
    _set_clock(client, now)
    u = new_user()
    _, codes = _enable_totp(client, u, now)
    token = _login(client, u).json()["mfa_token"]
    r = client.post("/api/auth/verify-mfa", json={"mfa_token": token, "code": codes[0].upper()})
    assert r.status_code == 200
    client.cookies.clear()
    token = _login(client, u).json()["mfa_token"]
    r = client.post("/api/auth/verify-mfa", json={"mfa_token": token, "code": codes[0]})
    assert r.status_code == 401
    r = client.post("/api/auth/verify-mfa", json={"mfa_token": token, "code": codes[1].replace("-", " ")})
    assert r.status_code == 200


def test_email_code_mfa(client: TestClient, mailbox: Mailbox, new_user: Callable[..., dict[str, Any]]) -> None:
    u = new_user(mfa_method="email")
    assert u["register"]["user"]["mfa_enabled"] is True
    login = _login(client, u).json()
    assert login["mfa_required"] is True and login["methods"] == ["email", "recovery_code"]
    code = mailbox.last_code(u["email"])
    r = client.post(
        "/api/auth/verify-mfa",
        json={"mfa_token": login["mfa_token"], "code": "000000" if code != "000000" else "111111"},
    )
    assert r.status_code == 401
    r = client.post("/api/auth/verify-mfa", json={"mfa_token": login["mfa_token"], "code": code})
    assert r.status_code == 200, r.text
    assert client.get("/api/auth/me").json()["email_verified"] is True
    # single use
    client.cookies.clear()
    login = _login(client, u).json()
    r = client.post("/api/auth/verify-mfa", json={"mfa_token": login["mfa_token"], "code": code})
    assert r.status_code == 401


def test_resend_replaces_the_code_and_is_limited(
    app_factory: Callable[..., TestClient], mailbox_for: Callable[[TestClient], Mailbox]
) -> None:
    client = app_factory(resend_limit_per_account=2)
    mailbox = mailbox_for(client)
    pw = "stage lights and loud guitars"
    client.post(
        "/api/auth/register",
        json={"username": "mailer", "email": "mailer@example.test", "password": pw, "enable_mfa": True},
    )
    token = _login(client, {"username": "mailer", "password": pw}).json()["mfa_token"]
    first = mailbox.last_code("mailer@example.test")
    r = client.post("/api/auth/resend-mfa", json={"mfa_token": token})
    assert r.status_code == 200 and r.json()["message"]
    second = mailbox.last_code("mailer@example.test")
    assert client.post("/api/auth/resend-mfa", json={"mfa_token": token}).status_code == 200
    third = mailbox.last_code("mailer@example.test")
    limited = client.post("/api/auth/resend-mfa", json={"mfa_token": token})
    assert limited.status_code == 429 and limited.headers["retry-after"]
    for old in {first, second} - {third}:
        assert client.post("/api/auth/verify-mfa", json={"mfa_token": token, "code": old}).status_code == 401
    assert client.post("/api/auth/verify-mfa", json={"mfa_token": token, "code": third}).status_code == 200


def test_resend_is_refused_for_totp_accounts(client: TestClient, new_user: Callable[..., dict[str, Any]]) -> None:
    now = datetime.now(UTC)
    _set_clock(client, now)
    u = new_user()
    _enable_totp(client, u, now)
    token = _login(client, u).json()["mfa_token"]
    r = client.post("/api/auth/resend-mfa", json={"mfa_token": token})
    assert r.status_code == 400 and r.json()["code"] == "mfa_method_unavailable"


def test_emailed_code_dies_after_max_attempts(
    client: TestClient, mailbox: Mailbox, new_user: Callable[..., dict[str, Any]]
) -> None:
    u = new_user(mfa_method="email")
    token = _login(client, u).json()["mfa_token"]
    code = mailbox.last_code(u["email"])
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        assert client.post("/api/auth/verify-mfa", json={"mfa_token": token, "code": wrong}).status_code == 401
    assert client.post("/api/auth/verify-mfa", json={"mfa_token": token, "code": code}).status_code == 401


def test_mfa_attempts_are_rate_limited_per_account(
    app_factory: Callable[..., TestClient], mailbox_for: Callable[[TestClient], Mailbox]
) -> None:
    client = app_factory(mfa_limit_per_account=3)
    mailbox = mailbox_for(client)
    pw = "stage lights and loud guitars"
    client.post(
        "/api/auth/register",
        json={"username": "limited", "email": "limited@example.test", "password": pw, "mfa_method": "email"},
    )
    token = _login(client, {"username": "limited", "password": pw}).json()["mfa_token"]
    code = mailbox.last_code("limited@example.test")
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(3):
        client.post("/api/auth/verify-mfa", json={"mfa_token": token, "code": wrong})
    r = client.post("/api/auth/verify-mfa", json={"mfa_token": token, "code": code})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0 and r.json()["code"] == "rate_limited"


def test_sms_setup_through_the_development_sender(
    client: TestClient, tmp_path: Path, new_user: Callable[..., dict[str, Any]]
) -> None:
    u = new_user()
    _login(client, u)
    _reauth(client, u)
    assert client.post("/api/auth/mfa/setup", json={"method": "sms"}).status_code == 422
    assert client.post("/api/auth/mfa/setup", json={"method": "sms", "phone_number": "12345"}).status_code == 422
    r = client.post("/api/auth/mfa/setup", json={"method": "sms", "phone_number": "+15551234567"})
    assert r.status_code == 200 and r.json()["method"] == "sms"

    def last_sms() -> str:
        client.app.state.mailer.drain()  # type: ignore[attr-defined]
        files = sorted((tmp_path / "sms").glob("*15551234567*.txt"))
        assert files
        match = re.search(r"\b(\d{6})\b", files[-1].read_text())
        assert match
        return match.group(1)

    r = client.post("/api/auth/mfa/enable", json={"code": last_sms()})
    assert r.status_code == 200 and r.json()["method"] == "sms"
    client.cookies.clear()
    token = _login(client, u).json()["mfa_token"]
    time.sleep(0.01)
    assert client.post("/api/auth/verify-mfa", json={"mfa_token": token, "code": last_sms()}).status_code == 200


def test_disable_and_regenerate_need_password_or_code(
    client: TestClient, new_user: Callable[..., dict[str, Any]]
) -> None:
    now = datetime.now(UTC)
    _set_clock(client, now)
    u = new_user()
    secret, codes = _enable_totp(client, u, now)
    token = _login(client, u).json()["mfa_token"]
    client.post("/api/auth/verify-mfa", json={"mfa_token": token, "code": codes[0]})
    assert client.post("/api/auth/mfa/setup", json={"method": "totp"}).status_code == 409
    # no password or code, and no re-authentication since signing in: the step-up is asked for
    r = client.post("/api/auth/mfa/recovery-codes", json={})
    assert r.status_code == 403 and r.json()["code"] == "reauthentication_required"
    assert client.post("/api/auth/mfa/recovery-codes", json={"password": "not my password at all"}).status_code == 401
    later = now + timedelta(seconds=30)
    fresh = client.post("/api/auth/mfa/recovery-codes", json={"code": _code(secret, later)})
    assert fresh.status_code == 200 and len(fresh.json()["recovery_codes"]) == 10
    assert client.post("/api/auth/mfa/disable", json={"code": codes[1]}).status_code == 401  # old codes are gone
    assert client.post("/api/auth/mfa/disable", json={"password": "not my password at all"}).status_code == 401
    r = client.post("/api/auth/mfa/disable", json={"password": u["password"]})
    assert r.status_code == 200
    assert client.get("/api/auth/me").json()["mfa_enabled"] is False
    assert client.post("/api/auth/mfa/disable", json={"password": u["password"]}).status_code == 409
    client.cookies.clear()
    assert _login(client, u).json()["mfa_required"] is False


def test_register_with_totp_returns_provisioning_data(
    client: TestClient, new_user: Callable[..., dict[str, Any]]
) -> None:
    now = datetime.now(UTC)
    _set_clock(client, now)
    u = new_user(mfa_method="totp")
    reg = u["register"]
    assert reg["totp_uri"].startswith("otpauth://totp/") and reg["totp_secret"]
    assert reg["user"]["mfa_enabled"] is False
    assert _login(client, u).json()["mfa_required"] is False  # until confirmed with /mfa/enable
    _reauth(client, u)
    r = client.post("/api/auth/mfa/enable", json={"code": _code(reg["totp_secret"], now)})
    assert r.status_code == 200 and r.json()["method"] == "totp"
