"""Comments over HTTP: the permission matrix, mentions, editing, deleting and bad input."""

from __future__ import annotations

import pytest

OWNER, FRIEND, STRANGER, NARROWED_OUT = 1, 2, 3, 4


@pytest.fixture
def people(social):
    for uid, name in ((OWNER, "olivia"), (FRIEND, "fred"), (STRANGER, "stan"), (NARROWED_OUT, "nora")):
        social.add_user(uid, name)
    w = social.world
    social.befriend(OWNER, FRIEND)
    social.befriend(OWNER, NARROWED_OUT)
    w.add_show(10, OWNER, visibility="private")
    w.add_show(11, OWNER, visibility="friends")
    w.add_show(12, OWNER, visibility="public")
    w.add_show(13, OWNER, visibility="friends", visible_to=[FRIEND])
    return social


MATRIX = [
    # show, user, may see
    (10, OWNER, True), (10, FRIEND, False), (10, STRANGER, False),
    (11, OWNER, True), (11, FRIEND, True), (11, STRANGER, False),
    (12, OWNER, True), (12, FRIEND, True), (12, STRANGER, True),
    (13, FRIEND, True), (13, NARROWED_OUT, False),
]


@pytest.mark.parametrize(("show_id", "user_id", "allowed"), MATRIX)
def test_comment_permission_matrix(people, show_id: int, user_id: int, allowed: bool) -> None:
    c = people.client
    r = c.post("/api/comments", json={"show_id": show_id, "text": "great gig"}, headers=people.headers(user_id))
    assert r.status_code == (201 if allowed else 404), r.text
    # someone who may see the show has commented; can this user read the thread?
    seed = c.post("/api/comments", json={"show_id": show_id, "text": "seed"}, headers=people.headers(OWNER))
    assert seed.status_code == 201
    r = c.get(f"/api/comments/show/{show_id}", headers=people.headers(user_id))
    if allowed:
        assert r.status_code == 200
        body = r.json()
        assert body["total"] == len(body["comments"]) >= 1
        assert [x["text"] for x in body["comments"]][-1] == "seed"  # oldest first
    else:
        assert r.status_code == 404
        assert r.json()["code"] == "show_not_found"


def test_comment_shape_mentions_and_no_emails(people) -> None:
    r = people.client.post("/api/comments", json={"show_id": 12, "text": "with @Fred and @nobody, cc @stan."},
                           headers=people.headers(FRIEND))
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {"id", "show_id", "photo_id", "user", "text", "created_at", "updated_at", "mentions"}
    assert body["user"] == {"id": FRIEND, "username": "fred"}
    assert body["photo_id"] is None and body["updated_at"] is None
    assert body["created_at"].endswith("Z")
    assert body["mentions"] == [{"username": "fred", "user_id": FRIEND}, {"username": "stan", "user_id": STRANGER}]
    assert "example.test" not in r.text
    assert people.outbox_types() == ["comment.created"]


def test_text_is_stored_as_text_not_html(people) -> None:
    evil = "<script>alert(1)</script> &amp;"
    r = people.client.post("/api/comments", json={"show_id": 12, "text": f"  {evil}  "},
                           headers=people.headers(OWNER))
    assert r.json()["text"] == evil


def test_edit_only_by_author_and_sets_updated_at(people) -> None:
    c = people.client
    cid = c.post("/api/comments", json={"show_id": 11, "text": "first"}, headers=people.headers(FRIEND)).json()["id"]
    r = c.put(f"/api/comments/{cid}", json={"text": "owner edit"}, headers=people.headers(OWNER))
    assert r.status_code == 403
    r = c.put(f"/api/comments/{cid}", json={"text": "stranger"}, headers=people.headers(STRANGER))
    assert r.status_code == 404
    r = c.put(f"/api/comments/{cid}", json={"text": "second"}, headers=people.headers(FRIEND))
    assert r.status_code == 200
    assert r.json()["text"] == "second" and r.json()["updated_at"] is not None


def test_delete_by_author_or_show_owner(people) -> None:
    c = people.client
    post = lambda uid: c.post("/api/comments", json={"show_id": 12, "text": "x"},  # noqa: E731
                              headers=people.headers(uid)).json()["id"]
    a, b = post(FRIEND), post(STRANGER)
    assert c.delete(f"/api/comments/{a}", headers=people.headers(STRANGER)).status_code == 403
    assert c.delete(f"/api/comments/{a}", headers=people.headers(FRIEND)).status_code == 204
    assert c.delete(f"/api/comments/{b}", headers=people.headers(OWNER)).status_code == 204
    assert c.delete(f"/api/comments/{b}", headers=people.headers(OWNER)).status_code == 404
    assert people.outbox_types().count("comment.deleted") == 2


def test_photo_comments(people) -> None:
    w = people.world
    w.photos[500] = {"show_id": 11, "user_id": OWNER}
    c = people.client
    r = c.post("/api/comments", json={"photo_id": 500, "text": "nice shot"}, headers=people.headers(FRIEND))
    assert r.status_code == 201 and r.json()["show_id"] == 11 and r.json()["photo_id"] == 500
    assert c.post("/api/comments", json={"photo_id": 500, "text": "x"},
                  headers=people.headers(STRANGER)).status_code == 404
    assert c.post("/api/comments", json={"photo_id": 501, "text": "x"},
                  headers=people.headers(OWNER)).json()["code"] == "photo_not_found"
    assert c.post("/api/comments", json={"photo_id": 500, "show_id": 12, "text": "x"},
                  headers=people.headers(OWNER)).status_code == 422
    page = c.get("/api/comments/photo/500", headers=people.headers(OWNER)).json()
    assert page["total"] == 1
    assert c.get("/api/comments/photo/500", headers=people.headers(STRANGER)).status_code == 404
    # photo comments are not in the show's own thread
    assert c.get("/api/comments/show/11", headers=people.headers(OWNER)).json()["total"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"show_id": 12},
        {"show_id": 12, "text": ""},
        {"show_id": 12, "text": "   "},
        {"show_id": 12, "text": "x" * 2001},
        {"show_id": 12, "text": 5},
        {"text": "no target"},
        {"show_id": "abc", "text": "x"},
        {"show_id": True, "text": "x"},
        {"show_id": 2**40, "text": "x"},
        [1, 2],
    ],
)
def test_bad_comment_bodies_get_422(people, body) -> None:
    r = people.client.post("/api/comments", json=body, headers=people.headers(OWNER))
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_error" and r.json()["details"]


def test_malformed_json_and_unknown_ids(people) -> None:
    c = people.client
    h = {**people.headers(OWNER), "Content-Type": "application/json"}
    r = c.post("/api/comments", content=b"{not json", headers=h)
    assert r.status_code == 400 and r.json()["code"] == "malformed_json"
    assert c.post("/api/comments", json={"show_id": 999, "text": "x"}, headers=h).status_code == 404
    assert c.put("/api/comments/999", json={"text": "x"}, headers=h).status_code == 404
    assert c.delete("/api/comments/999", headers=h).status_code == 404
    assert c.get("/api/comments/show/0", headers=h).status_code == 422
    assert c.get("/api/comments/show/99999999999", headers=h).status_code == 422
    ok = c.post("/api/comments", json={"show_id": 12, "text": "x" * 2000}, headers=h)
    assert ok.status_code == 201


def test_auth_required_and_shows_down(people) -> None:
    c = people.client
    r = c.get("/api/comments/show/12")
    assert r.status_code == 401 and r.json()["code"] == "not_authenticated"
    assert c.get("/api/comments/show/12", headers={"Authorization": "Bearer junk"}).status_code == 401
    people.world.shows_down = True
    r = c.get("/api/comments/show/12", headers=people.headers(OWNER))
    assert r.status_code == 503 and r.json()["code"] == "service_unavailable"


def test_recent_comments_dashboard_and_internal(people) -> None:
    from shared.events import ShowCreatedV1

    people.deliver(ShowCreatedV1(show_id=12, user_id=OWNER, concert_id=120, visibility="public", aggregate_version=1,
                                 show_name="Band at Venue"))
    c = people.client
    for i in range(3):
        c.post("/api/comments", json={"show_id": 12, "text": f"c{i}"}, headers=people.headers(FRIEND))
    r = c.get("/api/dashboard/comments/recent?limit=2", headers=people.headers(FRIEND))
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 3 and [x["text"] for x in body["comments"]] == ["c2", "c1"]
    assert body["comments"][0]["content"] == "c2" and body["comments"][0]["show_name"] == "Band at Venue"
    assert c.get("/api/dashboard/comments/recent?limit=51", headers=people.headers(FRIEND)).status_code == 422
    token = people.app.state.settings.internal_token
    assert c.get("/internal/comments/show/12").status_code == 401
    r = c.get("/internal/comments/show/12", headers={"X-Internal-Token": token})
    assert r.status_code == 200 and r.json()["total"] == 3
    r = c.get(f"/internal/users/{FRIEND}/counts", headers={"X-Internal-Token": token})
    assert r.json() == {"comments": 3, "friends": 1}


@pytest.mark.parametrize("backend", ["social", "social_pg"])
def test_internal_show_comments_are_serialize_comments_of_the_orm_rows(backend: str, request) -> None:
    """The event-loop read path (social.readpath) answers exactly what `serialize_comments` makes of the ORM
    rows, on SQLite and PostgreSQL: authors (one whose copy is missing shown as a deleted user), mentions with
    trailing punctuation, photo comments left out, every page and its total; and the dashboard's counts."""
    from social import repository as repo
    from social.models import Comment
    from social.service import serialize_comments

    app = request.getfixturevalue(backend)
    for uid, name in ((OWNER, "olivia"), (FRIEND, "fred"), (STRANGER, "stan")):
        app.add_user(uid, name)
    app.befriend(OWNER, FRIEND)
    app.world.add_show(12, OWNER, visibility="public")
    c = app.client
    for who, text in ((FRIEND, "what a night @olivia"), (OWNER, "thanks @fred. and @Stan, @nobody"),
                      (STRANGER, "encore!")):
        assert c.post("/api/comments", json={"show_id": 12, "text": text}, headers=app.headers(who)).status_code == 201
    factory = app.app.state.session_factory
    with factory() as s:
        s.add(Comment(show_id=12, user_id=99, text="from an account the copy never had"))
        s.add(Comment(show_id=12, photo_id=5, user_id=FRIEND, text="a photo's comment"))
        s.commit()
    token = {"X-Internal-Token": app.app.state.settings.internal_token}
    for limit, offset in ((100, 0), (2, 0), (2, 2), (2, 4), (1, 3)):
        with factory() as s:
            rows, total = repo.comments_of(s, show_id=12, limit=limit, offset=offset)
            expected = {"comments": serialize_comments(session=s, comments=rows), "total": total}
        got = c.get("/internal/comments/show/12", headers=token, params={"limit": limit, "offset": offset}).json()
        assert got == expected, (limit, offset)
    everything = c.get("/internal/comments/show/12", headers=token).json()
    assert everything["total"] == 4
    assert [m["username"] for m in everything["comments"][1]["mentions"]] == ["fred", "stan"]
    assert everything["comments"][3]["user"] == {"id": 99, "username": "deleted user"}
    assert c.get("/internal/comments/show/77", headers=token).json() == {"comments": [], "total": 0}
    assert c.get(f"/internal/users/{OWNER}/counts", headers=token).json() == {"comments": 1, "friends": 1}
    assert c.get("/internal/users/42/counts", headers=token).json() == {"comments": 0, "friends": 0}
