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
from datetime import UTC, datetime
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


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """A stored object as a listing shows it."""

    key: str
    size: int
    modified: datetime


@dataclass(frozen=True, slots=True)
class Unfinished:
    """An upload that was started and neither completed nor aborted (S3 multipart, local partial file)."""

    key: str
    upload_id: str
    started: datetime  # S3: Initiated (not every server reports it truly); local: the last write


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


class Resumable(Protocol):
    """An object assembled from parts across requests (tus): S3 multipart parts, or appends to a partial file.

    `state` is JSON the caller keeps between requests; parts are whole `part_size` files except the last,
    numbered from 1 in order; `put_part` may run in `max_in_flight` threads at once, `add_part` records the
    results in order (only what is recorded counts as stored).
    """

    part_size: int
    max_in_flight: int

    def stored(self) -> int: ...
    def state(self) -> dict[str, Any]: ...
    def begin(self) -> None: ...
    def put_part(self, number: int, path: Path) -> dict[str, Any]: ...
    def add_part(self, part: dict[str, Any]) -> None: ...
    def complete(self, last: Path | None) -> int: ...
    def abort(self) -> None: ...


class Storage(Protocol):
    """What the media service needs from an object store."""

    def open_writer(self, key: str, content_type: str) -> Writer: ...
    def open_resumable(self, key: str, content_type: str, state: dict[str, Any]) -> Resumable: ...
    def put_stream(self, key: str, chunks: Iterable[bytes], content_type: str) -> int: ...
    def open_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]: ...
    def stat(self, key: str) -> ObjectStat | None: ...
    def delete_prefix(self, prefix: str) -> int: ...
    def list(self, prefix: str) -> list[str]: ...
    def iter_objects(self, prefix: str = "") -> Iterator[ObjectInfo]: ...
    def unfinished_uploads(self) -> Iterator[Unfinished]: ...
    def abort_upload(self, upload: Unfinished) -> None: ...
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


PARTIAL_PREFIX = ".upload-"  # a local object being written (the S3 twin is an unfinished multipart upload)


class _LocalWriter:
    """Writes to a temp file next to the target; commit renames it into place (atomic)."""

    def __init__(self, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        self.target = target
        fd, tmp = tempfile.mkstemp(prefix=PARTIAL_PREFIX, dir=target.parent)
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


class _LocalResumable:
    """Parts appended one by one to a partial file next to the target; complete renames it into place."""

    max_in_flight = 1  # appends are sequential

    def __init__(self, target: Path, part_size: int, state: dict[str, Any]) -> None:
        self.target = target
        self.partial = target.parent / f"{PARTIAL_PREFIX}tus-{target.name}"
        self.part_size = part_size
        self.parts: list[dict[str, Any]] = list(state.get("parts", []))

    def _reconcile(self) -> None:
        # Only the writer holding the upload calls this (begin/complete), never a reader (HEAD): a part being
        # appended right now is not recorded yet and must not be cut off.
        stored = self.stored()
        size = self.partial.stat().st_size if self.partial.exists() else 0
        if size < stored:
            raise StorageError(f"the partial file of {self.target.name} lost bytes")
        if size > stored:  # a process died in the middle of an append: drop what was not recorded
            with self.partial.open("r+b") as fh:
                fh.truncate(stored)

    def stored(self) -> int:
        return sum(int(p["Size"]) for p in self.parts)

    def state(self) -> dict[str, Any]:
        return {"parts": list(self.parts)}

    def begin(self) -> None:
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        self._reconcile()

    def put_part(self, number: int, path: Path) -> dict[str, Any]:
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        with path.open("rb") as src, self.partial.open("ab") as out:
            shutil.copyfileobj(src, out, READ_CHUNK)
            size = src.tell()
        return {"PartNumber": number, "Size": size}

    def add_part(self, part: dict[str, Any]) -> None:
        self.parts.append(part)

    def complete(self, last: Path | None) -> int:
        if last is not None and last.stat().st_size:
            self.add_part(self.put_part(len(self.parts) + 1, last))
        with self.partial.open("ab") as fh:  # created if the object is empty
            os.fsync(fh.fileno())
        os.replace(self.partial, self.target)
        return self.stored()

    def abort(self) -> None:
        self.partial.unlink(missing_ok=True)
        _prune_empty(self.target.parent)


class LocalStorage:
    """Objects as files under a root folder; keys are validated so nothing escapes the root."""

    # parts of a resumable upload are appended as they come: a small part keeps the spooled tail small
    resumable_part_size = 1024 * 1024

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

    def open_resumable(self, key: str, content_type: str, state: dict[str, Any]) -> _LocalResumable:
        """Continue (or start) an object assembled from parts across requests."""
        return _LocalResumable(self._path(key), self.resumable_part_size, state)

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

    def iter_objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under a prefix in key order (temp files excluded), with size and modification time."""
        base = self.root if not prefix else self._path(prefix.rstrip("/"))
        for folder, dirs, files in os.walk(base):
            dirs.sort()
            for name in sorted(files):
                if name.startswith("."):
                    continue
                path = Path(folder) / name
                try:
                    st = path.stat()
                except FileNotFoundError:  # deleted meanwhile
                    continue
                yield ObjectInfo(str(path.relative_to(self.root)), st.st_size,
                                 datetime.fromtimestamp(st.st_mtime, UTC))

    def unfinished_uploads(self) -> Iterator[Unfinished]:
        """Partial files of writers that have not committed (or died), with their last write time."""
        for folder, dirs, files in os.walk(self.root):
            dirs.sort()
            for name in sorted(files):
                if not name.startswith(PARTIAL_PREFIX):
                    continue
                path = Path(folder) / name
                try:
                    written = datetime.fromtimestamp(path.stat().st_mtime, UTC)  # a live writer keeps touching it
                except FileNotFoundError:  # committed or aborted meanwhile
                    continue
                rel = str(path.relative_to(self.root))
                yield Unfinished(rel, rel, written)

    def abort_upload(self, upload: Unfinished) -> None:
        """Remove a partial file (and its folder if nothing else is in it)."""
        path = (self.root / upload.upload_id).resolve()
        if not path.is_relative_to(self.root) or not path.name.startswith(PARTIAL_PREFIX):
            raise ValueError(f"not a partial upload: {upload.upload_id!r}")
        path.unlink(missing_ok=True)
        _prune_empty(path.parent)
        if path.parent.parent != self.root:
            _prune_empty(path.parent.parent)

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


def content_disposition(filename: str, disposition: str = "inline") -> str:
    """RFC 6266 header value with an ASCII fallback and the RFC 5987 UTF-8 name."""
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in filename) or "file"
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def make_storage(settings: MediaSettings) -> Storage:
    """The storage the settings select (MEDIA_STORAGE=local|s3)."""
    if settings.storage == "s3":
        from media.storage_s3 import S3Storage

        return S3Storage(settings)
    return LocalStorage(settings.objects_dir)


def new_prefix(kind: str, user_id: int) -> str:
    """A fresh server-made prefix `{kind}/{user_id}/{uuid}` for one media item."""
    return f"{kind}/{int(user_id)}/{uuid.uuid4().hex}"
