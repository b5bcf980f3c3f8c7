"""Upload admission: the show named outside the body, rights checked and quota reserved before storing, rate."""

from __future__ import annotations

from collections.abc import Iterator

from media.models import UploadReservation
from shared.testing.media import jpeg_bytes


def _reservations(env) -> list[UploadReservation]:
    with env.app.state.session_factory() as s:
        return list(s.query(UploadReservation))


def _post(env, user: int, kind: str = "photos", *, params=None, headers=None, data=None, content=None,
          fields=None):
    files = {"file": ("a.jpg", data, "image/jpeg")} if data is not None else None
    return env.client.post(f"/api/{kind}", params=params, headers={**env.auth(user), **(headers or {})},
                           data=fields, files=files, content=content)


def test_show_in_query_or_header(env) -> None:
    env.shows.add(1, owner=10)
    r = _post(env, 10, params={"show_id": 1}, data=jpeg_bytes(64, 64))
    assert r.status_code == 201 and r.json()["show_id"] == 1
    r = _post(env, 10, headers={"X-Show-Id": "1"}, data=jpeg_bytes(64, 64, seed=2))
    assert r.status_code == 201 and r.json()["show_id"] == 1
    # the form field is still accepted when it comes before the file (the seed's clients)
    r = _post(env, 10, fields={"show_id": "1"}, data=jpeg_bytes(64, 64, seed=3))
    assert r.status_code == 201
    assert _reservations(env) == []


def test_conflicting_show_ids_are_refused(env) -> None:
    env.shows.add(1, owner=10)
    env.shows.add(2, owner=10)
    r = _post(env, 10, params={"show_id": 1}, fields={"show_id": "2"}, data=jpeg_bytes(64, 64))
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "show_id"
    r = _post(env, 10, params={"show_id": 1}, headers={"X-Show-Id": "2"}, data=jpeg_bytes(64, 64))
    assert r.status_code == 422
    r = _post(env, 10, params={"show_id": 0}, data=jpeg_bytes(64, 64))
    assert r.status_code == 422
    assert env.keys() == []


def test_someone_elses_show_in_the_query_is_refused_before_the_body(env) -> None:
    env.shows.add(1, owner=10, visibility="public")
    env.shows.add(2, owner=10)
    assert _post(env, 20, params={"show_id": 1}, data=jpeg_bytes(64, 64)).status_code == 403
    assert _post(env, 20, params={"show_id": 2}, data=jpeg_bytes(64, 64)).status_code == 404
    # even a body that is not multipart at all: the show is decided first only after the type check
    r = env.client.post("/api/photos", params={"show_id": 2}, headers=env.auth(20), content=b"x" * 1000)
    assert r.status_code == 400
    assert env.keys() == [] and _reservations(env) == []


def test_quota_exceeded_is_413_and_stores_nothing(make_env) -> None:
    env = make_env(user_quota_bytes=25_000)
    env.shows.add(1, owner=10)
    first = jpeg_bytes(200, 150, quality=95)
    r = _post(env, 10, params={"show_id": 1}, data=first)
    assert r.status_code == 201, r.text
    usage = env.client.get("/api/me/usage", headers=env.auth(10)).json()
    assert usage == {"bytes_used": len(first), "bytes_quota": 25_000, "items": 1}
    keys = env.keys()
    big = jpeg_bytes(400, 300, quality=95, seed=2)
    assert len(first) + len(big) > 25_000 > len(big)
    r = _post(env, 10, params={"show_id": 1}, data=big)
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "quota_exceeded" and "quota" in r.json()["error"]
    assert env.keys() == keys and _reservations(env) == []
    # someone else has their own quota
    env.shows.add(2, owner=11)
    assert _post(env, 11, params={"show_id": 2}, data=big).status_code == 201
    assert env.client.get("/api/me/usage", headers=env.auth(11)).json()["items"] == 1


def test_chunked_upload_grows_its_reservation_and_stops_at_the_quota(make_env) -> None:
    env = make_env(user_quota_bytes=15_000)
    env.shows.add(1, owner=10)
    data = jpeg_bytes(400, 300, quality=95)
    assert len(data) > 15_000
    boundary = "QqQ"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 4096):
            yield body[i:i + 4096]

    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    r = _post(env, 10, params={"show_id": 1}, headers=headers, content=chunks())
    assert r.status_code == 413 and r.json()["code"] == "quota_exceeded", r.text
    assert env.keys() == [] and _reservations(env) == []
    small = jpeg_bytes(64, 64)
    body = body.replace(data, small)
    r = _post(env, 10, params={"show_id": 1}, headers=headers, content=chunks())
    assert r.status_code == 201, r.text
    assert r.json()["file_size"] == len(small) and _reservations(env) == []


def test_upload_rate_is_429_with_retry_after(make_env) -> None:
    env = make_env(upload_rate_limit=3, upload_rate_window_s=60)
    env.shows.add(1, owner=10)
    for i in range(3):
        assert _post(env, 10, params={"show_id": 1}, data=jpeg_bytes(32, 32, seed=i)).status_code == 201
    r = _post(env, 10, params={"show_id": 1}, data=jpeg_bytes(32, 32, seed=9))
    assert r.status_code == 429 and r.json()["code"] == "upload_rate_limited"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert len({k.split("/")[2] for k in env.keys()}) == 3
    # per user: someone else may still upload
    env.shows.add(2, owner=11)
    assert _post(env, 11, params={"show_id": 2}, data=jpeg_bytes(32, 32)).status_code == 201


def test_usage_needs_a_login(env) -> None:
    assert env.client.get("/api/me/usage").status_code == 401
    assert env.client.get("/api/me/usage", headers=env.auth(42)).json() == {
        "bytes_used": 0, "bytes_quota": env.settings.user_quota_bytes, "items": 0}
