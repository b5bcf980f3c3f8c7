"""Register, login, me, delete, internal endpoints and the JWKS, in-process on SQLite."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from auth.db import OutboxEvent
from auth.models import User
from auth.passwords import PasswordHashing

SEED = {"username": "MeDic8TeD", "email": "tim.h.orlando@gmail.com", "password": "Ih34rtN4th4n*01"}
PW = "stage lights and loud guitars"


def _events(client: TestClient, type_: str) -> list[dict[str, Any]]:
    with client.app.state.session_factory() as s:  # type: ignore[attr-defined]
        rows = s.scalars(select(OutboxEvent).where(OutboxEvent.type == type_)).all()
        return [r.payload for r in rows]


def test_seed_walkthrough_register_login_me(client: TestClient) -> None:
    r = client.post("/api/auth/register", json=SEED)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["user"]["username"] == "MeDic8TeD" and body["user"]["email"] == "tim.h.orlando@gmail.com"
    assert body["message"] and "totp_uri" not in body
    r = client.post("/api/auth/login", json={"username": "MeDic8TeD", "password": "Ih34rtN4th4n*01"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mfa_required"] is False and body["access_token"] and body["refresh_token"]
    assert body["user"]["id"] and body["user"]["email"] == "tim.h.orlando@gmail.com"
    cookies = {c.split("=")[0]: c for c in r.headers.get_list("set-cookie")}
    assert "HttpOnly" in cookies["access_token_cookie"] and "Path=/;" in cookies["access_token_cookie"]
    assert "SameSite=lax" in cookies["access_token_cookie"] and "Secure" not in cookies["access_token_cookie"]
    assert "HttpOnly" in cookies["refresh_token_cookie"] and "Path=/api/auth" in cookies["refresh_token_cookie"]
    assert "HttpOnly" not in cookies["csrf_access_token"]
    me = client.get("/api/auth/me")  # cookie auth, no browser headers (curl)
    assert me.status_code == 200
    assert set(me.json()) == {"id", "username", "email", "email_verified", "mfa_enabled", "mfa_method", "created_at"}
    assert me.json()["created_at"].endswith("Z")
    events = _events(client, "user.registered")
    assert events[0]["data"] == {
        "user_id": body["user"]["id"],
        "username": "MeDic8TeD",
        "email": "tim.h.orlando@gmail.com",
        "aggregate_version": 1,
    }


def test_login_by_email_or_login_field_and_bearer(client: TestClient, new_user: Callable[..., dict[str, Any]]) -> None:
    u = new_user()
    for payload in (
        {"login": u["email"].upper()},
        {"login": u["username"].upper()},
        {"email": u["email"]},
        {"login": "", "username": u["username"]},
    ):
        r = client.post("/api/auth/login", json={**payload, "password": u["password"]})
        assert r.status_code == 200, (payload, r.text)
    client.cookies.clear()
    token = r.json()["access_token"]
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).json()["id"] == u["id"]
    assert client.get("/api/auth/me").status_code == 401


def test_wrong_password_and_unknown_user_get_the_same_answer(
    client: TestClient, new_user: Callable[..., dict[str, Any]]
) -> None:
    u = new_user()
    wrong = client.post("/api/auth/login", json={"username": u["username"], "password": PW + "x"})
    unknown = client.post("/api/auth/login", json={"username": "nobody_here", "password": PW})
    unknown_mail = client.post("/api/auth/login", json={"login": "nobody@example.test", "password": PW})
    assert wrong.status_code == unknown.status_code == unknown_mail.status_code == 401
    assert (
        wrong.json()
        == unknown.json()
        == unknown_mail.json()
        == {"error": "Invalid username/email or password", "code": "invalid_credentials"}
    )
    assert "set-cookie" not in wrong.headers


def test_register_validation(client: TestClient, new_user: Callable[..., dict[str, Any]]) -> None:
    ok = {"username": "good_name", "email": "good@example.test", "password": PW}
    cases = [
        ({"username": "ab"}, "username", "validation_error"),
        ({"username": "has space"}, "username", "validation_error"),
        ({"username": "<script>"}, "username", "validation_error"),
        ({"username": "x" * 31}, "username", "validation_error"),
        ({"email": "not-an-email"}, "email", "validation_error"),
        ({"password": "too short pw"}, "password", "password_too_short"),
        ({"password": "password12345678"}, "password", "password_too_common"),
        ({"password": "é" * 1000}, "password", "password_too_long"),
    ]
    for change, field, code in cases:
        r = client.post("/api/auth/register", json={**ok, **change})
        assert r.status_code == 422, (change, r.text)
        assert r.json()["code"] == code and r.json()["details"][0]["field"] == field
    missing = client.post("/api/auth/register", json={"username": "abc"})
    assert missing.status_code == 422 and missing.json()["code"] == "validation_error"
    assert (
        client.post(
            "/api/auth/register", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )


def test_username_and_email_are_unique_case_insensitively(
    client: TestClient, new_user: Callable[..., dict[str, Any]]
) -> None:
    u = new_user(username="Unique.Name")
    r = client.post(
        "/api/auth/register", json={"username": "unique.name", "email": "other@example.test", "password": PW}
    )
    assert r.status_code == 409 and r.json()["code"] == "username_taken"
    r = client.post("/api/auth/register", json={"username": "another", "email": u["email"].upper(), "password": PW})
    assert r.status_code == 409 and r.json()["code"] == "email_taken"
    r = client.post("/api/auth/register", json={"username": "Mixed", "email": "MiXeD@Example.TEST", "password": PW})
    assert r.json()["user"]["email"] == "mixed@example.test"


def test_outdated_hash_is_upgraded_at_login(client: TestClient, new_user: Callable[..., dict[str, Any]]) -> None:
    u = new_user()
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    old = PasswordHashing(time_cost=1, memory_kib=8192).hash(u["password"])
    with factory() as s:
        s.get(User, u["id"]).password_hash = old
        s.commit()
    assert (
        client.post("/api/auth/login", json={"username": u["username"], "password": u["password"]}).status_code == 200
    )
    with factory() as s:
        upgraded = s.get(User, u["id"]).password_hash
    assert upgraded != old and "m=19456,t=2,p=1" in upgraded


def test_delete_account_needs_password_and_emits_user_deleted(
    client: TestClient, new_user: Callable[..., dict[str, Any]]
) -> None:
    u = new_user()
    login = client.post("/api/auth/login", json={"username": u["username"], "password": u["password"]})
    refresh = login.json()["refresh_token"]
    r = client.request("DELETE", "/api/auth/me", json={"password": "wrong password entirely"})
    assert r.status_code == 401
    r = client.request("DELETE", "/api/auth/me", json={})
    assert r.status_code == 403 and r.json()["code"] == "reauthentication_required"
    r = client.request("DELETE", "/api/auth/me", json={"password": u["password"]})
    assert r.status_code == 204
    assert any("access_token_cookie=" in c and "Max-Age=0" in c for c in r.headers.get_list("set-cookie"))
    # the tombstone's version follows the registration's (1): copies elsewhere never revive the account
    assert [e["data"] for e in _events(client, "user.deleted")] == [{"user_id": u["id"], "aggregate_version": 2}]
    bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert client.get("/api/auth/me", headers=bearer).status_code == 401
    assert client.post("/api/auth/refresh", json={"refresh_token": refresh}).status_code == 401
    assert (
        client.post("/api/auth/login", json={"username": u["username"], "password": u["password"]}).status_code == 401
    )


def test_internal_users_and_lookup(client: TestClient, new_user: Callable[..., dict[str, Any]]) -> None:
    a, b = new_user(), new_user()
    token = {"X-Internal-Token": client.app.state.settings.internal_token}  # type: ignore[attr-defined]
    assert client.get("/internal/users", params={"ids": f"{a['id']}"}).status_code == 401
    r = client.get("/internal/users", params={"ids": f"{a['id']},{b['id']},999999"}, headers=token)
    assert r.json() == {
        "users": [{"id": a["id"], "username": a["username"]}, {"id": b["id"], "username": b["username"]}]
    }
    assert client.get("/internal/users", params={"ids": "1,x"}, headers=token).status_code == 422
    r = client.get("/internal/users/lookup", params={"username": a["username"].upper()}, headers=token)
    assert r.json() == {"id": a["id"], "username": a["username"]}
    r = client.get("/internal/users/lookup", params={"email": b["email"]}, headers=token)
    assert r.json() == {"id": b["id"], "username": b["username"]}
    assert client.get("/internal/users/lookup", params={"email": "no@example.test"}, headers=token).status_code == 404


def test_jwks_publishes_the_signing_key(client: TestClient, new_user: Callable[..., dict[str, Any]]) -> None:
    import jwt

    keys = client.get("/api/auth/.well-known/jwks.json").json()["keys"]
    assert keys[0]["kty"] == "OKP" and keys[0]["crv"] == "Ed25519" and keys[0]["alg"] == "EdDSA"
    u = new_user()
    token = client.post("/api/auth/login", json={"username": u["username"], "password": u["password"]}).json()[
        "access_token"
    ]
    assert jwt.get_unverified_header(token)["kid"] == keys[0]["kid"]
    from shared.auth import TokenVerifier

    verifier = TokenVerifier(None, "sharemyshows-auth", "sharemyshows", jwks={"keys": keys})
    assert verifier.verify(token)["sub"] == str(u["id"])


def test_hostile_input_is_a_clean_4xx(client: TestClient) -> None:
    cases = [
        ("/api/auth/login", {"username": "a\x00b", "password": PW}),
        ("/api/auth/login", {"username": 123, "password": PW}),
        ("/api/auth/login", {"password": PW}),
        ("/api/auth/register", {"username": "nul\x00name", "email": "n@example.test", "password": PW}),
        ("/api/auth/forgot-password", {"email": "x\x00@example.test"}),
        ("/api/auth/verify-mfa", {"mfa_token": ["x"], "code": "123456"}),
        ("/api/auth/reset-password", {"token": "t", "password": "p" * 5000}),
    ]
    for path, body in cases:
        r = client.post(path, json=body)
        assert 400 <= r.status_code < 500, (path, body, r.status_code)
        assert set(r.json()) <= {"error", "code", "details"}
    assert (
        client.post("/api/auth/login", content=b"[]", headers={"content-type": "application/json"}).status_code == 422
    )


def test_openapi_lists_the_contract_paths(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for p in (
        "register",
        "login",
        "verify-mfa",
        "resend-mfa",
        "logout",
        "me",
        "verify-email",
        "forgot-password",
        "request-password-reset",
        "reset-password",
        "refresh",
        "change-password",
        "mfa/setup",
        "mfa/enable",
        "mfa/disable",
        "mfa/recovery-codes",
        ".well-known/jwks.json",
    ):
        assert f"/api/auth/{p}" in paths, p
    assert not any(p.startswith("/internal") for p in paths)


def test_users_snapshot_lists_live_accounts_and_tombstones(
    client: TestClient, new_user: Callable[..., dict[str, Any]]
) -> None:
    a, b, c = new_user(), new_user(), new_user()
    login = client.post("/api/auth/login", json={"username": b["username"], "password": b["password"]})
    bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert client.request("DELETE", "/api/auth/me", json={"password": b["password"]}, headers=bearer).status_code \
        == 204
    token = {"X-Internal-Token": client.app.state.settings.internal_token}  # type: ignore[attr-defined]
    assert client.get("/internal/snapshot/users").status_code == 401
    page = client.get("/internal/snapshot/users", params={"limit": 2}, headers=token).json()
    assert [(i["user_id"], i["version"], i["deleted"]) for i in page["items"]] == [
        (a["id"], 1, False), (b["id"], 2, True)
    ]
    assert page["items"][0]["username"] == a["username"] and page["next_after"] == str(b["id"])
    rest = client.get("/internal/snapshot/users", params={"limit": 2, "after": page["next_after"]},
                      headers=token).json()
    assert [i["user_id"] for i in rest["items"]] == [c["id"]] and rest["next_after"] is None
    by_id = client.get("/internal/snapshot/users", params={"ids": f"{b['id']},{c['id']},999"}, headers=token).json()
    assert [(i["user_id"], i["deleted"]) for i in by_id["items"]] == [(b["id"], True), (c["id"], False)]
    named = client.get("/internal/snapshot/users", params={"username": c["username"].upper()}, headers=token).json()
    assert [i["user_id"] for i in named["items"]] == [c["id"]]
    gone = client.get("/internal/snapshot/users", params={"username": b["username"]}, headers=token).json()
    assert gone["items"] == []
    recent = client.get("/internal/snapshot/users", params={"since": "2999-01-01T00:00:00Z"}, headers=token).json()
    assert recent["items"] == []
    assert client.get("/internal/snapshot/users", params={"since": "yesterday"}, headers=token).status_code == 422


def test_internal_mail_queues_an_escaped_mail_to_the_account(client: TestClient, mailbox: Any,
                                                              new_user: Callable[..., dict[str, Any]]) -> None:
    u = new_user()
    token = {"X-Internal-Token": client.app.state.settings.internal_token}  # type: ignore[attr-defined]
    body = {"subject": "2 new notifications", "paragraphs": ["<b>bob</b> commented"],
            "link": "http://x.test/api/public/unsubscribe?u=1&s=ab", "link_label": "Unsubscribe"}
    assert client.post(f"/internal/users/{u['id']}/mail", json=body).status_code == 401
    assert client.post("/internal/users/999999/mail", json=body, headers=token).status_code == 404
    assert client.post(f"/internal/users/{u['id']}/mail", json={**body, "paragraphs": []},
                       headers=token).status_code == 422
    assert client.post(f"/internal/users/{u['id']}/mail", json=body, headers=token).status_code == 202
    msg = mailbox.last(u["email"])
    assert msg["Subject"] == "2 new notifications"
    assert "<b>bob</b> commented" in mailbox.text(msg) and "/api/public/unsubscribe?u=1&s=ab" in mailbox.text(msg)
    html_part = msg.get_body(preferencelist=("html",))
    assert html_part is not None and "&lt;b&gt;bob&lt;/b&gt;" in html_part.get_content()
