"""Sessions with ids: the sid claim, the devices list, revocation (logout, sign out one or everywhere,
password change, reset, deletion, refresh reuse) refused at once, the catch-up endpoint, the push."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from fastapi.testclient import TestClient

from shared.broadcast import Broadcast, FileBackend
from shared.revocation import CHANNEL

New = Callable[..., dict[str, Any]]


def _login(client: TestClient, u: dict[str, Any], agent: str = "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0") -> Any:
    r = client.post("/api/auth/login", json={"username": u["username"], "password": u["password"]},
                    headers={"User-Agent": agent})
    assert r.status_code == 200, r.text
    client.cookies.clear()  # bearer from here: each login is its own device
    return r.json()


def _bearer(session: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['access_token']}"}


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def _internal(client: TestClient) -> dict[str, str]:
    return {"X-Internal-Token": client.app.state.settings.internal_token}  # type: ignore[attr-defined]


def _refused(client: TestClient, session: dict[str, Any]) -> bool:
    r = client.get("/api/auth/me", headers=_bearer(session))
    return r.status_code == 401 and r.json()["code"] == "session_revoked"


def test_tokens_carry_the_session_and_live_five_minutes(client: TestClient, new_user: New) -> None:
    s = _login(client, new_user())
    access, refresh = _claims(s["access_token"]), _claims(s["refresh_token"])
    assert access["sid"] == refresh["sid"] == s["session_id"]
    assert access["exp"] - access["iat"] == 300 and s["expires_in"] == 300
    rotated = client.post("/api/auth/refresh", json={"refresh_token": s["refresh_token"]}).json()
    assert _claims(rotated["access_token"])["sid"] == s["session_id"]  # the refresh family is the session


def test_tokens_without_a_session_id_are_refused(client: TestClient, new_user: New) -> None:
    u = new_user()
    keys = client.app.state.auth.keys  # type: ignore[attr-defined]
    legacy, _ = keys.issue("access", u["id"], 300, name=u["username"], csrf="c")  # issued before sessions
    r = client.get("/api/auth/me", headers={"Authorization": f"Bearer {legacy}"})
    assert r.status_code == 401 and r.json()["code"] == "invalid_token"


def test_devices_list_and_signing_one_out(client: TestClient, new_user: New) -> None:
    u = new_user()
    laptop = _login(client, u)
    phone = _login(client, u, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1")
    listed = client.get("/api/auth/sessions", headers=_bearer(laptop)).json()
    assert listed["total"] == 2
    by_id = {s["id"]: s for s in listed["sessions"]}
    assert by_id[laptop["session_id"]]["current"] is True and by_id[phone["session_id"]]["current"] is False
    assert by_id[laptop["session_id"]]["device"] == "Firefox on Linux"
    assert by_id[phone["session_id"]]["device"] == "Safari on iOS"
    # sign the phone out from the laptop: its access token is refused at once, its refresh token too
    assert client.get("/api/auth/me", headers=_bearer(phone)).status_code == 200
    assert client.delete(f"/api/auth/sessions/{phone['session_id']}", headers=_bearer(laptop)).status_code == 204
    assert _refused(client, phone)
    assert client.post("/api/auth/refresh", json={"refresh_token": phone["refresh_token"]}).status_code == 401
    assert client.get("/api/auth/me", headers=_bearer(laptop)).status_code == 200
    assert [s["id"] for s in client.get("/api/auth/sessions", headers=_bearer(laptop)).json()["sessions"]] == [
        laptop["session_id"]
    ]
    # someone else's session id is not yours to end
    other = _login(client, new_user())
    r = client.delete(f"/api/auth/sessions/{other['session_id']}", headers=_bearer(laptop))
    assert r.status_code == 404 and r.json()["code"] == "session_not_found"
    assert client.get("/api/auth/me", headers=_bearer(other)).status_code == 200


def test_logout_with_only_an_access_token_ends_the_session(client: TestClient, new_user: New) -> None:
    s = _login(client, new_user())
    assert client.post("/api/auth/logout", headers=_bearer(s)).status_code == 200
    assert _refused(client, s)
    assert client.post("/api/auth/refresh", json={"refresh_token": s["refresh_token"]}).status_code == 401
    # logging out again, or with garbage, is harmless
    assert client.post("/api/auth/logout", headers={"Authorization": "Bearer garbage"}).status_code == 200


def test_sign_out_everywhere(client: TestClient, new_user: New) -> None:
    u = new_user()
    a, b, c = _login(client, u), _login(client, u), _login(client, u)
    r = client.post("/api/auth/sessions/revoke-all", json={"keep_current": True}, headers=_bearer(a))
    assert r.status_code == 200 and r.json()["revoked"] == 2
    assert _refused(client, b) and _refused(client, c)
    assert client.get("/api/auth/me", headers=_bearer(a)).status_code == 200
    r = client.post("/api/auth/sessions/revoke-all", headers=_bearer(a))
    assert r.status_code == 200 and r.json()["revoked"] == 1
    assert _refused(client, a)


def test_password_change_ends_every_session_and_starts_a_new_one(client: TestClient, new_user: New) -> None:
    u = new_user()
    here, elsewhere = _login(client, u), _login(client, u)
    r = client.post("/api/auth/change-password", headers=_bearer(here),
                    json={"current_password": u["password"], "new_password": "an entirely new passphrase"})
    assert r.status_code == 200, r.text
    fresh = r.json()
    assert fresh["session_id"] not in (here["session_id"], elsewhere["session_id"])
    assert _refused(client, here) and _refused(client, elsewhere)
    assert client.get("/api/auth/me", headers=_bearer(fresh)).status_code == 200


def test_refresh_reuse_revokes_the_session_and_its_access_tokens(client: TestClient, new_user: New) -> None:
    s = _login(client, new_user())
    step = client.post("/api/auth/refresh", json={"refresh_token": s["refresh_token"]}).json()
    client.cookies.clear()
    assert client.post("/api/auth/refresh", json={"refresh_token": s["refresh_token"]}).status_code == 401
    assert _refused(client, step)


def test_deleted_accounts_tokens_are_refused_and_listed_for_catch_up(client: TestClient, new_user: New) -> None:
    u = new_user()
    s = _login(client, u)
    r = client.request("DELETE", "/api/auth/me", json={"password": u["password"]}, headers=_bearer(s))
    assert r.status_code == 204
    assert client.get("/api/auth/me", headers=_bearer(s)).status_code == 401
    doc = client.get("/internal/sessions/revoked", params={"after": 0}, headers=_internal(client)).json()
    row = next(x for x in doc["revocations"] if x["sid"] == s["session_id"])
    assert row["user_id"] == u["id"] and row["reason"] == "account_deleted"
    assert row["expires_at"] > time.time() + 300  # kept while its tokens could still be valid


def test_catch_up_endpoint_is_internal_and_moves_its_cursor_past_settled_revocations(
    client: TestClient, new_user: New
) -> None:
    now = datetime.now(UTC)
    client.app.state.auth.clock = lambda: now  # type: ignore[attr-defined]
    assert client.get("/internal/sessions/revoked").status_code == 401
    first = _login(client, new_user())
    client.post("/api/auth/logout", headers=_bearer(first))
    doc = client.get("/internal/sessions/revoked", params={"after": 0}, headers=_internal(client)).json()
    assert [x["sid"] for x in doc["revocations"]] == [first["session_id"]]
    # just written: a transaction with a lower id might still commit, so the cursor does not pass it yet
    assert doc["cursor"] == 0
    later = now + timedelta(seconds=60)
    client.app.state.auth.clock = lambda: later  # type: ignore[attr-defined]
    second = _login(client, new_user())
    client.post("/api/auth/logout", headers=_bearer(second))
    doc = client.get("/internal/sessions/revoked", params={"after": 0}, headers=_internal(client)).json()
    assert doc["cursor"] >= 1
    newer = client.get("/internal/sessions/revoked", params={"after": doc["cursor"]}, headers=_internal(client))
    assert [x["sid"] for x in newer.json()["revocations"]] == [second["session_id"]]
    # past every token's lifetime a revocation is no longer listed
    client.app.state.auth.clock = lambda: later + timedelta(hours=1)  # type: ignore[attr-defined]
    assert client.get("/internal/sessions/revoked", headers=_internal(client)).json()["revocations"] == []


def test_revocations_are_written_with_the_change_and_pushed_after_commit(
    client: TestClient, new_user: New, tmp_path: Any
) -> None:
    got: list[dict[str, Any]] = []
    listener = Broadcast(FileBackend(tmp_path / "broadcast", poll_s=0.01), "another-process")
    listener.subscribe(CHANNEL, got.append)
    listener.start()
    try:
        assert listener.ready.wait(5)
        s = _login(client, new_user())
        client.post("/api/auth/logout", headers=_bearer(s))
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [g["sid"] for g in got] == [s["session_id"]]
    finally:
        listener.stop()
    from sqlalchemy import select

    outbox = client.app.state.outbox  # type: ignore[attr-defined]
    with client.app.state.session_factory() as db:  # type: ignore[attr-defined]
        events = [e.payload for e in db.scalars(select(outbox.Event)) if e.type == "session.revoked"]
    assert [(e["version"], e["data"]["sid"], e["data"]["reason"]) for e in events] == [(1, s["session_id"], "logout")]


def test_a_restarted_auth_refuses_sessions_revoked_before(
    app_factory: Callable[..., TestClient], new_user: New
) -> None:
    first = app_factory()
    u_body = {"username": "restarty", "email": "restarty@example.test", "password": "stage lights and loud guitars"}
    assert first.post("/api/auth/register", json=u_body).status_code == 201
    s = _login(first, u_body)
    first.post("/api/auth/logout", headers=_bearer(s))
    second = app_factory()  # a new process on the same database: its list is loaded at start-up
    assert second.app.state.token_verifier.revocations.ready  # type: ignore[attr-defined]
    assert _refused(second, s)
