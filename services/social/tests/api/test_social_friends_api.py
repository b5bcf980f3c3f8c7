"""Friends over HTTP: search rules, the request state machine, crossing requests and concurrent accepts."""

from __future__ import annotations

import threading

import pytest

A, B, C = 1, 2, 3


def _without_requests(types: list[str]) -> list[str]:
    """Outbox types other than `friendship.requested` (one per new request; notifications react to it)."""
    return [t for t in types if t != "friendship.requested"]


@pytest.fixture
def trio(social):
    social.add_user(A, "Alice", "Alice@Example.test")
    social.add_user(B, "bob", "bob@example.test")
    social.add_user(C, "bobby_tables", "robert@example.test")
    return social


def test_search_prefix_exact_email_no_emails(trio) -> None:
    c = trio.client
    r = c.get("/api/friends/search?q=BO", headers=trio.headers(A))
    assert r.status_code == 200
    body = r.json()
    assert [u["username"] for u in body["users"]] == ["bob", "bobby_tables"] and body["total"] == 2
    assert set(body["users"][0]) == {"id", "username", "friendship_status"}
    assert "example.test" not in r.text
    # exact email (case-insensitive) finds only someone who opted in; partial emails find nothing
    assert c.put("/api/friends/settings", json={"findable_by_email": True}, headers=trio.headers(C)).status_code == 200
    assert [u["id"] for u in c.get("/api/friends/search?query=ROBERT@example.test",
                                   headers=trio.headers(A)).json()["users"]] == [C]
    for partial in ("robert@", "@example.test", "robert@example", "obert@example.test"):
        assert c.get("/api/friends/search", params={"q": partial}, headers=trio.headers(A)).json()["total"] == 0
    # excludes self; substring (not prefix) does not match
    assert c.get("/api/friends/search?q=ali", headers=trio.headers(A)).json()["total"] == 0
    assert c.get("/api/friends/search?q=ob", headers=trio.headers(A)).json()["total"] == 0
    assert [u["id"] for u in c.get("/api/friends/search?q=@bob", headers=trio.headers(A)).json()["users"]] == [B, C]
    # LIKE wildcards are literal
    assert c.get("/api/friends/search?q=b%25", headers=trio.headers(A)).json()["total"] == 0
    assert c.get("/api/friends/search?q=__", headers=trio.headers(A)).json()["total"] == 0


def test_email_search_answers_the_same_for_unknown_and_not_opted_in(trio) -> None:
    c = trio.client

    def search(email: str) -> tuple[int, str]:
        r = c.get("/api/friends/search", params={"q": email}, headers=trio.headers(A))
        return r.status_code, r.text

    unknown = search("nobody@example.test")
    assert unknown == (200, '{"users":[],"total":0}')
    assert search("bob@example.test") == unknown  # bob exists but did not opt in
    assert c.get("/api/friends/settings", headers=trio.headers(B)).json() == {"findable_by_email": False}
    r = c.put("/api/friends/settings", json={"findable_by_email": True}, headers=trio.headers(B))
    assert r.json() == {"findable_by_email": True}
    assert [u["id"] for u in c.get("/api/friends/search", params={"q": "bob@example.test"},
                                   headers=trio.headers(A)).json()["users"]] == [B]
    c.put("/api/friends/settings", json={"findable_by_email": False}, headers=trio.headers(B))
    assert search("bob@example.test") == unknown
    # a username search is unaffected by the setting
    assert c.get("/api/friends/search?q=bob", headers=trio.headers(A)).json()["total"] == 2
    assert c.put("/api/friends/settings", json={"findable_by_email": "yes"},
                 headers=trio.headers(B)).status_code == 422


@pytest.mark.parametrize("query", ["", "?q=", "?q=a", "?q=%20b%20", "?query=@", "?q=@b"])
def test_search_needs_two_characters(trio, query: str) -> None:
    r = trio.client.get(f"/api/friends/search{query}", headers=trio.headers(A))
    assert r.status_code == 422 and r.json()["details"]


def test_request_accept_remove_cycle(trio) -> None:
    c = trio.client
    r = c.post("/api/friends/request", json={"friend_id": B}, headers=trio.headers(A))
    assert r.status_code == 201
    req = r.json()
    assert req["status"] == "pending" and req["user_id"] == A and req["friend_id"] == B
    assert req["friend"] == {"id": B, "username": "bob"}
    # duplicate is idempotent
    again = c.post("/api/friends/request", json={"username": "BOB"}, headers=trio.headers(A))
    assert again.status_code == 200 and again.json()["id"] == req["id"]
    search = c.get("/api/friends/search?q=bob", headers=trio.headers(A)).json()["users"]
    assert search[0]["friendship_status"] == "pending_outgoing"
    assert c.get("/api/friends/search?q=al", headers=trio.headers(B)).json()["users"][0]["friendship_status"] \
        == "pending_incoming"
    # lists
    assert c.get("/api/friends/requests", headers=trio.headers(B)).json()["total"] == 1
    assert c.get("/api/friends/requests?direction=outgoing", headers=trio.headers(A)).json()["friends"][0][
        "friend"]["id"] == B
    assert c.get("/api/friends/requests?direction=sideways", headers=trio.headers(A)).status_code == 422
    # only the recipient accepts; strangers do not even see it
    assert c.post(f"/api/friends/request/{req['id']}/accept", headers=trio.headers(A)).status_code == 403
    assert c.post(f"/api/friends/request/{req['id']}/accept", headers=trio.headers(C)).status_code == 404
    r = c.post(f"/api/friends/request/{req['id']}/accept", headers=trio.headers(B))
    assert r.status_code == 200 and r.json()["status"] == "accepted" and r.json()["friend"]["id"] == A
    assert c.post(f"/api/friends/request/{req['id']}/accept", headers=trio.headers(B)).status_code == 200
    friends = c.get("/api/friends", headers=trio.headers(A)).json()
    assert friends["total"] == 1 and friends["friends"][0]["friend"] == {"id": B, "username": "bob"}
    assert c.get("/api/friends/search?q=bob", headers=trio.headers(A)).json()["users"][0][
        "friendship_status"] == "accepted"
    assert c.post(f"/api/friends/request/{req['id']}/reject", headers=trio.headers(B)).status_code == 409
    token = trio.app.state.settings.internal_token
    assert c.get(f"/internal/friends/{A}", headers={"X-Internal-Token": token}).json() == {"friend_ids": [B]}
    # either side removes
    assert c.delete(f"/api/friends/{req['id']}", headers=trio.headers(C)).status_code == 404
    assert c.delete(f"/api/friends/{req['id']}", headers=trio.headers(B)).status_code == 204
    assert c.get("/api/friends", headers=trio.headers(A)).json()["total"] == 0
    assert trio.outbox_types() == ["friendship.requested", "friendship.accepted", "friendship.removed"]


def test_reject_and_cancel(trio) -> None:
    c = trio.client
    rid = c.post("/api/friends/request", json={"friend_id": B}, headers=trio.headers(A)).json()["id"]
    assert c.post(f"/api/friends/request/{rid}/reject", headers=trio.headers(A)).status_code == 403
    r = c.post(f"/api/friends/request/{rid}/reject", headers=trio.headers(B))
    assert r.status_code == 200
    assert c.get("/api/friends/requests", headers=trio.headers(B)).json()["total"] == 0
    rid = c.post("/api/friends/request", json={"friend_id": B}, headers=trio.headers(A)).json()["id"]
    assert c.delete(f"/api/friends/{rid}", headers=trio.headers(A)).status_code == 204  # cancel
    assert c.get("/api/friends/requests", headers=trio.headers(B)).json()["total"] == 0
    assert _without_requests(trio.outbox_types()) == []


def test_crossing_requests_become_friendship(trio) -> None:
    c = trio.client
    first = c.post("/api/friends/request", json={"friend_id": B}, headers=trio.headers(A)).json()
    r = c.post("/api/friends/request", json={"friend_id": str(A)}, headers=trio.headers(B))
    assert r.status_code == 201
    assert r.json()["id"] == first["id"] and r.json()["status"] == "accepted"
    assert c.get("/api/friends", headers=trio.headers(B)).json()["total"] == 1
    assert _without_requests(trio.outbox_types()) == ["friendship.accepted"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"friend_id": A}, 422),
        ({"friend_id": str(A)}, 422),
        ({"friend_id": f" {A} "}, 422),
        ({"username": "alice"}, 422),
        ({"friend_id": 99}, 404),
        ({"username": "nobody"}, 404),
        ({"friend_id": "1.0"}, 422),
        ({"friend_id": True}, 422),
        ({"friend_id": -2}, 422),
        ({}, 422),
    ],
)
def test_bad_requests(trio, body: dict, status: int) -> None:
    trio.directory.unknown.add(99)  # an id auth never issued
    r = trio.client.post("/api/friends/request", json=body, headers=trio.headers(A))
    assert r.status_code == status, r.text
    assert r.json()["code"]


def test_two_concurrent_accepts_emit_once(trio) -> None:
    c = trio.client
    rid = c.post("/api/friends/request", json={"friend_id": B}, headers=trio.headers(A)).json()["id"]
    barrier = threading.Barrier(4)
    results: list[int] = []

    def accept() -> None:
        barrier.wait()
        results.append(c.post(f"/api/friends/request/{rid}/accept", headers=trio.headers(B)).status_code)

    threads = [threading.Thread(target=accept) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 4
    assert _without_requests(trio.outbox_types()) == ["friendship.accepted"]


def test_cas_accept_unit(trio) -> None:
    """The compare-and-set itself: only the first of two sessions flips the row."""
    from social import repository as repo

    with trio.session() as s:
        row = repo.add_friend_request(s, A, C)
        rid = row.id
    with trio.session() as s1:
        assert repo.accept_if_pending(s1, rid) is True
    with trio.session() as s2:
        assert repo.accept_if_pending(s2, rid) is False


def test_postgres_concurrent_accepts_and_crossing_requests(social_pg) -> None:
    """On PostgreSQL requests really run in parallel: the CAS and the pair constraint keep it right."""
    s = social_pg
    for uid, name in ((A, "alice"), (B, "bob"), (C, "carol")):
        s.add_user(uid, name)
    c = s.client
    rid = c.post("/api/friends/request", json={"friend_id": B}, headers=s.headers(A)).json()["id"]
    barrier = threading.Barrier(6)
    codes: list[int] = []

    def accept() -> None:
        barrier.wait()
        codes.append(c.post(f"/api/friends/request/{rid}/accept", headers=s.headers(B)).status_code)

    threads = [threading.Thread(target=accept) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 6
    assert _without_requests(s.outbox_types()) == ["friendship.accepted"]
    # crossing requests sent at the same moment: one row, accepted, one event
    results: list[tuple[int, dict]] = []
    barrier2 = threading.Barrier(2)

    def ask(me: int, other: int) -> None:
        barrier2.wait()
        r = c.post("/api/friends/request", json={"friend_id": other}, headers=s.headers(me))
        results.append((r.status_code, r.json()))

    pair = [threading.Thread(target=ask, args=(A, C)), threading.Thread(target=ask, args=(C, A))]
    for t in pair:
        t.start()
    for t in pair:
        t.join()
    assert all(code in (200, 201) for code, _ in results), results
    assert len({body["id"] for _, body in results}) == 1
    with s.session() as session:
        from sqlalchemy import select

        from social.models import Friendship

        rows = list(session.scalars(select(Friendship).where(Friendship.user_low == A, Friendship.user_high == C)))
    assert len(rows) == 1
    # whichever insert lost the race found the other's request and accepted it
    assert rows[0].status == "accepted"
    assert sorted(code for code, _ in results) == [201, 201]
    assert s.outbox_types().count("friendship.accepted") == 2


def test_a_brand_new_account_can_be_asked_before_its_event_arrives(social) -> None:
    """user.registered of the recipient has not reached social yet: auth is asked (by id or by name)."""
    social.add_user(A, "alice")
    social.directory.names[B] = "newbie"
    r = social.client.post("/api/friends/request", json={"username": "NewBie"}, headers=social.headers(A))
    assert r.status_code == 201 and r.json()["friend"] == {"id": B, "username": "newbie"}
    social.directory.names[C] = "fresh"
    assert social.client.post("/api/friends/request", json={"friend_id": C}, headers=social.headers(A)).status_code \
        == 201
