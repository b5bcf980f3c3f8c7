"""S3Storage against a real S3 API server (moto): multipart streams, ranges, prefixes, presigned URLs."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from media.config import MediaSettings
from media.storage import LocalStorage, ObjectMissing, Storage, StorageError, check_key
from media.storage_s3 import S3Storage


@pytest.fixture
def s3(s3_server) -> S3Storage:
    settings = MediaSettings(ENV="testing", storage="s3", **{
        "S3_ENDPOINT_URL": s3_server.endpoint, "S3_BUCKET": f"media-it-{uuid.uuid4().hex[:8]}",
        "S3_ACCESS_KEY_ID": s3_server.access_key, "S3_SECRET_ACCESS_KEY": s3_server.secret_key,
        "S3_REGION": s3_server.region})
    return S3Storage(settings)  # creates its bucket (testing)


def _chunks(total: int, chunk: int = 1024 * 1024, seed: int = 7) -> Iterator[bytes]:
    block = hashlib.sha256(str(seed).encode()).digest() * (chunk // 32)
    sent = 0
    while sent < total:
        piece = block[: min(chunk, total - sent)]
        sent += len(piece)
        yield piece


def test_multipart_stream_40mb_in_8mb_parts(s3: S3Storage) -> None:
    total = 40 * 1024 * 1024 + 123
    writer = s3.open_writer("video/1/abc/original.mp4", "video/mp4")
    for piece in _chunks(total):
        writer.write(piece)
        assert len(writer.buf) < s3.part_size  # never more than one part in memory
        assert len(writer.pending) <= s3.parts_in_flight  # a bounded number of parts uploading, one buffering
    assert writer.commit() == total
    assert [p["PartNumber"] for p in sorted(writer.parts, key=lambda p: p["PartNumber"])] == [1, 2, 3, 4, 5, 6]
    stat = s3.stat("video/1/abc/original.mp4")
    assert stat is not None and stat.size == total and stat.content_type == "video/mp4"
    expected = hashlib.sha256(b"".join(_chunks(total))).hexdigest()
    got = hashlib.sha256(b"".join(s3.open_range("video/1/abc/original.mp4"))).hexdigest()
    assert got == expected
    # every part went with its CRC32 and the object keeps their composite (S3 checked each part on arrival)
    head = s3.client.head_object(Bucket=s3.bucket, Key="video/1/abc/original.mp4", ChecksumMode="ENABLED")
    assert all(p.get("ChecksumCRC32") for p in writer.parts)
    assert head.get("ChecksumCRC32") and "ChecksumCRC64NVME" not in head, head


def test_abort_leaves_nothing(s3: S3Storage) -> None:
    writer = s3.open_writer("video/1/x/original.mp4", "video/mp4")
    for piece in _chunks(20 * 1024 * 1024):
        writer.write(piece)
    writer.abort()
    assert s3.list("video/1/x") == []
    assert not s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads")


def test_a_part_failing_mid_upload_aborts_it_and_leaves_nothing(s3: S3Storage,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Storage gone while parts are in flight: the error reaches the writer's caller, who aborts (as the
    upload receiver does); no object and no unfinished multipart upload stay behind."""
    real = s3.client.upload_part

    def down_from_part_3(**kw: object) -> object:
        if int(kw["PartNumber"]) >= 3:  # type: ignore[call-overload]
            raise ConnectionError("storage down")
        return real(**kw)

    monkeypatch.setattr(s3.client, "upload_part", down_from_part_3)
    writer = s3.open_writer("video/1/down/original.mp4", "video/mp4")
    with pytest.raises(StorageError):
        for piece in _chunks(64 * 1024 * 1024):
            writer.write(piece)
        writer.commit()
    writer.abort()
    assert s3.list("video/1/down") == []
    assert not s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads")


def _exercise(storage: Storage, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    assert storage.put_stream("photo/5/p1/original.jpg", iter([data[:1000], data[1000:]]), "image/jpeg") == len(data)
    storage.put_stream("photo/5/p1/thumb_320.webp", iter([b"w" * 10]), "image/webp")
    storage.put_stream("photo/5/p2/original.jpg", iter([b"other"]), "image/jpeg")
    assert b"".join(storage.open_range("photo/5/p1/original.jpg", 10, 19)) == data[10:20]
    assert b"".join(storage.open_range("photo/5/p1/original.jpg", 299_990)) == data[299_990:]
    assert sorted(storage.list("photo/5/p1")) == ["photo/5/p1/original.jpg", "photo/5/p1/thumb_320.webp"]
    dst = tmp_path / "dl.jpg"
    storage.download_to("photo/5/p1/original.jpg", dst)
    assert dst.read_bytes() == data
    src = tmp_path / "up.bin"
    src.write_bytes(b"x" * 5000)
    assert storage.upload_file(src, "photo/5/p1/display.jpg", "image/jpeg") == 5000
    assert storage.delete_prefix("photo/5/p1") == 3
    assert storage.list("photo/5/p1") == [] and storage.list("photo/5/p2") == ["photo/5/p2/original.jpg"]
    assert storage.stat("photo/5/p1/original.jpg") is None
    with pytest.raises(ObjectMissing):
        b"".join(storage.open_range("photo/5/p1/original.jpg"))
    storage.check()


def test_s3_storage_contract(s3: S3Storage, tmp_path: Path) -> None:
    _exercise(s3, tmp_path)


def test_local_storage_contract(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "objects")
    _exercise(storage, tmp_path)
    assert storage.presigned_get("photo/5/p2/original.jpg", 60) is None


def test_presigned_get(s3: S3Storage) -> None:
    s3.put_stream("audio/2/z/original.mp3", iter([b"ID3-and-more"]), "audio/mpeg")
    url = s3.presigned_get("audio/2/z/original.mp3", 60, filename="s\u00e9t.mp3", content_type="audio/mpeg")
    assert url and "X-Amz-Expires=60" in url
    r = httpx.get(url)
    assert r.status_code == 200 and r.content == b"ID3-and-more"
    assert "filename*=UTF-8''s%C3%A9t.mp3" in r.headers["content-disposition"]


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs/key", "a/../../b", "a//b", "a/./b", "", "a\\b", "a/b\x00"])
def test_keys_cannot_escape(key: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        check_key(key)
    with pytest.raises(ValueError):
        LocalStorage(tmp_path).open_writer(key, "x")
