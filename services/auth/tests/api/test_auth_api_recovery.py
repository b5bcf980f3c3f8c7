"""Email verification, password reset and change, rate limits and the mail sender."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
from fastapi.testclient import TestClient

Mailbox = Any
PW = "stage lights and loud guitars"
NEW_PW = "encore under the disco ball"


def _login(client: TestClient, username: str, password: str) -> Any:
    return client.post("/api/auth/login", json={"username": username, "password": password})


def test_verify_email_link_is_single_use(
    client: TestClient, mailbox: Mailbox, new_user: Callable[..., dict[str, Any]]
) -> None:
    u = new_user()
    mail = mailbox.last(u["email"])
    assert "Confirm" in mail["Subject"]
    assert "https://shows.example/verify-email?token=" in mailbox.text(mail)  # PUBLIC_BASE_URL, not Host
    token = mailbox.last_token(u["email"], "verify-email")
    assert client.post("/api/auth/verify-email", json={"token": token}).status_code == 200
    _login(client, u["username"], PW)
    assert client.get("/api/auth/me").json()["email_verified"] is True
    again = client.post("/api/auth/verify-email", json={"token": token})
    assert again.status_code == 400 and again.json()["code"] == "invalid_token"
    assert client.post("/api/auth/verify-email", json={"token": "made-up"}).status_code == 400


def test_verification_token_expired(app_factory: Callable[..., TestClient], mailbox_for: Any) -> None:
    client = app_factory(verify_email_ttl_s=0)
    client.post("/api/auth/register", json={"username": "late", "email": "late@example.test", "password": PW})
    token = mailbox_for(client).last_token("late@example.test", "verify-email")
    r = client.post("/api/auth/verify-email", json={"token": token})
    assert r.status_code == 400 and r.json()["code"] == "token_expired"


def test_forgot_password_answers_the_same_either_way(
    client: TestClient, mailbox: Mailbox, new_user: Callable[..., dict[str, Any]]
) -> None:
    u = new_user()
    known = client.post("/api/auth/forgot-password", json={"email": u["email"]})
    unknown = client.post("/api/auth/forgot-password", json={"email": "ghost@example.test"})
    alias = client.post("/api/auth/request-password-reset", json={"email": "ghost2@example.test"})
    assert known.status_code == unknown.status_code == alias.status_code == 200
    assert known.content == unknown.content == alias.content
    assert set(known.headers.keys()) - {"x-request-id", "content-length"} == set(unknown.headers.keys()) - {
        "x-request-id",
        "content-length",
    }
    assert mailbox.messages("ghost@example.test") == []
    assert "https://shows.example/reset-password?token=" in mailbox.text(mailbox.last(u["email"]))


def test_reset_password_single_use_revokes_sessions_and_keeps_mfa(
    client: TestClient, mailbox: Mailbox, new_user: Callable[..., dict[str, Any]]
) -> None:
    now = datetime.now(UTC)
    client.app.state.auth.clock = lambda: now  # type: ignore[attr-defined]
    u = new_user()
    session = _login(client, u["username"], PW).json()
    assert client.post("/api/auth/reauthenticate", json={"password": PW}).status_code == 200
    setup = client.post("/api/auth/mfa/setup", json={"method": "totp"}).json()
    totp = pyotp.TOTP(setup["totp_secret"])
    client.post("/api/auth/mfa/enable", json={"code": totp.generate_otp(int(now.timestamp() // 30))})
    client.cookies.clear()

    client.post("/api/auth/forgot-password", json={"email": u["email"]})
    older = mailbox.last_token(u["email"], "reset-password")
    client.post("/api/auth/forgot-password", json={"email": u["email"]})
    token = mailbox.last_token(u["email"], "reset-password")
    assert token != older
    weak = client.post("/api/auth/reset-password", json={"token": token, "password": "short"})
    assert weak.status_code == 422 and weak.json()["code"] == "password_too_short"
    assert client.post("/api/auth/reset-password", json={"token": older, "password": NEW_PW}).status_code == 400
    assert client.post("/api/auth/reset-password", json={"token": token, "password": NEW_PW}).status_code == 200
    twice = client.post("/api/auth/reset-password", json={"token": token, "password": NEW_PW + "!"})
    assert twice.status_code == 400 and twice.json()["code"] == "invalid_token"
    # every session is gone; the new password works but MFA is still required
    assert client.post("/api/auth/refresh", json={"refresh_token": session["refresh_token"]}).status_code == 401
    assert _login(client, u["username"], PW).status_code == 401
    after = _login(client, u["username"], NEW_PW).json()
    assert after["mfa_required"] is True
    assert "reset" in mailbox.last(u["email"])["Subject"]


def test_reset_token_is_bound_to_its_purpose(
    client: TestClient, mailbox: Mailbox, new_user: Callable[..., dict[str, Any]]
) -> None:
    u = new_user()
    verify_token = mailbox.last_token(u["email"], "verify-email")
    assert client.post("/api/auth/reset-password", json={"token": verify_token, "password": NEW_PW}).status_code == 400
    client.post("/api/auth/forgot-password", json={"email": u["email"]})
    reset_token = mailbox.last_token(u["email"], "reset-password")
    assert client.post("/api/auth/verify-email", json={"token": reset_token}).status_code == 400


def test_reset_link_ignores_the_host_header(
    client: TestClient, mailbox: Mailbox, new_user: Callable[..., dict[str, Any]]
) -> None:
    u = new_user()
    client.post("/api/auth/forgot-password", json={"email": u["email"]}, headers={"Host": "evil.example"})
    text = mailbox.text(mailbox.last(u["email"]))
    assert "https://shows.example/reset-password?token=" in text and "evil.example" not in text


def test_change_password_revokes_other_sessions(
    client: TestClient, mailbox: Mailbox, new_user: Callable[..., dict[str, Any]]
) -> None:
    u = new_user()
    other_device = _login(client, u["username"], PW).json()["refresh_token"]
    _login(client, u["username"], PW)
    wrong = client.post(
        "/api/auth/change-password", json={"current_password": "not the password at all", "new_password": NEW_PW}
    )
    assert wrong.status_code == 401
    weak = client.post("/api/auth/change-password", json={"current_password": PW, "new_password": "password123456789"})
    assert weak.status_code == 422 and weak.json()["details"][0]["field"] == "new_password"
    r = client.post("/api/auth/change-password", json={"current_password": PW, "new_password": NEW_PW})
    assert r.status_code == 200 and r.json()["access_token"]
    assert client.get("/api/auth/me").status_code == 200  # this session continues with fresh cookies
    assert client.post("/api/auth/refresh").status_code == 200
    client.cookies.clear()
    assert client.post("/api/auth/refresh", json={"refresh_token": other_device}).status_code == 401
    assert _login(client, u["username"], NEW_PW).status_code == 200
    assert "changed" in mailbox.last(u["email"])["Subject"]


def test_login_rate_limit_per_account(app_factory: Callable[..., TestClient]) -> None:
    client = app_factory(login_limit_per_account=3)
    client.post("/api/auth/register", json={"username": "target", "email": "t@example.test", "password": PW})
    for name in ("target", "t@example.test", "Target"):  # username or email: the same account counter
        assert _login(client, name, "wrong password guess").status_code == 401
    # from "another IP" too: the account is the key
    r = client.post(
        "/api/auth/login", json={"username": "TARGET", "password": PW}, headers={"X-Forwarded-For": "203.0.113.9"}
    )
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert r.json()["code"] == "rate_limited" and r.json()["error"]


def test_login_rate_limit_per_ip(app_factory: Callable[..., TestClient]) -> None:
    client = app_factory(login_limit_per_ip=2)
    for name in ("a_user", "b_user"):
        assert _login(client, name, PW).status_code == 401
    assert _login(client, "c_user", PW).status_code == 429
    other_ip = client.post(
        "/api/auth/login", json={"username": "d_user", "password": PW}, headers={"X-Forwarded-For": "198.51.100.7"}
    )
    assert other_ip.status_code == 401


def test_register_rate_limit_per_ip(app_factory: Callable[..., TestClient]) -> None:
    client = app_factory(register_limit_per_ip=2)
    for i in range(2):
        r = client.post(
            "/api/auth/register", json={"username": f"reg{i}", "email": f"r{i}@example.test", "password": PW}
        )
        assert r.status_code == 201
    r = client.post("/api/auth/register", json={"username": "reg9", "email": "r9@example.test", "password": PW})
    assert r.status_code == 429 and "retry-after" in r.headers


def test_forgot_password_limit_per_email_keeps_the_same_answer(
    app_factory: Callable[..., TestClient], mailbox_for: Any
) -> None:
    client = app_factory(forgot_limit_per_email=2)
    mailbox = mailbox_for(client)
    client.post("/api/auth/register", json={"username": "forgetful", "email": "f@example.test", "password": PW})
    answers = [client.post("/api/auth/forgot-password", json={"email": "f@example.test"}) for _ in range(4)]
    assert {a.status_code for a in answers} == {200} and len({a.content for a in answers}) == 1
    resets = [m for m in mailbox.messages("f@example.test") if "Reset" in m["Subject"]]
    assert len(resets) == 2


def test_link_token_submissions_are_rate_limited(app_factory: Callable[..., TestClient]) -> None:
    client = app_factory(confirm_limit_per_ip=3)
    for _ in range(3):
        assert client.post("/api/auth/reset-password", json={"token": "guess", "password": NEW_PW}).status_code == 400
    assert client.post("/api/auth/reset-password", json={"token": "guess", "password": NEW_PW}).status_code == 429


def test_mail_is_sent_by_the_background_thread(app_factory: Callable[..., TestClient], tmp_path: Any) -> None:
    client = app_factory(mail_worker_enabled=True, mail_poll_interval_s=5)
    client.post("/api/auth/register", json={"username": "bgsender", "email": "bg@example.test", "password": PW})
    deadline = time.monotonic() + 3  # woken after commit, not by the 5 s poll
    while time.monotonic() < deadline and not list((tmp_path / "mail").glob("*.eml")):
        time.sleep(0.05)
    assert list((tmp_path / "mail").glob("*.eml"))


def test_mails_escape_html() -> None:
    from auth.mail import render

    text, html = render("<b>eve</b>", ["<script>alert(1)</script>"], "https://x.example/?a=<x>", "link")
    assert "<b>eve</b>" not in html and "&lt;b&gt;eve&lt;/b&gt;" in html
    assert "<script>" not in html and "<x>" not in html
    assert "<b>eve</b>" in text


def test_expired_reset_token(app_factory: Callable[..., TestClient], mailbox_for: Any) -> None:
    client = app_factory()
    mailbox = mailbox_for(client)
    client.post("/api/auth/register", json={"username": "slow", "email": "slow@example.test", "password": PW})
    client.post("/api/auth/forgot-password", json={"email": "slow@example.test"})
    token = mailbox.last_token("slow@example.test", "reset-password")
    later = datetime.now(UTC) + timedelta(hours=1, seconds=1)
    client.app.state.auth.clock = lambda: later  # type: ignore[attr-defined]
    r = client.post("/api/auth/reset-password", json={"token": token, "password": NEW_PW})
    assert r.status_code == 400 and r.json()["code"] == "token_expired"
