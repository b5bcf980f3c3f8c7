"""Step-up: sensitive changes need a re-authentication in the last 5 minutes; each change mails a notice
whose "this wasn't me" link secures the account; email change by a verified link."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

New = Callable[..., dict[str, Any]]
Mailbox = Any
NEW_PW = "an entirely new passphrase"


def _clock(client: TestClient, when: datetime) -> None:
    client.app.state.auth.clock = lambda: when  # type: ignore[attr-defined]


def _login(client: TestClient, u: dict[str, Any], password: str | None = None) -> dict[str, str]:
    r = client.post("/api/auth/login", json={"username": u["username"], "password": password or u["password"]})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _reauth(client: TestClient, h: dict[str, str], **body: str) -> Any:
    return client.post("/api/auth/reauthenticate", json=body, headers=h)


def _needs_step_up(r: Any) -> bool:
    return r.status_code == 403 and r.json()["code"] == "reauthentication_required"


def _code(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).generate_otp(int(when.timestamp() // 30))


def _secure_link(mailbox: Mailbox, to: str) -> str:
    match = re.search(r"/secure-account\?token=([A-Za-z0-9_\-]+)", mailbox.text(mailbox.last(to)))
    assert match, "no 'this wasn't me' link in the notice"
    return match.group(1)


def _enable_totp(client: TestClient, u: dict[str, Any], h: dict[str, str], when: datetime) -> str:
    assert _reauth(client, h, password=u["password"]).status_code == 200
    secret = client.post("/api/auth/mfa/setup", json={"method": "totp"}, headers=h).json()["totp_secret"]
    assert client.post("/api/auth/mfa/enable", json={"code": _code(secret, when)}, headers=h).status_code == 200
    return secret


def test_a_stolen_session_alone_cannot_enroll_mfa(client: TestClient, new_user: New) -> None:
    now = datetime.now(UTC)
    _clock(client, now)
    u = new_user()
    h = _login(client, u)  # a fresh session, as a thief would hold it: no password known
    assert _needs_step_up(client.post("/api/auth/mfa/setup", json={"method": "totp"}, headers=h))
    assert _needs_step_up(client.post("/api/auth/mfa/setup", json={"method": "email"}, headers=h))
    assert _needs_step_up(client.post("/api/auth/mfa/enable", json={"code": "123456"}, headers=h))
    wrong = _reauth(client, h, password="not my password at all")
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_credentials"
    assert client.get("/api/auth/me", headers=h).json()["mfa_enabled"] is False


def test_mfa_enable_with_a_fresh_reauthentication_and_not_after_five_minutes(
    client: TestClient, new_user: New
) -> None:
    now = datetime.now(UTC)
    _clock(client, now)
    u = new_user()
    h = _login(client, u)
    r = _reauth(client, h, password=u["password"])
    until = (now + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    assert r.status_code == 200 and r.json()["reauth_until"].startswith(until)
    setup = client.post("/api/auth/mfa/setup", json={"method": "totp"}, headers=h)
    assert setup.status_code == 200
    _clock(client, now + timedelta(minutes=5, seconds=1))
    late = now + timedelta(minutes=5, seconds=1)
    assert _needs_step_up(client.post("/api/auth/mfa/enable", json={"code": _code(setup.json()["totp_secret"], late)},
                                      headers=h))
    assert _reauth(client, h, password=u["password"]).status_code == 200
    ok = client.post("/api/auth/mfa/enable", json={"code": _code(setup.json()["totp_secret"], late)}, headers=h)
    assert ok.status_code == 200 and ok.json()["method"] == "totp"


def test_reauthentication_belongs_to_its_session(client: TestClient, new_user: New) -> None:
    u = new_user()
    mine, other = _login(client, u), _login(client, u)
    assert _reauth(client, mine, password=u["password"]).status_code == 200
    assert client.post("/api/auth/mfa/setup", json={"method": "totp"}, headers=mine).status_code == 200
    assert _needs_step_up(client.post("/api/auth/mfa/setup", json={"method": "totp"}, headers=other))


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/auth/mfa/setup", {"method": "totp"}),
        ("POST", "/api/auth/mfa/enable", {"code": "123456"}),
        ("POST", "/api/auth/mfa/disable", {}),
        ("POST", "/api/auth/mfa/recovery-codes", {}),
        ("POST", "/api/auth/change-email", {"new_email": "moved@example.test"}),
        ("DELETE", "/api/auth/me", {}),
    ],
)
def test_every_sensitive_change_needs_the_step_up(
    client: TestClient, new_user: New, method: str, path: str, body: dict[str, Any]
) -> None:
    now = datetime.now(UTC)
    _clock(client, now)
    u = new_user()
    h = _login(client, u)
    if path.startswith("/api/auth/mfa/") and path != "/api/auth/mfa/setup":
        enabling = path.endswith("/enable")
        if not enabling:
            _enable_totp(client, u, h, now)
        else:
            assert _reauth(client, h, password=u["password"]).status_code == 200
            client.post("/api/auth/mfa/setup", json={"method": "totp"}, headers=h)
        _clock(client, now + timedelta(minutes=6))  # the re-authentication used above has lapsed
    assert _needs_step_up(client.request(method, path, json=body, headers=h)), path
    # with a fresh one the same request goes through (or fails on its own merits, never on the step-up)
    assert _reauth(client, h, password=u["password"]).status_code == 200
    assert not _needs_step_up(client.request(method, path, json=body, headers=h))


def test_operations_carrying_the_password_count_as_the_step_up(client: TestClient, new_user: New) -> None:
    now = datetime.now(UTC)
    _clock(client, now)
    u = new_user()
    h = _login(client, u)
    secret = _enable_totp(client, u, h, now)
    _clock(client, now + timedelta(minutes=6))
    later = now + timedelta(minutes=6)
    r = client.post("/api/auth/mfa/recovery-codes", json={"code": _code(secret, later)}, headers=h)
    assert r.status_code == 200 and len(r.json()["recovery_codes"]) == 10  # a current TOTP code counts
    assert client.post("/api/auth/mfa/disable", json={"password": u["password"]}, headers=h).status_code == 200
    r = client.post("/api/auth/change-email", json={"new_email": "carried@example.test", "password": u["password"]},
                    headers=h)
    assert r.status_code == 202
    # re-authenticating needs the password or a code
    h2 = _login(client, new_user())
    assert client.post("/api/auth/reauthenticate", json={}, headers=h2).status_code == 422


def test_each_change_mails_a_notice_with_a_this_wasnt_me_link(
    client: TestClient, mailbox: Mailbox, new_user: New
) -> None:
    now = datetime.now(UTC)
    _clock(client, now)
    u = new_user()
    h = _login(client, u)
    _enable_totp(client, u, h, now)
    assert "Two-step verification is on" in mailbox.last(u["email"])["Subject"]
    assert _secure_link(mailbox, u["email"])
    client.post("/api/auth/mfa/recovery-codes", json={"password": u["password"]}, headers=h)
    assert "recovery codes" in mailbox.last(u["email"])["Subject"]
    client.post("/api/auth/mfa/disable", json={"password": u["password"]}, headers=h)
    assert "Two-step verification is off" in mailbox.last(u["email"])["Subject"]
    r = client.post("/api/auth/change-password", json={"current_password": u["password"], "new_password": NEW_PW},
                    headers=h)
    assert r.status_code == 200
    notice = mailbox.last(u["email"])
    assert "password was changed" in notice["Subject"] and _secure_link(mailbox, u["email"])
    body = mailbox.text(notice)
    assert "https://shows.example/secure-account?token=" in body  # the configured public URL


def test_this_wasnt_me_ends_every_session_and_requires_a_new_password(
    client: TestClient, mailbox: Mailbox, new_user: New
) -> None:
    u = new_user()
    victim = _login(client, u)
    thief = _login(client, u)
    r = client.post("/api/auth/change-password", json={"current_password": u["password"], "new_password": NEW_PW},
                    headers=thief)
    thief = {"Authorization": f"Bearer {r.json()['access_token']}"}
    token = _secure_link(mailbox, u["email"])
    # opening the link (a GET, as a mail scanner does) changes nothing: the API acts on a POST only
    assert client.get(f"/api/auth/secure-account?token={token}").status_code == 405
    assert client.get("/api/auth/me", headers=thief).status_code == 200
    r = client.post("/api/auth/secure-account", json={"token": token})
    assert r.status_code == 200 and "new password" in r.json()["message"]
    for h in (thief, victim):
        assert client.get("/api/auth/me", headers=h).status_code == 401
    # the password the thief set no longer signs anyone in; the reset link mailed right away does
    r = client.post("/api/auth/login", json={"username": u["username"], "password": NEW_PW})
    assert r.status_code == 403 and r.json()["code"] == "password_reset_required"
    reset = mailbox.last_token(u["email"], "reset-password")
    assert client.post("/api/auth/secure-account", json={"token": token}).status_code == 400  # single use
    assert client.post("/api/auth/reset-password", json={"token": reset, "password": "my own passphrase again"}
                       ).status_code == 200
    assert client.post("/api/auth/login", json={"username": u["username"], "password": "my own passphrase again"}
                       ).status_code == 200


def test_this_wasnt_me_undoes_mfa_turned_on_by_someone_else(
    client: TestClient, mailbox: Mailbox, new_user: New
) -> None:
    now = datetime.now(UTC)
    _clock(client, now)
    u = new_user()
    _enable_totp(client, u, _login(client, u), now)  # the thief's authenticator
    token = _secure_link(mailbox, u["email"])
    assert client.post("/api/auth/secure-account", json={"token": token}).status_code == 200
    client.post("/api/auth/reset-password",
                json={"token": mailbox.last_token(u["email"], "reset-password"), "password": NEW_PW})
    login = client.post("/api/auth/login", json={"username": u["username"], "password": NEW_PW}).json()
    assert login["mfa_required"] is False  # the owner is not locked out by the thief's second factor


def test_email_change_takes_effect_when_the_new_address_confirms(
    client: TestClient, mailbox: Mailbox, new_user: New
) -> None:
    u, other = new_user(), new_user()
    h = _login(client, u)
    taken = client.post("/api/auth/change-email", json={"new_email": other["email"], "password": u["password"]},
                        headers=h)
    assert taken.status_code == 409
    r = client.post("/api/auth/change-email", json={"new_email": "New.Home@Example.test", "password": u["password"]},
                    headers=h)
    assert r.status_code == 202 and "new.home@example.test" in r.json()["message"]
    assert client.get("/api/auth/me", headers=h).json()["email"] == u["email"]  # not before the link
    token = mailbox.last_token("new.home@example.test", "verify-email")
    r = client.post("/api/auth/verify-email", json={"token": token})
    assert r.status_code == 200 and "new.home@example.test" in r.json()["message"]
    me = client.get("/api/auth/me", headers=h).json()
    assert me["email"] == "new.home@example.test" and me["email_verified"] is True
    # the old address is told, with the link that takes the account back
    notice = mailbox.last(u["email"])
    assert "email address was changed" in notice["Subject"]
    back = _secure_link(mailbox, u["email"])
    assert client.post("/api/auth/secure-account", json={"token": back}).status_code == 200
    h2 = client.post("/api/auth/login", json={"username": u["username"], "password": u["password"]})
    assert h2.status_code == 403  # a new password first, and the reset link went to the restored address
    assert mailbox.last_token(u["email"], "reset-password")
