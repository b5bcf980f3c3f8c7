"""Resumable uploads (tus 1.0): creation admits before any byte, PATCH appends in any chunk size, HEAD resumes,
DELETE terminates, expiry sweeps, the last byte makes a queued media item; local folder and S3 (moto)."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from media import service
from media.config import MediaSettings
from media.db import OutboxEvent
from media.models import MediaItem, TusUpload, UploadReservation
from media.storage_s3 import S3Storage
from shared.db import utcnow
from shared.testing.media import jpeg_bytes, make_video

TUS = {"Tus-Resumable": "1.0.0"}


def big_jpeg(extra: int = 3_000_000) -> bytes:
    """A JPEG followed by incompressible bytes (sniffing reads the head): several local 1 MiB parts."""
    return jpeg_bytes(640, 480) + os.urandom(extra)


def meta(**fields: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in fields.items())


def create(env, user: int, length: int, **fields: str):
    return env.client.post("/api/uploads", headers={**env.auth(user), **TUS, "Upload-Length": str(length),
                                                     "Upload-Metadata": meta(**fields)})


def patch(env, user: int, url: str, offset: int, data: bytes, **headers: str):
    return env.client.patch(url, content=data, headers={
        **env.auth(user), **TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream",
        **headers})


def head(env, user: int, url: str):
    return env.client.head(url, headers={**env.auth(user), **TUS})


def upload_in_chunks(env, user: int, url: str, data: bytes, chunk: int):
    r = None
    for start in range(0, len(data), chunk):
        r = patch(env, user, url, start, data[start : start + chunk])
        assert r.status_code == 204, r.text
        assert int(r.headers["Upload-Offset"]) == min(start + chunk, len(data))
    return r


def dropped_patch(env, user: int, url: str, offset: int, chunks: list[bytes]) -> int | None:
    """A PATCH whose client goes away after `chunks` (raw ASGI: the test client would buffer the body)."""
    headers = {**env.auth(user), **TUS, "Upload-Offset": str(offset),
               "Content-Type": "application/offset+octet-stream", "Transfer-Encoding": "chunked"}
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "PATCH", "scheme": "http",
             "path": url, "raw_path": url.encode(), "query_string": b"", "root_path": "",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 1234), "server": ("testserver", 80)}
    messages = [{"type": "http.request", "body": c, "more_body": True} for c in chunks]
    sent: list[dict] = []

    async def run() -> None:
        import anyio

        async def receive() -> dict:
            if messages:
                return messages.pop(0)
            await anyio.sleep(0.05)
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        await env.app(scope, receive, send)

    env.client.portal.call(run)
    starts = [m for m in sent if m["type"] == "http.response.start"]
    return starts[0]["status"] if starts else None


def rows(env, model):
    with env.app.state.session_factory() as s:
        return s.query(model).all()


def test_trailing_slash_endpoint_as_the_contract_writes_it(env) -> None:
    env.shows.add(1, owner=10)
    r = env.client.post("/api/uploads/", headers={**env.auth(10), **TUS, "Upload-Length": "10",
                                                  "Upload-Metadata": meta(kind="photo", show_id="1")},
                        follow_redirects=False)
    assert r.status_code == 201 and r.headers["Location"].startswith("/api/uploads/")
    assert env.client.options("/api/uploads/", headers=env.auth(1), follow_redirects=False).status_code == 204


def test_options_advertises_the_protocol(env) -> None:
    r = env.client.options("/api/uploads", headers=env.auth(1))
    assert r.status_code == 204
    assert r.headers["Tus-Resumable"] == "1.0.0" and r.headers["Tus-Version"] == "1.0.0"
    assert set(r.headers["Tus-Extension"].split(",")) == {"creation", "termination", "expiration"}
    assert int(r.headers["Tus-Max-Size"]) == env.settings.video_max_bytes


def test_photo_in_small_chunks_becomes_a_queued_item(env) -> None:
    env.shows.add(1, owner=10)
    data = jpeg_bytes(1600, 1200)
    r = create(env, 10, len(data), kind="photo", filename="IMG_1.JPG", show_id="1", caption="front row")
    assert r.status_code == 201, r.text
    url = r.headers["Location"]
    assert url.startswith("/api/uploads/") and r.headers["Upload-Expires"].endswith("GMT")
    assert r.headers["Tus-Resumable"] == "1.0.0"
    assert env.keys() == []  # nothing stored at creation
    h = head(env, 10, url)
    assert h.status_code == 200 and h.headers["Upload-Offset"] == "0" and h.headers["Upload-Length"] == str(len(data))
    assert h.headers["Cache-Control"] == "no-store"
    last = upload_in_chunks(env, 10, url, data, 100_000)  # smaller than a part: spooled between requests
    media_id = int(last.headers["X-Media-Id"])
    assert env.enqueue.sent == [("photo", media_id)]
    assert env.outbox_types() == ["media.uploaded"]
    [item] = rows(env, MediaItem)
    assert item.sha256 == hashlib.sha256(data).hexdigest() and item.file_size == len(data)
    assert item.caption == "front row" and item.original_filename == "IMG_1.JPG"
    assert env.storage.list(item.prefix) == [item.original_key]
    assert (Path(env.storage.root) / item.original_key).read_bytes() == data
    assert rows(env, UploadReservation) == []  # the room now counts as used
    assert env.run_queued() == ["ready"]
    h = head(env, 10, url)  # a client that lost the last answer learns it is done
    assert h.headers["Upload-Offset"] == str(len(data)) and h.headers["X-Media-Id"] == str(media_id)
    again = patch(env, 10, url, len(data), b"")
    assert again.status_code == 204 and again.headers["X-Media-Id"] == str(media_id)


def test_wrong_offset_is_a_conflict_and_head_tells_where_to_resume(env) -> None:
    env.shows.add(1, owner=10)
    data = jpeg_bytes(800, 600)
    url = create(env, 10, len(data), kind="photo", filename="a.jpg", show_id="1").headers["Location"]
    assert patch(env, 10, url, 0, data[:5000]).status_code == 204
    r = patch(env, 10, url, 4000, data[4000:])
    assert r.status_code == 409 and r.json()["code"] == "offset_mismatch" and r.headers["Upload-Offset"] == "5000"
    assert r.headers["Tus-Resumable"] == "1.0.0"
    assert head(env, 10, url).headers["Upload-Offset"] == "5000"
    r = patch(env, 10, url, 5000, data[5000:])
    assert r.status_code == 204 and "X-Media-Id" in r.headers


def test_interrupted_patch_keeps_what_arrived(env) -> None:
    env.shows.add(1, owner=10)
    data = big_jpeg()
    url = create(env, 10, len(data), kind="photo", filename="a.jpg", show_id="1").headers["Location"]
    cut = len(data) // 2
    dropped_patch(env, 10, url, 0, [data[:cut // 2], data[cut // 2 : cut]])
    offset = int(head(env, 10, url).headers["Upload-Offset"])
    assert 0 < offset <= cut
    r = patch(env, 10, url, offset, data[offset:])
    assert r.status_code == 204, r.text
    [item] = rows(env, MediaItem)
    assert item.sha256 == hashlib.sha256(data).hexdigest()


def test_hash_is_read_back_when_this_process_did_not_see_every_byte(env) -> None:
    env.shows.add(1, owner=10)
    data = big_jpeg()
    url = create(env, 10, len(data), kind="photo", filename="a.jpg", show_id="1").headers["Location"]
    half = len(data) // 2
    assert patch(env, 10, url, 0, data[:half]).status_code == 204
    env.app.state.tus_hashers.forget(url.rsplit("/", 1)[1])  # another replica, or a restart
    assert patch(env, 10, url, half, data[half:]).status_code == 204
    [item] = rows(env, MediaItem)
    assert item.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(("fields", "status", "code"), [
    ({"kind": "photo", "filename": "a.jpg", "show_id": "2"}, 403, "forbidden"),  # visible, not theirs
    ({"kind": "photo", "filename": "a.jpg", "show_id": "99"}, 404, "show_not_found"),
    ({"kind": "photo", "filename": "a.jpg", "show_id": "abc"}, 422, "validation_error"),  # no show: the library
    ({"kind": "sculpture", "filename": "a.jpg", "show_id": "1"}, 422, "validation_error"),
])
def test_creation_refuses_before_anything_is_stored(env, fields, status, code) -> None:
    env.shows.add(1, owner=10)
    env.shows.add(2, owner=20, visibility="public")
    r = create(env, 10, 1000, **fields)
    assert r.status_code == status, r.text
    assert r.json()["code"] == code and r.headers["Tus-Resumable"] == "1.0.0"
    assert rows(env, TusUpload) == [] and rows(env, UploadReservation) == [] and env.keys() == []


def test_creation_checks_size_quota_version_and_metadata(make_env) -> None:
    env = make_env(photo_max_bytes=10_000, user_quota_bytes=50_000)
    env.shows.add(1, owner=10)
    r = create(env, 10, 10_001, kind="photo", filename="a.jpg", show_id="1")
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    r = create(env, 10, 60_000, kind="video", filename="a.mp4", show_id="1")
    assert r.status_code == 413 and r.json()["code"] == "quota_exceeded"
    r = env.client.post("/api/uploads", headers={**env.auth(10), "Tus-Resumable": "0.2.2", "Upload-Length": "5",
                                                 "Upload-Metadata": meta(kind="photo", show_id="1")})
    assert r.status_code == 412 and r.headers["Tus-Version"] == "1.0.0"
    r = env.client.post("/api/uploads", headers={**env.auth(10), **TUS, "Upload-Length": "5",
                                                 "Upload-Metadata": "kind !!notbase64"})
    assert r.status_code == 400 and r.json()["code"] == "bad_metadata"
    r = env.client.post("/api/uploads", headers={**env.auth(10), **TUS, "Upload-Metadata": meta(kind="photo")})
    assert r.status_code == 400 and r.json()["code"] == "bad_header"
    # two uploads reserve their whole length: the second one no longer fits
    assert create(env, 10, 30_000, kind="video", filename="a.mp4", show_id="1").status_code == 201
    r = create(env, 10, 30_000, kind="video", filename="b.mp4", show_id="1")
    assert r.status_code == 413 and r.json()["code"] == "quota_exceeded"


def test_wrong_type_is_refused_before_the_first_part_and_ends_the_upload(env) -> None:
    env.shows.add(1, owner=10)
    url = create(env, 10, 20_000, kind="photo", filename="a.jpg", show_id="1").headers["Location"]
    r = patch(env, 10, url, 0, b"MZ" + bytes(19_998))
    assert r.status_code == 415 and r.json()["code"] == "unsupported_media_type"
    assert env.keys() == [] and rows(env, TusUpload) == [] and rows(env, UploadReservation) == []
    assert not any(Path(env.settings.tus_spool).glob("*"))
    assert head(env, 10, url).status_code == 404


def test_patch_rules(env) -> None:
    env.shows.add(1, owner=10)
    url = create(env, 10, 5000, kind="photo", filename="a.jpg", show_id="1").headers["Location"]
    r = patch(env, 10, url, 0, b"x", **{"Content-Type": "application/octet-stream"})
    assert r.status_code == 415 and r.json()["code"] == "bad_content_type"
    r = patch(env, 10, url, 0, jpeg_bytes(800, 600))
    assert r.status_code == 413
    assert patch(env, 20, url, 0, b"x").status_code == 404  # someone else's upload
    assert head(env, 20, url).status_code == 404
    assert env.client.head(f"/api/uploads/{uuid.uuid4().hex}", headers={**env.auth(10), **TUS}).status_code == 404
    assert env.client.delete(url, headers={**env.auth(20), **TUS}).status_code == 404


def test_terminate_releases_room_and_parts(env) -> None:
    env.shows.add(1, owner=10)
    data = big_jpeg()
    url = create(env, 10, len(data), kind="photo", filename="a.jpg", show_id="1").headers["Location"]
    assert patch(env, 10, url, 0, data[: len(data) - 10]).status_code == 204
    assert any(k for k in env.storage.unfinished_uploads())  # parts are stored as they arrive
    r = env.client.delete(url, headers={**env.auth(10), **TUS})
    assert r.status_code == 204 and r.headers["Tus-Resumable"] == "1.0.0"
    assert list(env.storage.unfinished_uploads()) == [] and env.keys() == []
    assert rows(env, TusUpload) == [] and rows(env, UploadReservation) == []
    assert not any(Path(env.settings.tus_spool).glob("*"))
    assert head(env, 10, url).status_code == 404


def test_expired_uploads_are_refused_and_swept(env) -> None:
    env.shows.add(1, owner=10)
    data = big_jpeg()
    url = create(env, 10, len(data), kind="photo", filename="a.jpg", show_id="1").headers["Location"]
    assert patch(env, 10, url, 0, data[:2_500_000]).status_code == 204
    factory = env.app.state.session_factory
    with factory() as s, s.begin():
        s.query(TusUpload).update({"expires_at": utcnow() - timedelta(seconds=1)})
    assert head(env, 10, url).status_code == 410
    assert patch(env, 10, url, 2_500_000, data[2_500_000:]).status_code == 410
    assert service.expire_tus(factory, env.storage, env.settings.tus_spool) == 1
    assert list(env.storage.unfinished_uploads()) == [] and env.keys() == []
    assert rows(env, TusUpload) == [] and rows(env, UploadReservation) == []
    assert head(env, 10, url).status_code == 404


def test_duplicate_of_an_existing_item_returns_it(env) -> None:
    env.shows.add(1, owner=10)
    data = jpeg_bytes(640, 480)
    first = env.upload(10, "photos", 1, "a.jpg", data, "image/jpeg").json()["id"]
    url = create(env, 10, len(data), kind="photo", filename="a.jpg", show_id="1").headers["Location"]
    r = patch(env, 10, url, 0, data)
    assert r.headers["X-Media-Id"] == str(first)
    assert len(rows(env, MediaItem)) == 1 and len(env.keys()) == 1


def test_openapi_declares_the_tus_statuses(env) -> None:
    paths = env.client.get("/openapi.json").json()["paths"]
    assert set(paths["/api/uploads/{upload_id}"]["patch"]["responses"]) >= {
        "204", "400", "404", "409", "410", "412", "413", "415", "423", "503"}
    assert set(paths["/api/uploads"]["post"]["responses"]) >= {"201", "400", "403", "404", "412", "413", "422", "429"}
    assert set(paths["/api/uploads/{upload_id}"]["head"]["responses"]) >= {"200", "404", "410", "412"}
    assert set(paths["/api/uploads/{upload_id}"]["delete"]["responses"]) >= {"204", "404", "412"}


@pytest.fixture
def s3_env(make_env, s3_server):
    overrides = {"storage": "s3", "s3_endpoint_url": s3_server.endpoint,
                 "s3_bucket": f"media-tus-{uuid.uuid4().hex[:8]}", "s3_access_key_id": s3_server.access_key,
                 "s3_secret_access_key": s3_server.secret_key, "s3_region": s3_server.region,
                 "s3_part_size": 5 * 1024 * 1024}
    storage = S3Storage(MediaSettings(ENV="testing").model_copy(update=overrides))
    return make_env(store=storage, **overrides)


def test_s3_video_in_small_chunks_with_a_resume(s3_env, tmp_path) -> None:
    env = s3_env
    env.shows.add(1, owner=10)
    src = make_video(tmp_path / "v.mp4", seconds=4, width=1280, height=720)
    data = src.read_bytes() + bytes(0)
    if len(data) < 12 * 1024 * 1024:  # make it span several 5 MiB parts (trailing bytes after moov are kept)
        data += bytes(12 * 1024 * 1024 - len(data))
    url = create(env, 10, len(data), kind="video", filename="v.mp4", show_id="1", title="encore").headers["Location"]
    half = len(data) // 2
    upload_in_chunks(env, 10, url, data[:half], 1024 * 1024)  # 1 MiB chunks: parts cut from the spool
    [upload] = rows(env, TusUpload)
    assert len(upload.state["parts"]) == half // (5 * 1024 * 1024)  # whole parts are in S3 already
    assert [u.key for u in env.storage.unfinished_uploads()] == [upload.key]
    env.app.state.tus_hashers.forget(upload.id)
    offset = int(head(env, 10, url).headers["Upload-Offset"])
    assert offset == half
    r = patch(env, 10, url, offset, data[offset:])
    assert r.status_code == 204, r.text
    [item] = rows(env, MediaItem)
    assert item.sha256 == hashlib.sha256(data).hexdigest() and item.title == "encore"
    assert b"".join(env.storage.open_range(item.original_key)) == data
    assert list(env.storage.unfinished_uploads()) == []
    with env.app.state.session_factory() as s:
        assert [e.type for e in s.query(OutboxEvent)] == ["media.uploaded"]


def test_s3_terminate_aborts_the_multipart_upload(s3_env) -> None:
    env = s3_env
    env.shows.add(1, owner=10)
    data = bytes([0xFF, 0xD8, 0xFF, 0xE0]) + bytes(7 * 1024 * 1024)
    url = create(env, 10, len(data), kind="photo", filename="a.jpg", show_id="1").headers["Location"]
    assert patch(env, 10, url, 0, data[:6 * 1024 * 1024]).status_code == 204
    assert len(list(env.storage.unfinished_uploads())) == 1
    assert env.client.delete(url, headers={**env.auth(10), **TUS}).status_code == 204
    assert list(env.storage.unfinished_uploads()) == [] and env.storage.list("photo/") == []


def test_the_sweeper_expires_uploads_and_prunes_the_spool(env) -> None:
    env.shows.add(1, owner=10)
    data = big_jpeg()
    url = create(env, 10, len(data), kind="photo", filename="a.jpg", show_id="1").headers["Location"]
    assert patch(env, 10, url, 0, data[:1_500_000]).status_code == 204
    stray = Path(env.settings.tus_spool) / "0123.tail"
    stray.write_bytes(b"x")
    os.utime(stray, (0, 0))
    with env.app.state.session_factory() as s, s.begin():
        s.query(TusUpload).update({"expires_at": utcnow() - timedelta(seconds=1)})
    env.app.state.sweeper.expire_uploads()
    assert rows(env, TusUpload) == [] and list(env.storage.unfinished_uploads()) == []
    assert not stray.exists() and not any(Path(env.settings.tus_spool).glob("*"))


def test_head_during_a_patch_never_cuts_parts_being_appended(env) -> None:
    env.shows.add(1, owner=10)
    data = big_jpeg()
    url = create(env, 10, len(data), kind="photo", filename="a.jpg", show_id="1").headers["Location"]
    assert patch(env, 10, url, 0, data[:1_500_000]).status_code == 204
    [upload] = rows(env, TusUpload)
    partial = Path(env.storage.root) / upload.key.rsplit("/", 1)[0] / f".upload-tus-{upload.key.rsplit('/', 1)[1]}"
    with partial.open("ab") as fh:  # a part appended by a PATCH still running (not recorded yet)
        fh.write(b"x" * 1000)
    assert head(env, 10, url).status_code == 200
    assert partial.stat().st_size == 1024 * 1024 + 1000  # HEAD only reads
    r = patch(env, 10, url, 1_500_000, data[1_500_000:])  # the next writer drops what was never recorded
    assert r.status_code == 204, r.text
    [item] = rows(env, MediaItem)
    assert (Path(env.storage.root) / item.original_key).read_bytes() == data
