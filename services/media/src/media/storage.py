"""Object storage behind one small interface: a local folder (embedded default) or any S3 API server."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from media.config import MediaSettings

log = logging.getLogger("media.storage")

READ_CHUNK = 256 * 1024
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


class StorageError(Exception):
    """The storage backend failed (unreachable, refused, ...): worth a retry, 503 to clients."""


class ObjectMissing(StorageError):
    """The object does not exist."""


@dataclass(frozen=True, slots=True)
class ObjectStat:
    """Size and content type of a stored object."""

    size: int
    content_type: str | None = None


def check_key(key: str) -> str:
    """Refuse keys that could escape the root (`..`, absolute, odd characters); return the key."""
    if len(key) > 512 or not _KEY_RE.match(key) or any(p in ("..", ".") for p in key.split("/")):
        raise ValueError(f"invalid object key: {key!r}")
    return key


class Writer(Protocol):
    """An object being written: parts in, then commit (or abort, which leaves nothing behind)."""

    def write(self, data: bytes) -> None: ...
    def commit(self) -> int: ...
    def abort(self) -> None: ...


class Storage(Protocol):
    """What the media service needs from an object store."""

    def open_writer(self, key: str, content_type: str) -> Writer: ...
    def put_stream(self, key: str, chunks: Iterable[bytes], content_type: str) -> int: ...
    def open_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]: ...
    def stat(self, key: str) -> ObjectStat | None: ...
    def delete_prefix(self, prefix: str) -> int: ...
    def list(self, prefix: str) -> list[str]: ...
    def presigned_get(self, key: str, expires: int, *, filename: str | None = None,
                      content_type: str | None = None) -> str | None: ...
    def download_to(self, key: str, path: Path) -> None: ...
    def upload_file(self, path: Path, key: str, content_type: str) -> int: ...
    def check(self) -> None: ...


def _put_stream(storage: Storage, key: str, chunks: Iterable[bytes], content_type: str) -> int:
    writer = storage.open_writer(key, content_type)
    try:
        for chunk in chunks:
            writer.write(chunk)
        return writer.commit()
    except BaseException:
        writer.abort()
        raise


# ---------------------------------------------------------------- local folder


class _LocalWriter:
    """Writes to a temp file next to the target; commit renames it into place (atomic)."""

    def __init__(self, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        self.target = target
        fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=target.parent)
        self.tmp = Path(tmp)
        self.fh = os.fdopen(fd, "wb")
        self.size = 0

    def write(self, data: bytes) -> None:
        self.fh.write(data)
        self.size += len(data)

    def commit(self) -> int:
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        os.replace(self.tmp, self.target)
        return self.size

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.fh.close()
        self.tmp.unlink(missing_ok=True)
        _prune_empty(self.target.parent)


def _prune_empty(folder: Path) -> None:
    # Empty item folders would otherwise accumulate after aborted uploads.
    with contextlib.suppress(OSError):
        folder.rmdir()


class LocalStorage:
    """Objects as files under a root folder; keys are validated so nothing escapes the root."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"invalid object key: {key!r}")
        return path

    def open_writer(self, key: str, content_type: str) -> _LocalWriter:
        """Start writing an object."""
        return _LocalWriter(self._path(key))

    def put_stream(self, key: str, chunks: Iterable[bytes], content_type: str) -> int:
        """Write an object from chunks; returns its size."""
        return _put_stream(self, key, chunks, content_type)

    def open_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Bytes start..end (inclusive) of an object, in chunks."""
        path = self._path(key)
        try:
            fh = path.open("rb")
        except FileNotFoundError:
            raise ObjectMissing(key) from None
        return self._iter(fh, start, end)

    @staticmethod
    def _iter(fh: Any, start: int, end: int | None) -> Iterator[bytes]:
        with fh:
            fh.seek(start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                data = fh.read(READ_CHUNK if remaining is None else min(READ_CHUNK, remaining))
                if not data:
                    return
                if remaining is not None:
                    remaining -= len(data)
                yield data

    def stat(self, key: str) -> ObjectStat | None:
        """Size of an object, None if missing."""
        try:
            return ObjectStat(self._path(key).stat().st_size)
        except FileNotFoundError:
            return None

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under a prefix (folder); returns how many."""
        folder = self._path(prefix.rstrip("/"))
        if not folder.exists():
            return 0
        count = sum(1 for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder, ignore_errors=True)
        _prune_empty(folder.parent)
        _prune_empty(folder.parent.parent)
        return count

    def list(self, prefix: str = "") -> list[str]:
        """Keys under a prefix (temp files excluded)."""
        base = self.root if not prefix else self._path(prefix.rstrip("/"))
        if not base.exists():
            return []
        return sorted(
            str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file() and not p.name.startswith(".")
        )

    def presigned_get(self, key: str, expires: int, *, filename: str | None = None,
                      content_type: str | None = None) -> str | None:
        """Local storage has no presigned URLs (bytes are streamed by the service)."""
        return None

    def download_to(self, key: str, path: Path) -> None:
        """Copy an object to a local file."""
        src = self._path(key)
        if not src.exists():
            raise ObjectMissing(key)
        shutil.copyfile(src, path)

    def upload_file(self, path: Path, key: str, content_type: str) -> int:
        """Store a local file under key (atomic replace); returns its size."""
        with path.open("rb") as fh:
            return self.put_stream(key, iter(lambda: fh.read(READ_CHUNK), b""), content_type)

    def check(self) -> None:
        """Raise if the root is not writable."""
        if not os.access(self.root, os.W_OK):
            raise StorageError(f"{self.root} is not writable")


# ---------------------------------------------------------------- S3


class _S3Writer:
    """A multipart upload fed part by part (one part buffered); small objects use one PUT."""

    def __init__(self, storage: S3Storage, key: str, content_type: str) -> None:
        self.s = storage
        self.key = check_key(key)
        self.content_type = content_type
        self.buf = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        self.size = 0

    def _flush_part(self, data: bytes) -> None:
        c = self.s.client
        try:
            if self.upload_id is None:
                resp = c.create_multipart_upload(Bucket=self.s.bucket, Key=self.key, ContentType=self.content_type)
                self.upload_id = resp["UploadId"]
            number = len(self.parts) + 1
            resp = c.upload_part(Bucket=self.s.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number,
                                 Body=data)
        except Exception as exc:
            raise StorageError(f"S3 upload failed: {type(exc).__name__}") from exc
        self.parts.append({"PartNumber": number, "ETag": resp["ETag"]})

    def write(self, data: bytes) -> None:
        self.buf += data
        self.size += len(data)
        while len(self.buf) >= self.s.part_size:
            part = bytes(self.buf[: self.s.part_size])
            del self.buf[: self.s.part_size]
            self._flush_part(part)

    def commit(self) -> int:
        c = self.s.client
        try:
            if self.upload_id is None:
                c.put_object(Bucket=self.s.bucket, Key=self.key, Body=bytes(self.buf), ContentType=self.content_type)
            else:
                if self.buf:
                    self._flush_part(bytes(self.buf))
                c.complete_multipart_upload(Bucket=self.s.bucket, Key=self.key, UploadId=self.upload_id,
                                            MultipartUpload={"Parts": self.parts})
        except StorageError:
            self.abort()
            raise
        except Exception as exc:
            self.abort()
            raise StorageError(f"S3 upload failed: {type(exc).__name__}") from exc
        self.buf = bytearray()
        return self.size

    def abort(self) -> None:
        self.buf = bytearray()
        if self.upload_id is not None:
            try:
                self.s.client.abort_multipart_upload(Bucket=self.s.bucket, Key=self.key, UploadId=self.upload_id)
            except Exception as exc:  # best effort: a lifecycle rule cleans what is left
                log.warning("could not abort multipart upload of %s: %s", self.key, exc)
            self.upload_id = None


class S3Storage:
    """Objects in an S3 bucket (AWS, MinIO, moto): standard retries, short timeouts, multipart uploads."""

    def __init__(self, settings: MediaSettings, *, create_bucket: bool | None = None) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = settings.s3_bucket
        self.part_size = max(5 * 1024 * 1024, settings.s3_part_size)
        config = Config(
            region_name=settings.s3_region,
            retries={"mode": "standard", "max_attempts": settings.s3_max_attempts},
            connect_timeout=settings.s3_connect_timeout_s,
            read_timeout=settings.s3_read_timeout_s,
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            max_pool_connections=32,
        )
        self.client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url or None,
            aws_access_key_id=settings.s3_access_key_id or None,
            aws_secret_access_key=settings.s3_secret_access_key or None,
            config=config,
        )
        if create_bucket if create_bucket is not None else settings.is_dev:
            self.ensure_bucket()

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (development and tests)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception:
            with contextlib.suppress(Exception):  # raced by another process, or no permission: check() tells
                self.client.create_bucket(Bucket=self.bucket)

    def open_writer(self, key: str, content_type: str) -> _S3Writer:
        """Start writing an object (multipart above one part)."""
        return _S3Writer(self, key, content_type)

    def put_stream(self, key: str, chunks: Iterable[bytes], content_type: str) -> int:
        """Write an object from chunks; returns its size."""
        return _put_stream(self, key, chunks, content_type)

    def open_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Bytes start..end (inclusive) of an object, in chunks."""
        kw: dict[str, Any] = {"Bucket": self.bucket, "Key": check_key(key)}
        if start or end is not None:
            kw["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            body = self.client.get_object(**kw)["Body"]
        except self.client.exceptions.NoSuchKey:
            raise ObjectMissing(key) from None
        except Exception as exc:
            raise StorageError(f"S3 read failed: {type(exc).__name__}") from exc
        return self._iter(body)

    @staticmethod
    def _iter(body: Any) -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(READ_CHUNK)
        finally:
            body.close()

    def stat(self, key: str) -> ObjectStat | None:
        """Size and type of an object, None if missing."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=check_key(key))
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StorageError(f"S3 stat failed: {type(exc).__name__}") from exc
        return ObjectStat(int(head["ContentLength"]), head.get("ContentType"))

    def list(self, prefix: str = "") -> list[str]:
        """Keys under a prefix."""
        keys: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(o["Key"] for o in page.get("Contents", []))
        except Exception as exc:
            raise StorageError(f"S3 list failed: {type(exc).__name__}") from exc
        return keys

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under a prefix (and abort its unfinished multipart uploads)."""
        if not prefix.endswith("/"):
            prefix += "/"
        check_key(prefix.rstrip("/"))
        keys = self.list(prefix)
        try:
            for i in range(0, len(keys), 1000):
                self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]], "Quiet": True}
                )
            uploads = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix).get("Uploads", [])
            for up in uploads:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=up["Key"], UploadId=up["UploadId"])
        except Exception as exc:
            raise StorageError(f"S3 delete failed: {type(exc).__name__}") from exc
        return len(keys)

    def presigned_get(self, key: str, expires: int, *, filename: str | None = None,
                      content_type: str | None = None) -> str | None:
        """A short-lived GET URL carrying the response headers we would have sent."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": check_key(key)}
        if content_type:
            params["ResponseContentType"] = content_type
        if filename is not None:
            params["ResponseContentDisposition"] = content_disposition(filename)
        return str(self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires))

    def download_to(self, key: str, path: Path) -> None:
        """Stream an object to a local file."""
        try:
            self.client.download_file(self.bucket, check_key(key), str(path))
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("404", "NoSuchKey", "NotFound"):
                raise ObjectMissing(key) from None
            raise StorageError(f"S3 download failed: {type(exc).__name__}") from exc

    def upload_file(self, path: Path, key: str, content_type: str) -> int:
        """Store a local file under key (multipart for large files); returns its size."""
        from boto3.s3.transfer import TransferConfig

        cfg = TransferConfig(multipart_threshold=self.part_size, multipart_chunksize=self.part_size)
        try:
            self.client.upload_file(str(path), self.bucket, check_key(key), ExtraArgs={"ContentType": content_type},
                                    Config=cfg)
        except Exception as exc:
            raise StorageError(f"S3 upload failed: {type(exc).__name__}") from exc
        return path.stat().st_size

    def check(self) -> None:
        """Raise if the bucket is not reachable."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            raise StorageError(f"bucket {self.bucket} unreachable: {type(exc).__name__}") from exc


def content_disposition(filename: str, disposition: str = "inline") -> str:
    """RFC 6266 header value with an ASCII fallback and the RFC 5987 UTF-8 name."""
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in filename) or "file"
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def make_storage(settings: MediaSettings) -> Storage:
    """The storage the settings select (MEDIA_STORAGE=local|s3)."""
    if settings.storage == "s3":
        return S3Storage(settings)
    return LocalStorage(settings.objects_dir)


def new_prefix(kind: str, user_id: int) -> str:
    """A fresh server-made prefix `{kind}/{user_id}/{uuid}` for one media item."""
    return f"{kind}/{int(user_id)}/{uuid.uuid4().hex}"
