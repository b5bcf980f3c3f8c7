"""Streaming multipart receiver: fields first, then the file piped to storage in parts while hashing.

Nothing of the file is stored before the upload is admitted: when the file part begins, `start` is
called with the form fields read so far and must authorize the caller on the show and reserve quota
(the show comes from the URL, an `X-Show-Id` header, or a `show_id` field sent before the file; a file
with no show known yet is refused). While the file streams, `grow` extends the reservation before more
bytes are written. Memory stays bounded by one storage part.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from media.exceptions import BadUpload, StorageUnavailable, UnsupportedMedia, UploadTooLarge
from media.processing.sniff import SNIFF_BYTES, Sniffed, allowed_for, sniff
from media.storage import Storage, StorageError, Writer
from shared.errors import ValidationFailed
from shared.limits import MULTIPART_SLACK

log = logging.getLogger("media.upload")
MAX_PART_HEADER_BYTES = 64 * 1024  # headers and small fields on top of the file itself
KIND_NAMES = {"photo": "photos (JPEG, PNG, GIF, WebP, HEIC)", "audio": "audio (MP3, WAV, OGG/Opus, M4A/AAC, FLAC)",
              "video": "videos (MP4/MOV, MKV, WebM, AVI)"}


@dataclass
class UploadPolicy:
    """Limits of one upload endpoint."""

    kind: str
    max_bytes: int
    file_fields: frozenset[str]
    max_fields: int = 10
    max_field_bytes: int = 16 * 1024
    flush_bytes: int = 1024 * 1024


@dataclass
class Received:
    """A file stored under `key`, with what the stream told us about it."""

    fields: dict[str, str]
    filename: str
    size: int
    sha256: str
    sniffed: Sniffed
    prefix: str
    key: str


# start(fields) -> (storage prefix, bytes granted): authorizes and reserves before any byte is stored
Start = Callable[[dict[str, str]], Awaitable[tuple[str, int]]]
# grow(size) -> bytes granted (at least `size`), or raises 413 when the quota is full
Grow = Callable[[int], Awaitable[int]]


def sanitize_filename(raw: str, fallback_ext: str = "", limit: int = 255) -> str:
    """A display name: no path, control, format (bidi, zero-width) characters; at most `limit` UTF-8 bytes."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co", "Cn"))
    name = " ".join(name.split()).strip(" .")
    if not name:
        name = f"upload.{fallback_ext}" if fallback_ext else "upload"
    if len(name.encode()) > limit:
        stem, dot, ext = name.rpartition(".")
        tail = f".{ext}" if dot and 0 < len(ext.encode()) <= 16 else ""
        base = stem if tail else name
        budget = limit - len(tail.encode())
        base = base.encode()[:budget].decode("utf-8", "ignore")
        name = base + tail
    return name


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    is_file: bool = False


class _FileSink:
    """Receives the file part: sniff the head, then hash, count and forward to storage in parts."""

    def __init__(self, policy: UploadPolicy, storage: Storage, granted: int, grow: Grow) -> None:
        self.policy = policy
        self.storage = storage
        self.granted = granted
        self.grow = grow
        self.head = bytearray()
        self.buf = bytearray()
        self.hash = hashlib.sha256()
        self.size = 0
        self.sniffed: Sniffed | None = None
        self.writer: Writer | None = None
        self.key = ""

    def _decide(self) -> Sniffed:
        if self.size == 0:
            raise ValidationFailed("The file is empty.", field="file")
        found = sniff(bytes(self.head))
        if not allowed_for(self.policy.kind, found):
            raise UnsupportedMedia(f"This file is not one of the allowed {KIND_NAMES[self.policy.kind]}.")
        assert found is not None
        return found

    async def feed(self, data: bytes, prefix: str) -> None:
        self.size += len(data)
        if self.size > self.policy.max_bytes:
            raise UploadTooLarge(f"The file is larger than the {self.policy.max_bytes // 1_000_000} MB allowed.")
        if self.size > self.granted:  # more room first (a chunked upload), or 413 before it is written
            self.granted = await self.grow(self.size)
        self.hash.update(data)
        if self.writer is None:
            self.head += data
            if len(self.head) < SNIFF_BYTES:
                return
            await self._open(prefix)
            data, self.head = bytes(self.head), bytearray()
        self.buf += data
        if len(self.buf) >= self.policy.flush_bytes:
            chunk, self.buf = bytes(self.buf), bytearray()
            await _storage_call(self.writer.write, chunk)  # type: ignore[union-attr]

    async def _open(self, prefix: str) -> None:
        self.sniffed = self._decide()
        self.key = f"{prefix}/original.{self.sniffed.ext}"
        self.writer = await _storage_call(self.storage.open_writer, self.key, self.sniffed.mime)

    async def finish(self, prefix: str) -> int:
        if self.writer is None:
            await self._open(prefix)
            self.buf, self.head = self.head, bytearray()
        assert self.writer is not None
        if self.buf:
            chunk, self.buf = bytes(self.buf), bytearray()
            await _storage_call(self.writer.write, chunk)
        size: int = await _storage_call(self.writer.commit)
        self.writer = None
        return size

    async def abort(self) -> None:
        if self.writer is not None:
            writer, self.writer = self.writer, None
            with contextlib.suppress(Exception):
                await run_in_threadpool(writer.abort)


async def _storage_call(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return await run_in_threadpool(fn, *args)
    except StorageError as exc:
        log.warning("storage failed during an upload: %s (%r)", exc, exc.__cause__)
        raise StorageUnavailable() from exc


def _boundary(request: Request) -> bytes:
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise BadUpload("Send the upload as multipart/form-data.")
    boundary = params[b"boundary"]
    if len(boundary) > 200:
        raise BadUpload("The multipart boundary is too long.")
    return boundary


def _check_length(request: Request, policy: UploadPolicy) -> None:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > policy.max_bytes + MULTIPART_SLACK:
        raise UploadTooLarge(f"The file is larger than the {policy.max_bytes // 1_000_000} MB allowed.")


class _Events:
    """Collects the synchronous parser callbacks so the async loop can act on them in order."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []
        self.hfield = bytearray()
        self.hvalue = bytearray()

    def callbacks(self) -> dict[str, Any]:
        def header_end() -> None:
            self.items.append(("header", (bytes(self.hfield), bytes(self.hvalue))))
            self.hfield.clear()
            self.hvalue.clear()

        return {
            "on_part_begin": lambda: self.items.append(("begin", None)),
            "on_part_data": lambda d, s, e: self.items.append(("data", bytes(d[s:e]))),
            "on_part_end": lambda: self.items.append(("end", None)),
            "on_header_field": lambda d, s, e: self.hfield.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self.hvalue.extend(d[s:e]),
            "on_header_end": header_end,
            "on_headers_finished": lambda: self.items.append(("headers_done", None)),
        }

    def drain(self) -> list[tuple[str, Any]]:
        out, self.items = self.items, []
        return out


def declared_length(request: Request) -> int | None:
    """The request's Content-Length (an upper bound of the file), None for a chunked body."""
    length = request.headers.get("content-length", "")
    if "transfer-encoding" in request.headers or not (length.isascii() and length.isdigit()):
        return None
    return int(length)


def check_request(request: Request, policy: UploadPolicy) -> None:
    """What can be refused before the body is read: not multipart, or a declared length over the limit."""
    _boundary(request)
    _check_length(request, policy)


async def receive_upload(request: Request, policy: UploadPolicy, storage: Storage, start: Start,
                         grow: Grow) -> Received:
    """Parse the multipart body as it arrives and store its single file; raises 4xx/503 ServiceErrors."""
    _check_length(request, policy)
    events = _Events()
    # Long client file names (kept only as sanitised display names) must not fail the upload; 64 KiB bounds it.
    parser = MultipartParser(_boundary(request), events.callbacks(), max_header_count=16,
                             max_header_size=MAX_PART_HEADER_BYTES)
    state = _Receiver(policy, storage, start, grow)
    try:
        async for chunk in request.stream():
            if chunk:
                try:
                    parser.write(chunk)
                except Exception as exc:  # python-multipart's MultipartParseError and friends
                    raise BadUpload("The multipart body is malformed.") from exc
                await state.handle(events.drain())
        try:
            parser.finalize()
        except Exception as exc:
            raise BadUpload("The multipart body is malformed.") from exc
        await state.handle(events.drain())
        return await state.result()
    except ClientDisconnect:
        await state.cleanup()
        raise BadUpload("The upload was interrupted.") from None
    except BaseException:
        await state.cleanup()
        raise


class _Receiver:
    """The upload's state machine over parser events."""

    def __init__(self, policy: UploadPolicy, storage: Storage, start: Start, grow: Grow) -> None:
        self.policy = policy
        self.storage = storage
        self.start = start
        self.grow = grow
        self.fields: dict[str, str] = {}
        self.field_count = 0
        self.part: _Part | None = None
        self.value = bytearray()
        self.sink: _FileSink | None = None
        self.prefix: str | None = None
        self.filename = ""
        self.file_done = False
        self.stored_size = 0

    async def handle(self, items: list[tuple[str, Any]]) -> None:
        for kind, payload in items:
            if kind == "begin":
                self.part = _Part()
                self.value = bytearray()
            elif kind == "header":
                assert self.part is not None
                name, value = payload
                self.part.headers[name.decode("latin-1").lower()] = value.decode("latin-1")
            elif kind == "headers_done":
                await self._start_part()
            elif kind == "data":
                await self._data(payload)
            elif kind == "end":
                await self._end_part()

    async def _start_part(self) -> None:
        part = self.part
        assert part is not None
        _, params = parse_options_header(part.headers.get("content-disposition", ""))
        part.name = params.get(b"name", b"").decode("utf-8", "replace")
        raw_filename = params.get(b"filename")
        part.filename = raw_filename.decode("utf-8", "replace") if raw_filename is not None else None
        part.is_file = part.filename is not None or part.name in self.policy.file_fields
        if not part.is_file:
            self.field_count += 1
            if self.field_count > self.policy.max_fields:
                raise BadUpload("Too many form fields.")
            return
        if self.sink is not None or self.file_done:
            raise BadUpload("Send exactly one file per upload.")
        if part.name not in self.policy.file_fields:
            raise BadUpload(f"Send the file in the `{sorted(self.policy.file_fields)[0]}` field.")
        self.filename = part.filename or ""
        # Admission (show, rights, quota) before one byte of the file is stored.
        self.prefix, granted = await self.start(dict(self.fields))
        self.sink = _FileSink(self.policy, self.storage, granted, self.grow)

    async def _data(self, data: bytes) -> None:
        part = self.part
        assert part is not None
        if not part.is_file:
            self.value += data
            if len(self.value) > self.policy.max_field_bytes:
                raise UploadTooLarge(f"The form field `{part.name}` is too long.")
            return
        assert self.sink is not None and self.prefix is not None
        await self.sink.feed(data, self.prefix)

    async def _end_part(self) -> None:
        part = self.part
        assert part is not None
        self.part = None
        if not part.is_file:
            if part.name and part.name not in self.fields:
                self.fields[part.name] = self.value.decode("utf-8", "replace")
            return
        self.file_done = True
        assert self.sink is not None and self.prefix is not None
        self.stored_size = await self.sink.finish(self.prefix)

    async def result(self) -> Received:
        if not self.file_done or self.sink is None:
            raise ValidationFailed("Attach the file to upload.", field="file")
        sink = self.sink
        assert sink.sniffed is not None and self.prefix is not None
        return Received(
            fields=self.fields,
            filename=sanitize_filename(self.filename, sink.sniffed.ext),
            size=self.stored_size,
            sha256=sink.hash.hexdigest(),
            sniffed=sink.sniffed,
            prefix=self.prefix,
            key=sink.key,
        )

    async def cleanup(self) -> None:
        if self.sink is not None:
            await self.sink.abort()
        if self.prefix is not None and self.file_done:
            # The original was stored but a later step failed: nothing may stay behind.
            with contextlib.suppress(Exception):
                await run_in_threadpool(self.storage.delete_prefix, self.prefix)
