"""Serving stored objects: single Range requests (206/416), ETag/304, safe headers, presigned redirects."""

from __future__ import annotations

import re
from collections.abc import Iterator

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from media.exceptions import MediaNotFound, RangeNotSatisfiable, StorageUnavailable
from media.models import MediaItem
from media.service import ServedObject
from media.storage import ObjectMissing, Storage, StorageError, content_disposition

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end) inclusive of a single `bytes=` range; None to send everything; 416 if unsatisfiable."""
    if not header:
        return None
    m = _RANGE.match(header.strip().replace(" ", ""))
    if m is None:
        return None  # multiple or malformed ranges: RFC 9110 lets us answer with the full body
    first, last = m.group(1), m.group(2)
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise _unsatisfiable(size)
        return max(0, size - n), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or (last and end < start):
        raise _unsatisfiable(size)
    return start, min(end, size - 1)


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})


def _etag(item: MediaItem, obj: ServedObject, size: int) -> str:
    return f'"{item.sha256[:32]}-{obj.variant}-{size}"'


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


def _guarded(chunks: Iterator[bytes]) -> Iterator[bytes]:
    # Errors after the headers went out can only cut the connection; never leak a trace.
    try:
        yield from chunks
    except StorageError:
        return


def serve_object(
    request: Request, storage: Storage, item: MediaItem, obj: ServedObject, *, max_age: int,
    redirect: bool = False, presign_expires: int = 300,
) -> Response:
    """Stream one object (or redirect to a presigned URL) with Range, ETag and protective headers."""
    size = obj.size
    etag = _etag(item, obj, size)
    headers = {
        "ETag": etag,
        "Cache-Control": f"private, max-age={max_age}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Content-Disposition": content_disposition(obj.filename or "media"),
        "Accept-Ranges": "bytes",
        "Vary": "Authorization, Cookie",
    }
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    if redirect:
        url = storage.presigned_get(obj.key, presign_expires, filename=obj.filename, content_type=obj.content_type)
        if url:
            return RedirectResponse(url, status_code=307, headers={"Cache-Control": "private, no-store"})
    rng_header = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if if_range and if_range.strip() != etag:
        rng_header = None
    rng = parse_range(rng_header, size)
    start, end = rng if rng is not None else (0, size - 1)
    try:
        chunks = storage.open_range(obj.key, start, end) if size else iter(())
    except ObjectMissing:
        raise MediaNotFound("The file of this item is missing.") from None
    except StorageError as exc:
        raise StorageUnavailable() from exc
    headers["Content-Length"] = str(max(0, end - start + 1))
    status = 200
    if rng is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(_guarded(chunks), status_code=status, headers=headers, media_type=obj.content_type)
