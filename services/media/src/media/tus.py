"""Resumable uploads: the tus 1.0 protocol (core, creation, termination, expiration) over the streaming storage.

Creation admits the upload whole before any byte exists (rate, kind, size, the caller's right on the show, the
quota for its full `Upload-Length`). A PATCH streams its body to a spool file (`MEDIA_TUS_DIR`) that never
holds more than a few storage parts: each time it fills one part (S3: the part size, >= 5 MiB; local: 1 MiB) the
part goes to storage (an S3 multipart part, or an append to the partial file) while the next one is read. The
first bytes are sniffed before the first part is stored. Bytes short of a whole part wait in the spool between
requests, so a client may send chunks of any size. A dropped connection keeps what arrived: HEAD reports it.
When the last byte arrives the object is completed and the upload becomes a media item, queued like any other.

`tuspyserver` exists but stores whole files on local disk and copies them afterwards: storing parts as they
arrive (S3 multipart) is the point here, so this small core is our own.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from media.exceptions import (
    BadTusRequest,
    OffsetMismatch,
    StorageUnavailable,
    TusVersionUnsupported,
    UnsupportedMedia,
    UploadLocked,
    UploadTooLarge,
)
from media.processing.sniff import SNIFF_BYTES, Sniffed, allowed_for, sniff
from media.storage import Resumable, Storage, StorageError
from media.upload import KIND_NAMES

log = logging.getLogger("media.tus")

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination,expiration"
OFFSET_TYPE = "application/offset+octet-stream"
WRITE_BATCH = 1024 * 1024  # bytes gathered from the socket before one write to the spool file
MAX_METADATA_BYTES = 16 * 1024
HASHERS_KEPT = 1024


def tus_headers(**extra: str) -> dict[str, str]:
    """Headers of every tus response (never cached: offsets change)."""
    return {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store", **extra}


def check_resumable(value: str | None) -> None:
    """Every tus request but OPTIONS names the protocol version: 412 unless it is 1.0.0."""
    if value != TUS_VERSION:
        raise TusVersionUnsupported(headers={"Tus-Version": TUS_VERSION})


def parse_metadata(raw: str | None) -> dict[str, str]:
    """`Upload-Metadata`: comma-separated `key base64(value)` pairs (a key alone means an empty value)."""
    if not raw:
        return {}
    if len(raw) > MAX_METADATA_BYTES:
        raise BadTusRequest("Upload-Metadata is too long.", code="bad_metadata")
    out: dict[str, str] = {}
    for pair in raw.split(","):
        parts = pair.strip().split(" ")
        key = parts[0]
        if not key or len(parts) > 2 or not key.isascii() or key in out:
            raise BadTusRequest("Upload-Metadata must be comma-separated `key base64value` pairs with unique keys.",
                                code="bad_metadata")
        try:
            out[key] = base64.b64decode(parts[1], validate=True).decode("utf-8") if len(parts) == 2 else ""
        except (binascii.Error, UnicodeDecodeError):
            raise BadTusRequest(f"The Upload-Metadata value of `{key}` is not base64 of UTF-8 text.",
                                code="bad_metadata") from None
    return out


def parse_size(value: str | None, header: str) -> int:
    """A non-negative integer header (Upload-Length, Upload-Offset): 400 when missing or not a number."""
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > 19:
        raise BadTusRequest(f"Send {header} as a non-negative integer.", code="bad_header")
    return int(value)


class Hashers:
    """SHA-256 of uploads in progress, kept in this process between PATCH requests (hash state cannot be
    stored). A PATCH continues the hash only when it starts exactly where the hash stopped; otherwise (another
    replica, a restart, a lost tail) the finished object is read back once to hash it."""

    def __init__(self, keep: int = HASHERS_KEPT) -> None:
        self.keep = keep
        self._items: OrderedDict[str, tuple[int, Any]] = OrderedDict()

    def take(self, upload_id: str, offset: int) -> Any | None:
        """The hash of the first `offset` bytes, if this process has it (removed until `put` back)."""
        if offset == 0:
            self._items.pop(upload_id, None)
            return hashlib.sha256()
        entry = self._items.pop(upload_id, None)
        return entry[1] if entry is not None and entry[0] == offset else None

    def put(self, upload_id: str, offset: int, hasher: Any) -> None:
        """Keep the hash of the first `offset` bytes."""
        self._items[upload_id] = (offset, hasher)
        while len(self._items) > self.keep:
            self._items.popitem(last=False)

    def forget(self, upload_id: str) -> None:
        """Drop an upload's hash (finished or terminated)."""
        self._items.pop(upload_id, None)


class Locks:
    """One PATCH at a time per upload in this process: a second one gets 423 (clients retry)."""

    def __init__(self) -> None:
        self._held: set[str] = set()

    @contextlib.contextmanager
    def hold(self, upload_id: str) -> Any:
        """Hold the upload's lock, or raise 423."""
        if upload_id in self._held:
            raise UploadLocked()
        self._held.add(upload_id)
        try:
            yield
        finally:
            self._held.discard(upload_id)


def spool_path(spool: Path, upload_id: str) -> Path:
    """The spool file of an upload: bytes received but not yet stored as a whole part."""
    return spool / f"{upload_id}.tail"


def discard_spool(spool: Path, upload_id: str) -> None:
    """Remove an upload's spool files."""
    for path in spool.glob(f"{upload_id}.*"):
        path.unlink(missing_ok=True)


def prune_spool(spool: Path, *, older_than_s: float) -> int:
    """Remove spool files untouched for longer than any upload lives (their upload expired elsewhere)."""
    if not spool.is_dir():
        return 0
    limit = time.time() - older_than_s
    removed = 0
    for path in spool.iterdir():
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < limit:
                path.unlink()
                removed += 1
    return removed


@dataclass
class TusUploadInfo:
    """What a PATCH needs to know about its upload (a snapshot of the row)."""

    id: str
    kind: str
    length: int
    offset: int
    prefix: str
    key: str | None
    content_type: str | None
    format: str | None
    state: dict[str, Any]
    media_id: int | None


@dataclass
class PatchResult:
    """Where a PATCH left its upload."""

    offset: int
    state: dict[str, Any]
    sniffed: Sniffed | None
    key: str | None
    complete: bool
    sha256: str | None  # of the whole object, when complete and hashed on the way
    interrupted: bool = False
    error: BaseException | None = None


def current_offset(storage: Storage, info: TusUploadInfo, spool: Path) -> tuple[int, Resumable | None]:
    """The bytes held: parts stored plus the spooled tail (a tail lost with its machine counts as never sent)."""
    resumable = storage.open_resumable(info.key, info.content_type or "", info.state) if info.key else None
    stored = resumable.stored() if resumable is not None else 0
    tail = spool_path(spool, info.id)
    try:
        tail_size = tail.stat().st_size
    except FileNotFoundError:
        tail_size = 0
    if stored + tail_size > info.length:  # cannot happen unless the files were tampered with
        tail.unlink(missing_ok=True)
        tail_size = 0
    return stored + tail_size, resumable


@dataclass
class _Patch:
    """One PATCH request's work: append to the spool, cut whole parts, send them (a bounded number at once)."""

    info: TusUploadInfo
    storage: Storage
    spool: Path
    offset: int
    resumable: Resumable | None
    hasher: Any | None
    sniffed: Sniffed | None = None
    key: str | None = None
    pending: list[tuple[Future[dict[str, Any]], Path]] = field(default_factory=list)
    next_number: int = 1
    cut: int = 0

    def __post_init__(self) -> None:
        self.tail = spool_path(self.spool, self.info.id)
        self.tail_size = self.tail.stat().st_size if self.tail.exists() else 0
        self.key = self.info.key
        if self.info.format and self.info.content_type and self.key:
            ext = self.key.rsplit(".", 1)[-1]
            self.sniffed = Sniffed(self.info.kind, self.info.format, self.info.content_type, ext)  # type: ignore[arg-type]
        if self.resumable is not None:
            self.next_number = len(self.resumable.state().get("parts", [])) + 1

    # ---- blocking steps (threadpool)

    def write(self, data: bytes) -> None:
        """Append to the spool file up to each part boundary (a full spool file becomes the part as it is, no
        copy); sniff the head before the first part; send whole parts."""
        view = memoryview(data)
        while view:
            room = len(view)
            if self.resumable is not None and self.tail_size < self.resumable.part_size:
                room = min(room, self.resumable.part_size - self.tail_size)
            with self.tail.open("ab") as fh:
                fh.write(view[:room])
            view = view[room:]
            self.tail_size += room
            self.offset += room
            if self.sniffed is None and (self.tail_size >= SNIFF_BYTES or self.offset == self.info.length):
                self._sniff()
            self._cut_parts()

    def _sniff(self) -> None:
        with self.tail.open("rb") as fh:
            found = sniff(fh.read(SNIFF_BYTES))
        if not allowed_for(self.info.kind, found):
            raise UnsupportedMedia(f"This file is not one of the allowed {KIND_NAMES[self.info.kind]}.")
        assert found is not None
        self.sniffed = found
        self.key = f"{self.info.prefix}/original.{found.ext}"
        self.resumable = self.storage.open_resumable(self.key, found.mime, {})

    def _cut_parts(self) -> None:
        resumable = self.resumable
        if resumable is None:
            return
        while self.tail_size >= resumable.part_size:
            self._collect(resumable, resumable.max_in_flight - 1)
            if self.cut == 0:
                resumable.begin()
            part = self.spool / f"{self.info.id}.part{self.next_number}"
            if self.tail_size == resumable.part_size:  # the usual case: the spool file is the part
                os.replace(self.tail, part)
                self.tail_size = 0
                self._send(resumable, part)
                continue
            with self.tail.open("rb") as src, part.open("wb") as out:
                remaining = resumable.part_size
                while remaining:
                    data = src.read(min(remaining, WRITE_BATCH))
                    if not data:
                        break
                    out.write(data)
                    remaining -= len(data)
                rest = self.spool / f"{self.info.id}.rest"
                with rest.open("wb") as keep:
                    while data := src.read(WRITE_BATCH):
                        keep.write(data)
            os.replace(rest, self.tail)
            self.tail_size -= resumable.part_size
            self._send(resumable, part)

    def _send(self, resumable: Resumable, part: Path) -> None:
        future = _PARTS.submit(resumable.put_part, self.next_number, part)
        self.pending.append((future, part))
        self.next_number += 1
        self.cut += 1

    def _collect(self, resumable: Resumable, keep: int) -> None:
        """Record finished parts in order; wait until at most `keep` are still in flight."""
        while self.pending:
            future, path = self.pending[0]
            if not future.done() and len(self.pending) <= keep:
                return
            try:
                resumable.add_part(future.result())
            finally:
                path.unlink(missing_ok=True)
                self.pending.pop(0)

    def settle(self) -> None:
        """Wait for the parts in flight. A failed part loses it and what followed (the client resends)."""
        resumable = self.resumable
        if resumable is None or not self.pending:
            return
        try:
            self._collect(resumable, 0)
        except BaseException:
            for future, path in self.pending:
                future.cancel()
                with contextlib.suppress(Exception):
                    future.result()
                path.unlink(missing_ok=True)
            self.pending = []
            self.tail.unlink(missing_ok=True)
            self.tail_size = 0
            self.offset = resumable.stored()
            self.hasher = None
            raise

    def complete(self) -> int:
        """The last byte is here: store the tail as the last part and assemble the object."""
        assert self.resumable is not None
        self.settle()
        if self.cut == 0:  # no part went out in this request: begin (and reconcile) before the last one
            self.resumable.begin()
        size = self.resumable.complete(self.tail if self.tail_size else None)
        self.tail.unlink(missing_ok=True)
        return size


class _Pool:
    """Threads that send parts (created on first use)."""

    def __init__(self) -> None:
        self._pool: Any = None

    def submit(self, fn: Callable[..., dict[str, Any]], *args: Any) -> Future[dict[str, Any]]:
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="tus-part")
        return self._pool.submit(fn, *args)  # type: ignore[no-any-return]


_PARTS = _Pool()


async def _blocking(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return await run_in_threadpool(fn, *args)
    except StorageError as exc:
        log.warning("storage failed during a resumable upload: %s (%r)", exc, exc.__cause__)
        raise StorageUnavailable() from exc


async def receive_patch(request: Request, info: TusUploadInfo, storage: Storage, spool: Path,
                        hashers: Hashers, declared: int | None) -> PatchResult:
    """Append the PATCH body at `Upload-Offset`; keeps what arrived when the client goes away mid-body."""
    await run_in_threadpool(lambda: spool.mkdir(parents=True, exist_ok=True))
    offset, resumable = await _blocking(current_offset, storage, info, spool)
    asked = parse_size(request.headers.get("upload-offset"), "Upload-Offset")
    if asked != offset:
        raise OffsetMismatch(headers={"Upload-Offset": str(offset)})
    if declared is not None and offset + declared > info.length:
        raise UploadTooLarge("The chunk goes past the Upload-Length declared at creation.")
    patch = _Patch(info, storage, spool, offset, resumable, hashers.take(info.id, offset))
    buf = bytearray()
    error: BaseException | None = None
    interrupted = False
    try:
        async for chunk in request.stream():
            if not chunk:
                continue
            if patch.offset + len(buf) + len(chunk) > info.length:
                raise UploadTooLarge("The upload is longer than the Upload-Length declared at creation.")
            if patch.hasher is not None:
                patch.hasher.update(chunk)
            buf += chunk
            if len(buf) >= WRITE_BATCH:
                data, buf = bytes(buf), bytearray()
                await _blocking(patch.write, data)
    except ClientDisconnect:
        interrupted = True  # keep what arrived: the client asks HEAD and resumes from there
    except BaseException as exc:
        error = exc
    if buf and not isinstance(error, UnsupportedMedia):
        try:
            await _blocking(patch.write, bytes(buf))
        except BaseException as exc:
            error = error or exc
    try:
        await _blocking(patch.settle)
    except BaseException as exc:
        error = error or exc
    complete = error is None and not interrupted and patch.offset == info.length
    sha = None
    if complete:
        try:
            await _blocking(patch.complete)
        except BaseException as exc:
            error, complete = exc, False
        else:
            sha = patch.hasher.hexdigest() if patch.hasher is not None else None
    if patch.hasher is not None and not complete and error is None:
        hashers.put(info.id, patch.offset, patch.hasher)
    state = patch.resumable.state() if patch.resumable is not None else {}
    return PatchResult(offset=patch.offset, state=state, sniffed=patch.sniffed, key=patch.key, complete=complete,
                       sha256=sha, interrupted=interrupted, error=error)


def hash_object(storage: Storage, key: str) -> str:
    """SHA-256 of a stored object, read back (when no process saw the whole upload go by)."""
    hasher = hashlib.sha256()
    for chunk in storage.open_range(key):
        hasher.update(chunk)
    return hasher.hexdigest()

