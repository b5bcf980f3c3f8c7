"""The API in S3 mode (moto server): presigned redirects, and aborted multipart uploads leave nothing."""

from __future__ import annotations

import uuid

import httpx
import pytest

from media.config import MediaSettings
from media.storage_s3 import S3Storage
from shared.testing.media import jpeg_bytes


@pytest.fixture
def s3_env(make_env, s3_server):
    overrides = {"storage": "s3", "s3_endpoint_url": s3_server.endpoint,
                 "s3_bucket": f"media-api-{uuid.uuid4().hex[:8]}", "s3_access_key_id": s3_server.access_key,
                 "s3_secret_access_key": s3_server.secret_key, "s3_region": s3_server.region,
                 "s3_part_size": 5 * 1024 * 1024}
    storage = S3Storage(MediaSettings(ENV="testing").model_copy(update=overrides))
    return make_env(store=storage, **overrides)


def test_redirect_to_presigned_url(s3_env) -> None:
    env = s3_env
    env.shows.add(1, owner=10)
    data = jpeg_bytes(640, 480)
    r = env.upload(10, "photos", 1, "p.jpg", data, "image/jpeg")
    assert r.status_code == 201, r.text
    assert env.run_queued() == ["ready"]
    url = r.json()["url"]
    redirect = env.client.get(url, headers=env.auth(10), params={"redirect": 1, "rendition": "original"},
                              follow_redirects=False)
    assert redirect.status_code == 307
    presigned = redirect.headers["location"]
    assert "X-Amz-Signature" in presigned and "X-Amz-Expires" in presigned
    assert httpx.get(presigned).content == data
    streamed = env.client.get(url, headers={**env.auth(10), "Range": "bytes=0-9"})
    assert streamed.status_code == 206 and len(streamed.content) == 10
    assert env.client.delete(url, headers=env.auth(10)).status_code == 204
    assert env.storage.list("photo/") == []


def test_oversize_upload_aborts_multipart(s3_env) -> None:
    env = s3_env
    env.settings.photo_max_bytes = 12 * 1000 * 1000
    env.shows.add(1, owner=10)
    big = b"\xff\xd8\xff\xe0" + bytes(13 * 1000 * 1000)
    boundary = "bnd"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"show_id\"\r\n\r\n1\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.jpg\"\r\n\r\n").encode()
    body += big + f"\r\n--{boundary}--\r\n".encode()

    def chunks():
        for i in range(0, len(body), 256 * 1024):
            yield body[i : i + 256 * 1024]

    r = env.client.post("/api/photos", content=chunks(),
                        headers={**env.auth(10), "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 413, r.text
    assert env.storage.list("photo/") == []
    assert not env.storage.client.list_multipart_uploads(Bucket=env.storage.bucket).get("Uploads")
