"""Request limits at the edge, uploads admitted before a byte is stored, quota, rate, and the smaller holes.

Through the gateway on the real stack (PostgreSQL, RabbitMQ, moto S3, a worker). The e2e stack runs with
a 64 MiB quota and 60 uploads a minute per user (shared.testing.plugin), so the tests can fill them.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import pytest
import sqlalchemy as sa

from shared.stack import Stack
from shared.testing.client import create_show, response_head_to
from shared.testing.media import jpeg_bytes
from shared.testing.plugin import E2E_METRICS_TOKEN, E2E_QUOTA_BYTES, E2E_UPLOAD_RATE, E2E_UPLOAD_WINDOW_S, TestUser
from shared.testing.rss import RssSampler

pytestmark = pytest.mark.e2e

MB = 1024 * 1024
BODY = 50 * MB
FTYP = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"  # sniffs as MP4; the worker later fails it


def _rss_mb(pid: int) -> float:
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / MB


def _pid(stack: Stack, name: str) -> int:
    return stack.find(name)[0].popen.pid


def _json_body(chunked: bool) -> tuple[Any, dict[str, str]]:
    """A 50 MB JSON document, whole (Content-Length) or as a chunked stream of 1 MB pieces."""
    piece = b"x" * MB
    head, tail = b'{"username":"', b'"}'
    if not chunked:
        return head + piece * (BODY // MB) + tail, {"Content-Type": "application/json"}

    def gen() -> Iterator[bytes]:
        yield head
        for _ in range(BODY // MB):
            yield piece
        yield tail

    return gen(), {"Content-Type": "application/json"}


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("target", ["gateway", "service"])
def test_50mb_json_body_is_refused_with_memory_flat(stack: Stack, chunked: bool, target: str) -> None:
    """Anonymous 50 MB JSON to a public route: 413 from the gateway, and from the service itself (defence in depth)."""
    base = stack.gateway_url if target == "gateway" else stack.url("auth")
    pids = {"gateway": _pid(stack, "gateway"), "auth": _pid(stack, "auth")}
    with httpx.Client(base_url=base, timeout=60) as c:
        c.get("/health")
        before = {n: _rss_mb(p) for n, p in pids.items()}
        body, headers = _json_body(chunked)
        with RssSampler(pids, interval_s=0.02) as rss:
            started = time.perf_counter()
            r = c.post("/api/auth/register", content=body, headers=headers)
            elapsed = time.perf_counter() - started
        assert r.status_code == 413, r.text[:300]
        assert r.json()["code"] == "payload_too_large" and "1 MiB" in r.json()["error"]
        # the connection is still usable: the refused body was discarded, not read into anything
        assert c.get("/health").status_code == 200
    growth = {n: rss.peaks_mb[n] - before[n] for n in pids}
    print(f"\n50 MB JSON {'chunked' if chunked else 'with Content-Length'} to the {target}: 413 in {elapsed:.2f} s, "
          f"RSS growth gateway {growth['gateway']:.1f} MB, auth {growth['auth']:.1f} MB")
    assert growth["gateway"] < 20 and growth["auth"] < 20, growth


def _media_rows(stack: Stack, user_id: int) -> tuple[int, int]:
    """(media rows, upload reservations) of a user, read from media's database."""
    engine = sa.create_engine(stack.base_env["MEDIA_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            items = conn.scalar(sa.text("SELECT count(*) FROM media_item WHERE user_id = :u"), {"u": user_id})
            held = conn.scalar(sa.text("SELECT count(*) FROM upload_reservation WHERE user_id = :u"), {"u": user_id})
    finally:
        engine.dispose()
    return int(items or 0), int(held or 0)


def _head_only(stack: Stack, path: str, token: str, length: int, extra: str = "") -> bytes:
    """Send only the request head (a multipart body of `length` announced, never sent); the response head."""
    return response_head_to(stack.gateway_url, (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary=b0undary\r\nContent-Length: {length}\r\n{extra}\r\n"))


def test_upload_to_someone_elses_show_is_refused_before_the_body(make_user, stack: Stack, s3_server) -> None:
    alice: TestUser = make_user()
    bob: TestUser = make_user()
    private = create_show(alice, visibility="private")
    public = create_show(alice, artist_name="Open Stage", visibility="public")
    keys_before = set(s3_server.keys())
    # the head alone gets the answer: no byte of the announced body (20 MB photo, 4 GB video) is needed to refuse
    for show, status in ((private, b"404"), (public, b"403")):
        head = _head_only(stack, f"/api/photos?show_id={show['id']}", bob.access_token, 20 * MB)
        assert head.startswith(b"HTTP/1.1 " + status), head[:200]
        started = time.perf_counter()
        head = _head_only(stack, "/api/videos", bob.access_token, 4_000_000_000, f"X-Show-Id: {show['id']}\r\n")
        assert head.startswith(b"HTTP/1.1 " + status), head[:200]
        print(f"\n4 GB video to someone else's show: {status.decode()} after {time.perf_counter() - started:.3f} s")
    # and when the whole body is sent anyway, nothing of it is stored
    r = bob.client.post("/api/photos", params={"show_id": private["id"]},
                        files={"file": ("a.jpg", jpeg_bytes(640, 480), "image/jpeg")})
    assert r.status_code == 404, r.text
    assert set(s3_server.keys()) == keys_before
    assert _media_rows(stack, bob.id) == (0, 0)


def test_file_before_the_show_without_query_or_header_is_refused(make_user, stack: Stack, s3_server) -> None:
    user: TestUser = make_user()
    show = create_show(user)
    keys_before = set(s3_server.keys())
    boundary = "fIlEfIrSt"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode() + jpeg_bytes(1200, 900) + (
        f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"show_id\"\r\n\r\n{show['id']}\r\n"
        f"--{boundary}--\r\n").encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    r = user.client.post("/api/photos", content=body, headers=headers)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "show_id_first" and "?show_id=" in r.json()["error"]
    assert set(s3_server.keys()) == keys_before and _media_rows(stack, user.id) == (0, 0)
    # the same body with the show in the URL is stored
    r = user.client.post("/api/photos", params={"show_id": show["id"]}, content=body, headers=headers)
    assert r.status_code == 201, r.text


def _fake_video(size: int) -> bytes:
    return FTYP + os.urandom(1024) * ((size - len(FTYP)) // 1024)


def test_quota_exceeded_is_413_and_nothing_is_stored(make_user, stack: Stack, s3_server) -> None:
    user: TestUser = make_user()
    show = create_show(user)
    first = _fake_video(40 * MB)
    r = user.client.post("/api/videos", params={"show_id": show["id"]},
                         files={"file": ("a.mp4", first, "video/mp4")}, timeout=120)
    assert r.status_code == 201, r.text
    usage = user.client.get("/api/me/usage").json()
    assert usage == {"bytes_used": len(first), "bytes_quota": E2E_QUOTA_BYTES, "items": 1}
    keys_before = set(s3_server.keys())
    r = user.client.post("/api/videos", params={"show_id": show["id"]},
                         files={"file": ("b.mp4", _fake_video(40 * MB), "video/mp4")}, timeout=120)
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "quota_exceeded" and "64 MiB" in r.json()["error"]
    assert set(s3_server.keys()) == keys_before
    assert _media_rows(stack, user.id) == (1, 0)
    assert user.client.get("/api/me/usage").json()["items"] == 1


def test_parallel_uploads_cannot_both_slip_past_the_quota(make_user, stack: Stack, s3_server) -> None:
    user: TestUser = make_user()
    show = create_show(user)
    bodies = [_fake_video(40 * MB), _fake_video(40 * MB)]
    gate = threading.Barrier(2)
    results: list[httpx.Response] = []

    def send(data: bytes) -> None:
        with httpx.Client(base_url=stack.gateway_url, headers=user.headers(), timeout=120) as c:
            gate.wait()
            results.append(c.post("/api/videos", params={"show_id": show["id"]},
                                  files={"file": ("p.mp4", data, "video/mp4")}))

    threads = [threading.Thread(target=send, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert sorted(r.status_code for r in results) == [201, 413], [r.text[:200] for r in results]
    assert _media_rows(stack, user.id) == (1, 0)
    assert user.client.get("/api/me/usage").json()["bytes_used"] == len(bodies[0])


def test_upload_rate_is_429_with_retry_after(make_user) -> None:
    user: TestUser = make_user()
    show = create_show(user)
    junk = {"file": ("x.jpg", b"not a photo at all", "image/jpeg")}
    for _ in range(E2E_UPLOAD_RATE):  # every attempt counts, refused ones too (here: 415)
        r = user.client.post("/api/photos", headers={"X-Show-Id": str(show["id"])}, files=junk)
        assert r.status_code == 415, r.text
    r = user.client.post("/api/photos", headers={"X-Show-Id": str(show["id"])},
                         files={"file": ("a.jpg", jpeg_bytes(64, 64), "image/jpeg")})
    assert r.status_code == 429, r.text
    assert r.json()["code"] == "upload_rate_limited"
    assert 1 <= int(r.headers["Retry-After"]) <= E2E_UPLOAD_WINDOW_S


def test_metrics_need_the_scrape_token(api: httpx.Client) -> None:
    assert api.get("/metrics").status_code == 401
    assert api.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    r = api.get("/metrics", headers={"Authorization": f"Bearer {E2E_METRICS_TOKEN}"})
    assert r.status_code == 200 and "http_requests_total" in r.text


def test_web_app_security_headers(api: httpx.Client, stack: Stack) -> None:
    page = api.get("/shows", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    h = page.headers
    assert h["x-content-type-options"] == "nosniff" and h["referrer-policy"] == "same-origin"
    assert h["x-frame-options"] == "DENY" and "geolocation=(self)" in h["permissions-policy"]
    csp = {d.split()[0]: d.split()[1:] for d in h["content-security-policy"].split("; ")}
    assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
    if "<div id=\"root\">" in page.text:  # the built web app (web/dist)
        host = stack.gateway_url.removeprefix("http://")
        assert csp["script-src"] == ["'self'"] and "'unsafe-inline'" not in h["content-security-policy"]
        assert csp["connect-src"] == ["'self'", f"ws://{host}", f"wss://{host}"]
        assert "<script>" not in page.text  # no inline script for the CSP to forbid
    else:  # the "not built" page: no script at all
        assert csp["default-src"] == ["'none'"] and "script-src" not in csp
    docs = api.get("/docs")
    assert "script-src" not in docs.headers["content-security-policy"]


def test_friend_search_answers_the_same_for_unknown_and_known_emails(make_user) -> None:
    alice: TestUser = make_user()
    bob: TestUser = make_user()

    def search(q: str) -> tuple[int, str]:
        r = bob.client.get("/api/friends/search", params={"q": q})
        return r.status_code, r.text

    unknown = search(f"nobody-{alice.username}@example.test")
    assert unknown == (200, '{"users":[],"total":0}')
    assert search(alice.email) == unknown and search(alice.email.upper()) == unknown
    # a friend request by username still works, and Alice may opt in to be found by email
    assert alice.client.put("/api/friends/settings", json={"findable_by_email": True}).status_code == 200
    found = bob.client.get("/api/friends/search", params={"q": alice.email}).json()
    assert [u["username"] for u in found["users"]] == [alice.username] and alice.email not in str(found)
