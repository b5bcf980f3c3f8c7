"""S3 storage (AWS, MinIO, moto): standard retries, short timeouts, pipelined multipart uploads."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import IO, Any

from media.config import MediaSettings
from media.storage import (
    READ_CHUNK,
    ObjectInfo,
    ObjectMissing,
    ObjectStat,
    StorageError,
    Unfinished,
    _put_stream,
    check_key,
    content_disposition,
)

log = logging.getLogger("media.storage")
LIFECYCLE_RULE_ID = "sharemyshows-abort-incomplete-uploads"
# Multipart uploads declare their parts' checksum, as boto3's transfer manager does: S3 checks each part's CRC32
# (which botocore sends anyway) and keeps a composite of them. Without it a server may checksum the whole object
# at completion (moto computes a CRC64NVME of the assembled object in Python: 2 x its CPU per GB).
CHECKSUM = "CRC32"


def _part_entry(number: int, resp: dict[str, Any]) -> dict[str, Any]:
    """A part as CompleteMultipartUpload wants it back: with its checksum when the server gave one."""
    entry: dict[str, Any] = {"PartNumber": number, "ETag": resp["ETag"]}
    if resp.get("ChecksumCRC32"):
        entry["ChecksumCRC32"] = resp["ChecksumCRC32"]
    return entry


class _S3Writer:
    """A multipart upload fed part by part; parts upload in the background (at most `parts_in_flight` at once,
    each from a temporary file) while the caller keeps reading its source. A caller that outruns S3 waits in
    `write` (back-pressure on its source), so memory stays at about one part. Small objects use one PUT."""

    def __init__(self, storage: S3Storage, key: str, content_type: str) -> None:
        self.s = storage
        self.key = check_key(key)
        self.content_type = content_type
        self.buf = bytearray()
        self.upload_id: str | None = None
        self.pending: list[Future[dict[str, Any]]] = []
        self.parts: list[dict[str, Any]] = []
        self.size = 0

    def _upload_part(self, number: int, spooled: IO[bytes], size: int) -> dict[str, Any]:
        with spooled:  # an unnamed temporary file: gone when closed, also when the part is cancelled
            spooled.seek(0)
            resp = self.s.client.upload_part(Bucket=self.s.bucket, Key=self.key, UploadId=self.upload_id,
                                             PartNumber=number, Body=spooled, ContentLength=size,
                                             ChecksumAlgorithm=CHECKSUM)
        return _part_entry(number, resp)

    def _collect(self, block: bool) -> None:
        """Move finished parts to `parts`; wait while too many are in flight (or for all when blocking)."""
        while self.pending:
            limit = 0 if block else self.s.parts_in_flight
            running = [f for f in self.pending if not f.done()]
            if len(running) > limit:
                wait(running, return_when=FIRST_COMPLETED)
                continue
            for f in [f for f in self.pending if f.done()]:
                self.pending.remove(f)
                try:
                    self.parts.append(f.result())
                except Exception as exc:
                    raise StorageError(f"S3 upload failed: {type(exc).__name__}") from exc
            if not block or not self.pending:
                return

    def _flush_part(self, data: bytes) -> None:
        try:
            if self.upload_id is None:
                resp = self.s.client.create_multipart_upload(Bucket=self.s.bucket, Key=self.key,
                                                             ContentType=self.content_type,
                                                             ChecksumAlgorithm=CHECKSUM)
                self.upload_id = resp["UploadId"]
        except Exception as exc:
            raise StorageError(f"S3 upload failed: {type(exc).__name__}") from exc
        number = len(self.parts) + len(self.pending) + 1
        # Parts wait for S3 on disk, not in memory: the process holds the part being read, not those in flight.
        spooled = tempfile.TemporaryFile(prefix="s3-part-")  # noqa: SIM115 - closed by _upload_part
        try:
            spooled.write(data)
        except BaseException:
            spooled.close()
            raise
        self.pending.append(self.s.part_pool.submit(self._upload_part, number, spooled, len(data)))
        self._collect(block=False)

    def write(self, data: bytes) -> None:
        self.size += len(data)
        size = self.s.part_size
        if not self.buf and len(data) == size and isinstance(data, bytes):  # callers write whole parts: no copy
            self._flush_part(data)
            return
        self.buf += data
        while len(self.buf) >= size:
            with memoryview(self.buf) as view:
                part = bytes(view[:size])
            del self.buf[:size]
            self._flush_part(part)

    def commit(self) -> int:
        c = self.s.client
        try:
            if self.upload_id is None:
                c.put_object(Bucket=self.s.bucket, Key=self.key, Body=bytes(self.buf), ContentType=self.content_type)
            else:
                if self.buf:
                    self._flush_part(bytes(self.buf))
                self._collect(block=True)
                parts = sorted(self.parts, key=lambda p: int(p["PartNumber"]))
                self.s.slow_client.complete_multipart_upload(
                    Bucket=self.s.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": parts}
                )
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
        for f in self.pending:
            f.cancel()
        if self.pending:
            wait(self.pending)
        self.pending = []
        if self.upload_id is not None:
            try:
                self.s.client.abort_multipart_upload(Bucket=self.s.bucket, Key=self.key, UploadId=self.upload_id)
            except Exception as exc:  # best effort: a lifecycle rule cleans what is left
                log.warning("could not abort multipart upload of %s: %s", self.key, exc)
            self.upload_id = None


class _S3Resumable:
    """A multipart upload kept open across requests: its id and parts live in the caller's state."""

    def __init__(self, storage: S3Storage, key: str, content_type: str, state: dict[str, Any]) -> None:
        self.s = storage
        self.max_in_flight = storage.parts_in_flight
        self.key = check_key(key)
        self.content_type = content_type
        self.part_size = storage.part_size
        self.upload_id: str | None = state.get("upload_id")
        self.parts: list[dict[str, Any]] = list(state.get("parts", []))

    def stored(self) -> int:
        return sum(int(p["Size"]) for p in self.parts)

    def state(self) -> dict[str, Any]:
        return {"upload_id": self.upload_id, "parts": list(self.parts)}

    def _begin(self) -> str:
        if self.upload_id is None:
            try:
                resp = self.s.client.create_multipart_upload(Bucket=self.s.bucket, Key=self.key,
                                                             ContentType=self.content_type,
                                                             ChecksumAlgorithm=CHECKSUM)
            except Exception as exc:
                raise StorageError(f"S3 upload failed: {type(exc).__name__}") from exc
            self.upload_id = resp["UploadId"]
        return self.upload_id

    def put_part(self, number: int, path: Path) -> dict[str, Any]:
        upload_id = self.upload_id
        if upload_id is None:
            raise StorageError("begin the multipart upload before sending parts")
        size = path.stat().st_size
        try:
            with path.open("rb") as fh:
                resp = self.s.client.upload_part(Bucket=self.s.bucket, Key=self.key, UploadId=upload_id,
                                                 PartNumber=number, Body=fh, ContentLength=size,
                                                 ChecksumAlgorithm=CHECKSUM)
        except Exception as exc:
            raise StorageError(f"S3 upload failed: {type(exc).__name__}") from exc
        return {**_part_entry(number, resp), "Size": size}

    def add_part(self, part: dict[str, Any]) -> None:
        self.parts.append(part)

    def begin(self) -> None:
        """Create the multipart upload (before the first part goes out)."""
        self._begin()

    def complete(self, last: Path | None) -> int:
        try:
            if self.upload_id is None:  # smaller than one part: a single PUT
                size = last.stat().st_size if last is not None else 0
                with (last.open("rb") if last is not None else contextlib.nullcontext(b"")) as body:
                    self.s.client.put_object(Bucket=self.s.bucket, Key=self.key, Body=body,
                                             ContentType=self.content_type)
                return size
            if last is not None and last.stat().st_size:
                self.add_part(self.put_part(len(self.parts) + 1, last))
            # Parts kept from before checksums were declared carry none (their upload was created without).
            parts = [{k: v for k, v in p.items() if k != "Size"} for p in self.parts]
            self.s.slow_client.complete_multipart_upload(
                Bucket=self.s.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": parts}
            )
        except StorageError:
            raise
        except Exception as exc:
            raise StorageError(f"S3 upload failed: {type(exc).__name__}") from exc
        return self.stored()

    def abort(self) -> None:
        if self.upload_id is not None:
            try:
                self.s.client.abort_multipart_upload(Bucket=self.s.bucket, Key=self.key, UploadId=self.upload_id)
            except Exception as exc:  # best effort: the storage sweep and the lifecycle rule clean what is left
                log.warning("could not abort multipart upload of %s: %s", self.key, exc)
            self.upload_id = None


class S3Storage:
    """Objects in an S3 bucket (AWS, MinIO, moto): standard retries, short timeouts, multipart uploads."""

    def __init__(self, settings: MediaSettings, *, create_bucket: bool | None = None) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = settings.s3_bucket
        self.part_size = max(5 * 1024 * 1024, settings.s3_part_size)
        self.parts_in_flight = settings.s3_parts_in_flight
        self.part_pool = ThreadPoolExecutor(max_workers=max(8, 2 * self.parts_in_flight), thread_name_prefix="s3-part")
        config = Config(
            region_name=settings.s3_region,
            retries={"mode": "standard", "max_attempts": settings.s3_max_attempts},
            connect_timeout=settings.s3_connect_timeout_s,
            read_timeout=settings.s3_read_timeout_s,
            signature_version="s3v4",
            # The payload is not SHA-256-signed (over plain HTTP botocore would, a pass over every byte costing
            # about 5 x the CRC32 that S3 still checks each part against).
            s3={"addressing_style": "path", "payload_signing_enabled": False},
            max_pool_connections=32,
        )
        kw: dict[str, Any] = {
            "endpoint_url": settings.s3_endpoint_url or None,
            "aws_access_key_id": settings.s3_access_key_id or None,
            "aws_secret_access_key": settings.s3_secret_access_key or None,
        }
        self.client = boto3.client("s3", config=config, **kw)
        # Completing a large multipart upload may take a server many seconds (moto: ~18 s for 1 GB).
        self.slow_client = boto3.client(
            "s3", config=config.merge(Config(read_timeout=settings.s3_complete_timeout_s)), **kw
        )
        # Presigned URLs are signed for the host the browser will use (e.g. localhost:9000, not minio:9000).
        public = settings.s3_public_endpoint_url
        self.presign_client = (
            boto3.client("s3", config=config, **{**kw, "endpoint_url": public}) if public else self.client
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

    def ensure_abort_incomplete_rule(self, days: int) -> bool:
        """Put (or update) the bucket lifecycle rule that aborts multipart uploads `days` after they started,
        keeping other rules; False if the server refuses it (MinIO: it expires stale uploads on its own)."""
        try:
            current = self.client.get_bucket_lifecycle_configuration(Bucket=self.bucket).get("Rules", [])
        except Exception as exc:
            if getattr(exc, "response", {}).get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
                raise StorageError(f"S3 lifecycle read failed: {type(exc).__name__}") from exc
            current = []
        rule = {"ID": LIFECYCLE_RULE_ID, "Status": "Enabled", "Filter": {"Prefix": ""},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": max(1, days)}}
        rules = [r for r in current if r.get("ID") != LIFECYCLE_RULE_ID] + [rule]
        try:
            self.client.put_bucket_lifecycle_configuration(Bucket=self.bucket,
                                                           LifecycleConfiguration={"Rules": rules})
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("InvalidArgument", "MalformedXML", "NotImplemented", "InvalidRequest"):
                log.warning("the S3 server refused the AbortIncompleteMultipartUpload rule (%s)", code)
                return False
            raise StorageError(f"S3 lifecycle update failed: {type(exc).__name__}") from exc
        return True

    def open_writer(self, key: str, content_type: str) -> _S3Writer:
        """Start writing an object (multipart above one part)."""
        return _S3Writer(self, key, content_type)

    def open_resumable(self, key: str, content_type: str, state: dict[str, Any]) -> _S3Resumable:
        """Continue (or start) a multipart upload fed across requests (tus)."""
        return _S3Resumable(self, key, content_type, state)

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

    def iter_objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under a prefix in key order, page by page, with size and LastModified."""
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for o in page.get("Contents", []):
                    yield ObjectInfo(o["Key"], int(o.get("Size", 0)), o["LastModified"])
        except Exception as exc:
            raise StorageError(f"S3 list failed: {type(exc).__name__}") from exc

    def unfinished_uploads(self) -> Iterator[Unfinished]:
        """Multipart uploads neither completed nor aborted, with their Initiated time.

        MinIO lists multipart uploads only for an exact object name, so there this finds nothing: MinIO
        purges stale uploads itself (MINIO_API_STALE_UPLOADS_EXPIRY, deploy/README.md). moto reports one
        fixed Initiated date for every upload.
        """
        try:
            for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket):
                for up in page.get("Uploads", []):
                    yield Unfinished(up["Key"], up["UploadId"], up["Initiated"])
        except Exception as exc:
            raise StorageError(f"S3 list of multipart uploads failed: {type(exc).__name__}") from exc

    def abort_upload(self, upload: Unfinished) -> None:
        """Abort a multipart upload (its parts are deleted); one already gone is fine."""
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload.key, UploadId=upload.upload_id)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code not in ("NoSuchUpload", "404"):
                raise StorageError(f"S3 abort failed: {type(exc).__name__}") from exc

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
        return str(self.presign_client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires))

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
            self.slow_client.upload_file(str(path), self.bucket, check_key(key),
                                         ExtraArgs={"ContentType": content_type}, Config=cfg)
        except Exception as exc:
            raise StorageError(f"S3 upload failed: {type(exc).__name__}") from exc
        return path.stat().st_size

    def check(self) -> None:
        """Raise if the bucket is not reachable."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            raise StorageError(f"bucket {self.bucket} unreachable: {type(exc).__name__}") from exc


