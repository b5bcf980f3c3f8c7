"""Media domain logic: who may do what, registering uploads, choosing what to serve, deleting."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from media import repository as repo
from media.clients import ShowAccess, ShowsAccess
from media.config import MediaSettings
from media.exceptions import (
    MediaNotFound,
    NotAllowed,
    NotReady,
    ProcessingFailed,
    QuotaExceeded,
    ShowIdFirst,
    ShowNotFound,
    StorageUnavailable,
    UploadGone,
    UploadNotFound,
    UploadRateLimited,
    UploadTooLarge,
)
from media.models import FAILED, FILING_PENDING, PROCESSING, READY, MediaItem, TusUpload
from media.processing import hls
from media.processing.sniff import Sniffed
from media.serialize import THUMB_SIZES, record
from media.storage import Storage, StorageError, new_prefix
from media.tus import PatchResult, TusUploadInfo, current_offset, discard_spool, hash_object
from media.upload import Received, sanitize_filename
from shared.db import session_scope, utcnow
from shared.errors import ValidationFailed
from shared.events import MediaDeletedV1, MediaUploadedV1
from shared.limits import describe_size
from shared.outbox import emit
from shared.params import MAX_ID
from shared.ratelimit import RateLimiter

log = logging.getLogger("media.service")


class Enqueue(Protocol):
    """Queues an item for its worker with the caller's transaction (sent once it has committed)."""

    def __call__(self, session: Session, kind: str, media_id: int) -> None: ...


def parse_show_id(fields: dict[str, str]) -> int:
    """The `show_id` form field as a positive integer (422 otherwise)."""
    raw = fields.get("show_id", "").strip()
    if not raw:
        raise ValidationFailed("show_id is required.", field="show_id")
    if not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
        raise ValidationFailed("show_id must be a positive integer.", field="show_id")
    return int(raw)


def show_from_request(query: int | None, header: int | None) -> int | None:
    """The show named by `?show_id=` or `X-Show-Id` (422 when both are given and differ)."""
    if query is not None and header is not None and query != header:
        raise ValidationFailed("show_id in the URL and X-Show-Id name different shows.", field="show_id")
    return query if query is not None else header


def resolve_show_id(named: int | None, fields: dict[str, str]) -> int | None:
    """The upload's show when its file part begins: from the URL/header or a field sent before the file;
    None when no show is named (the file goes to the uploader's library)."""
    if "show_id" not in fields:
        return named
    from_form = parse_show_id(fields)
    if named is not None and from_form != named:
        raise ValidationFailed("The show_id form field names a different show than the URL.", field="show_id")
    return from_form


def check_upload_rate(limiter: RateLimiter, *, user_id: int, limit: int, window_s: int) -> None:
    """Count an upload attempt of the user; 429 with Retry-After when over `limit` per `window_s`."""
    if limit <= 0:
        return
    allowed, retry_after = limiter.hit(f"media-upload:{user_id}", limit, window_s)
    if not allowed:
        raise UploadRateLimited(
            retry_after,
            f"You started more than {limit} uploads in {window_s} seconds; wait {retry_after} s and try again.",
        )


def authorize_upload(shows: ShowsAccess, *, show_id: int, user_id: int) -> ShowAccess:
    """Only the show's owner may add media to it: 404 if invisible, 403 if visible but not theirs."""
    access = shows.access(show_id, user_id)
    if access is None or not access.can_view:
        raise ShowNotFound()
    if not access.can_edit:
        raise NotAllowed("Only the show's owner can add media to it.")
    return access


def upload_prefix(kind: str, user_id: int) -> str:
    """The storage prefix of a new item."""
    return new_prefix(kind, user_id)


def _text(fields: dict[str, str], name: str, limit: int) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    value = value.strip()
    if len(value) > limit:
        raise ValidationFailed(f"{name} is too long (at most {limit} characters).", field=name)
    return value or None


def register_upload(
    session: Session, *, kind: str, user_id: int, show_id: int | None, received: Received, storage: Storage,
    enqueue: Enqueue, reservation_id: int | None = None,
) -> tuple[MediaItem, bool]:
    """Record a stored upload (status processing) + `media.uploaded`; a duplicate returns the existing item.

    Without a show the item goes to the uploader's library (filing pending; no event until it is filed: the
    other services only know media of shows). The quota reservation goes in the same transaction.
    """
    fields = received.fields
    if show_id is None and "show_id" in fields:
        # the client meant a show but named it after the file, when the bytes were already admitted without
        # one: refused as before libraries existed (the caller drops what was stored)
        raise ShowIdFirst(field="show_id")
    caption = _text(fields, "caption", 2000)
    title = _text(fields, "title", 255)
    description = _text(fields, "description", 5000)
    # lock the show's copy: if show.deleted is being applied right now, one of us sees the other's result
    # (the deletion purges this item, or this call finds the tombstone): an upload is never orphaned
    if show_id is not None and repo.lock_show_ref(session, show_id).deleted:
        raise ShowNotFound()
    if reservation_id is not None:
        repo.delete_reservation(session, reservation_id)
    existing = repo.find_duplicate(session, user_id=user_id, show_id=show_id, kind=kind, sha256=received.sha256)
    if existing is not None:
        _drop_prefix(storage, received.prefix)
        return existing, False
    now = utcnow()
    item = MediaItem(
        kind=kind, show_id=show_id, user_id=user_id, status=PROCESSING, progress=0,
        original_filename=received.filename, content_type=received.sniffed.mime, format=received.sniffed.format,
        file_size=received.size, sha256=received.sha256, prefix=received.prefix, original_key=received.key,
        caption=caption if kind == "photo" else None,
        title=(title or received.filename) if kind != "photo" else None,
        description=description if kind != "photo" else None,
        queued_at=now, created_at=now, updated_at=now, renditions=[],
        filing=FILING_PENDING if show_id is None else None,
    )
    repo.add(session, item)
    if show_id is not None:
        emit(session, MediaUploadedV1(media_id=item.id, kind=kind, show_id=show_id, user_id=user_id))  # type: ignore[arg-type]
    enqueue(session, kind, item.id)
    return item, True


def _drop_prefix(storage: Storage, prefix: str) -> None:
    try:
        storage.delete_prefix(prefix)
    except StorageError as exc:  # an orphan folder is harmless; log it for the operator
        log.warning("could not delete %s: %s", prefix, exc)


def discard_upload(storage: Storage, received: Received) -> None:
    """Remove a stored upload that could not be recorded."""
    _drop_prefix(storage, received.prefix)


# ---------------------------------------------------------------- quota

RESERVE_STEP = 64 * 1024 * 1024  # room taken at a time by an upload of unknown length (chunked)


def reserve_upload(
    session_factory: sessionmaker[Session], *, user_id: int, at_least: int, wanted: int, quota: int, ttl_s: int,
    reservation_id: int | None = None,
) -> tuple[int, int]:
    """Reserve room for an upload, or grow its reservation: (reservation id, bytes granted), or 413.

    Runs in its own committed transaction with the user's quota row locked, so parallel uploads of one
    user are decided one after another and each sees the others' reservations: together they can never
    pass the quota. Grants at least `at_least` and at most `wanted` bytes.
    """
    with session_scope(session_factory) as session:
        repo.lock_quota(session, user_id)
        now = utcnow()
        repo.delete_expired_reservations(session, user_id, now)
        used, held = repo.committed_bytes(session, user_id, now, exclude_id=reservation_id)
        free = quota - used - held
        if at_least > free:
            raise QuotaExceeded(
                f"This upload would take you past your {describe_size(quota)} storage quota "
                f"({describe_size(used)} used). Delete some media to make room."
            )
        grant = max(at_least, min(wanted, free))
        expires = now + timedelta(seconds=ttl_s)
        reservation = repo.get_reservation(session, reservation_id) if reservation_id is not None else None
        if reservation is None:  # inserted with its final values: one INSERT, no UPDATE after it
            return repo.add_reservation(session, user_id=user_id, size=grant, created_at=now, expires_at=expires), grant
        reservation.bytes, reservation.expires_at = grant, expires
        session.flush()
        return reservation.id, grant


def release_upload(session_factory: sessionmaker[Session], reservation_id: int) -> None:
    """Give back the room of an upload that failed (its own transaction)."""
    with session_scope(session_factory) as session:
        repo.delete_reservation(session, reservation_id)


def usage(session: Session, *, user_id: int, quota: int) -> dict[str, int]:
    """`{bytes_used, bytes_quota, items}`: the user's stored originals against the quota."""
    used, items = repo.usage(session, user_id)
    return {"bytes_used": used, "bytes_quota": quota, "items": items}


@dataclass
class UploadAdmission:
    """Decides one upload before any byte is stored: the show, the caller's right to add to it, the room.

    With the show in the URL (or `X-Show-Id`), everything is decided before the body is read; otherwise
    when the file part begins, with the `show_id` field that must have come before it.
    """

    shows: ShowsAccess
    session_factory: sessionmaker[Session]
    kind: str
    user_id: int
    quota: int
    ttl_s: int
    max_bytes: int
    declared: int | None  # the request's Content-Length (an upper bound of the file), None when chunked
    named_show: int | None = None
    show_id: int | None = None
    reservation_id: int | None = None
    granted: int = 0

    admitted: bool = False

    async def before_body(self) -> None:
        """Authorize and reserve now when the show is named outside the body."""
        if self.named_show is not None:
            await self._admit(self.named_show)

    async def start(self, fields: dict[str, str]) -> tuple[str, int]:
        """The file part begins: admit it (if not done yet) and give its storage prefix and room."""
        show_id = resolve_show_id(self.named_show, fields)
        if not self.admitted:
            await self._admit(show_id)
        return upload_prefix(self.kind, self.user_id), self.granted

    async def _admit(self, show_id: int | None) -> None:
        if show_id is not None:  # none: the uploader's library, which is always theirs
            await run_in_threadpool(authorize_upload, self.shows, show_id=show_id, user_id=self.user_id)
        self.show_id, self.admitted = show_id, True
        # A declared length is reserved whole (refused now if it cannot fit); a chunked body a step at a time.
        at_least = self.declared or 0
        await self._reserve(at_least, self.declared or min(RESERVE_STEP, self.max_bytes))

    async def grow(self, size: int) -> int:
        """More room for a body longer than reserved so far (a chunked upload), or 413."""
        await self._reserve(size, min(size + RESERVE_STEP, self.max_bytes))
        return self.granted

    async def _reserve(self, at_least: int, wanted: int) -> None:
        self.reservation_id, self.granted = await run_in_threadpool(
            lambda: reserve_upload(self.session_factory, user_id=self.user_id, at_least=at_least, wanted=wanted,
                                   quota=self.quota, ttl_s=self.ttl_s, reservation_id=self.reservation_id)
        )

    async def release(self) -> None:
        """Give the room back (the upload failed)."""
        if self.reservation_id is not None:
            reservation_id, self.reservation_id = self.reservation_id, None
            await run_in_threadpool(release_upload, self.session_factory, reservation_id)


# ---------------------------------------------------------------- reading


def visible_item(session: Session, shows: ShowsAccess, *, kind: str, media_id: int, user_id: int) -> MediaItem:
    """The item if the caller may see it (uploader, or a viewer of its show); 404 otherwise."""
    item = repo.get_kind(session, media_id, kind)
    if item is None:
        raise MediaNotFound()
    if item.user_id == user_id:
        return item
    if item.show_id is None:  # a library item is its uploader's alone
        raise MediaNotFound()
    access = shows.access(item.show_id, user_id)
    if access is None or not access.can_view:
        raise MediaNotFound()
    return item


@dataclass(frozen=True, slots=True)
class ServedObject:
    """Which object to send and how to describe it."""

    key: str
    content_type: str
    filename: str
    variant: str  # part of the ETag
    size: int


def _require_ready(item: MediaItem) -> None:
    if item.status == FAILED:
        raise ProcessingFailed(f"This item could not be processed: {item.error or 'unknown reason'}.")
    if item.status != READY:
        raise NotReady()


def _stem(item: MediaItem) -> str:
    name = item.original_filename or f"{item.kind}-{item.id}"
    return name.rsplit(".", 1)[0] if "." in name else name


def choose_bytes(item: MediaItem, *, rendition: str | None, user_id: int) -> ServedObject:
    """The object GET /api/<kind>/{id} serves: best rendition, or the one asked for (original: uploader only)."""
    if rendition == "original":
        if item.user_id != user_id:
            raise MediaNotFound("The original is only available to the person who uploaded it.")
        return ServedObject(item.original_key, item.content_type, item.original_filename, "original", item.file_size)
    if item.kind == "photo":
        if rendition not in (None, "display", "full"):
            raise ValidationFailed("rendition must be original for photos.", field="rendition")
        _require_ready(item)
        r = item.rendition("display")
        if r is None:
            raise NotReady()
        ext = r.key.rsplit(".", 1)[-1]
        return ServedObject(r.key, r.content_type, f"{_stem(item)}.{ext}", "display", r.size)
    if item.kind == "video":
        if rendition not in (None, "720p", "1080p", "best"):
            raise ValidationFailed("rendition must be original, 720p or 1080p.", field="rendition")
        _require_ready(item)
        names = [rendition] if rendition in ("720p", "1080p") else ["1080p", "720p"]
        for name in names:
            r = item.rendition(name)
            if r is not None:
                return ServedObject(r.key, r.content_type, f"{_stem(item)}-{name}.mp4", name, r.size)
        raise MediaNotFound(f"This video has no {rendition} rendition.")
    if rendition not in (None, "best", "audio"):
        raise ValidationFailed("rendition must be original for audio.", field="rendition")
    _require_ready(item)
    r = item.rendition("audio")
    if r is not None:
        return ServedObject(r.key, r.content_type, f"{_stem(item)}.m4a", "audio", r.size)
    # Browsers play the original as is (MP3, AAC, Opus): it is the best rendition.
    return ServedObject(item.original_key, item.content_type, item.original_filename, "original", item.file_size)


def choose_hls(item: MediaItem, *, path: str, storage: Storage) -> ServedObject:
    """A file of the video's HLS ladder (master, rendition playlist, init or media segment); 404 otherwise."""
    if not hls.valid_file(path):
        raise MediaNotFound("This video has no such HLS file.")
    _require_ready(item)
    if item.hls_status != "ready":
        raise NotReady("The adaptive stream of this video is still being prepared; play the MP4 meanwhile.")
    key = f"{item.prefix}/hls/{path}"
    try:
        stat = storage.stat(key)
    except StorageError as exc:
        raise StorageUnavailable() from exc
    if stat is None:
        raise MediaNotFound("This video has no such HLS file.")
    return ServedObject(key, hls.content_type(path), path.rsplit("/", 1)[-1], f"hls-{path}", stat.size)


def choose_thumbnail(item: MediaItem, *, size: str | None) -> ServedObject:
    """The photo thumbnail of a size (small/medium/large) or the video poster."""
    _require_ready(item)
    if item.kind == "photo":
        label = size or "small"
        if label not in THUMB_SIZES:
            raise ValidationFailed("size must be small, medium or large.", field="size")
        name = f"thumb_{THUMB_SIZES[label]}"
    elif item.kind == "video":
        name = "poster"
    else:
        raise MediaNotFound()
    r = item.rendition(name)
    if r is None:
        raise NotReady()
    ext = r.key.rsplit(".", 1)[-1]
    return ServedObject(r.key, r.content_type, f"{_stem(item)}-{name}.{ext}", name, r.size)


def choose_waveform(item: MediaItem) -> ServedObject:
    """The waveform JSON of an audio item."""
    _require_ready(item)
    r = item.rendition("waveform")
    if r is None:
        raise MediaNotFound("This recording has no waveform.")
    return ServedObject(r.key, "application/json", f"{_stem(item)}-waveform.json", "waveform", r.size)


# ---------------------------------------------------------------- lists


def _page(limit: int | None, offset: int | None, default: int, maximum: int) -> tuple[int, int]:
    lim = default if limit is None else max(1, min(limit, maximum))
    return lim, max(0, offset or 0)


def list_show(session: Session, shows: ShowsAccess, *, kind: str, show_id: int, user_id: int, limit: int | None,
              offset: int | None, default_limit: int, max_limit: int) -> tuple[list[dict[str, Any]], int]:
    """A show's items of one kind for someone who may see the show (404 otherwise)."""
    access = shows.access(show_id, user_id)
    if access is None or not access.can_view:
        raise ShowNotFound()
    lim, off = _page(limit, offset, default_limit, max_limit)
    rows, total = repo.list_for_show(session, show_id=show_id, kind=kind, limit=lim, offset=off)
    return [record(r) for r in rows], total


def list_mine(session: Session, *, kind: str, user_id: int, limit: int | None, offset: int | None,
              default_limit: int, max_limit: int, with_show_name: bool = False) -> tuple[list[dict[str, Any]], int]:
    """The caller's items of one kind, newest first."""
    lim, off = _page(limit, offset, default_limit, max_limit)
    rows, total = repo.list_for_user(session, user_id=user_id, kind=kind, limit=lim, offset=off)
    if not with_show_name:
        return [record(r) for r in rows], total
    names = repo.show_names(session, {r.show_id for r in rows if r.show_id is not None})
    return [
        record(r, show_name=names.get(r.show_id, ""), uploaded_at=record(r)["created_at"]) for r in rows
    ], total


# ---------------------------------------------------------------- changes


def update_item(session: Session, shows: ShowsAccess, *, kind: str, media_id: int, user_id: int,
                changes: dict[str, Any]) -> MediaItem:
    """Edit caption (photos) or title/description (audio, video): uploader only."""
    item = visible_item(session, shows, kind=kind, media_id=media_id, user_id=user_id)
    if item.user_id != user_id:
        raise NotAllowed("Only the person who uploaded this item can edit it.")
    allowed = ("caption",) if kind == "photo" else ("title", "description")
    for name in allowed:
        if name in changes:
            value = changes[name]
            setattr(item, name, value.strip() or None if isinstance(value, str) else None)
    item.updated_at = utcnow()
    session.flush()
    return item


def delete_item(session: Session, shows: ShowsAccess, storage: Storage, *, kind: str, media_id: int,
                user_id: int) -> None:
    """Delete an item and every object under its prefix: the uploader or the show's owner."""
    item = repo.get_kind(session, media_id, kind)
    if item is None:
        raise MediaNotFound()
    if item.user_id != user_id:
        if item.show_id is None:
            raise MediaNotFound()
        access = shows.access(item.show_id, user_id)
        if access is None or not access.can_view:
            raise MediaNotFound()
        if not access.can_edit:
            raise NotAllowed("Only the uploader or the show's owner can delete this item.")
    purge(session, storage, item)


def purge(session: Session, storage: Storage, item: MediaItem) -> None:
    """Delete the objects (first: a storage outage changes nothing), then the row, + `media.deleted`."""
    try:
        storage.delete_prefix(item.prefix)
    except StorageError as exc:
        raise StorageUnavailable() from exc
    if item.show_id is not None:  # a library item was never announced
        emit(session, MediaDeletedV1(media_id=item.id, kind=item.kind, show_id=item.show_id,  # type: ignore[arg-type]
                                     user_id=item.user_id))
    repo.delete_item(session, item)


# ---------------------------------------------------------------- internal


def internal_photo(session: Session, *, media_id: int) -> dict[str, Any]:
    """A photo's show, uploader and status (for social's photo comments)."""
    item = repo.get_kind(session, media_id, "photo")
    if item is None or item.show_id is None:  # library photos take no comments until filed
        raise MediaNotFound()
    return {"id": item.id, "show_id": item.show_id, "user_id": item.user_id, "status": item.public_status}


# ---------------------------------------------------------------- resumable (tus) uploads

TUS_TEXT_FIELDS = {"photo": ("caption",), "audio": ("title", "description"), "video": ("title", "description")}
TUS_KINDS = {"photo": "photo", "photos": "photo", "audio": "audio", "video": "video", "videos": "video"}


@dataclass
class TusCreated:
    """A new resumable upload: its id and when it expires."""

    id: str
    expires_at: datetime


def create_tus(
    session_factory: sessionmaker[Session], shows: ShowsAccess, limiter: RateLimiter, settings: MediaSettings, *,
    user_id: int, length: int, metadata: dict[str, str], metadata_raw: str,
) -> TusCreated:
    """Admit a resumable upload whole before any byte exists: rate, kind, size, rights on the show, quota."""
    check_upload_rate(limiter, user_id=user_id, limit=settings.upload_rate_limit,
                      window_s=settings.upload_rate_window_s)
    kind = TUS_KINDS.get(metadata.get("kind", "").strip().lower())
    if kind is None:
        raise ValidationFailed("Name the kind in Upload-Metadata: photo, audio or video.", field="kind")
    if length == 0:
        raise ValidationFailed("The file is empty.", field="Upload-Length")
    limit = settings.max_bytes(kind)
    if length > limit:
        raise UploadTooLarge(f"The file is larger than the {describe_size(limit)} allowed for this kind.")
    show_id = parse_show_id(metadata) if "show_id" in metadata else None  # none: to the library
    if show_id is not None:
        authorize_upload(shows, show_id=show_id, user_id=user_id)
    fields = {name: metadata[name] for name in TUS_TEXT_FIELDS[kind] if name in metadata}
    for name, cap in (("caption", 2000), ("title", 255), ("description", 5000)):
        _text(fields, name, cap)
    ttl = min(settings.tus_expiry_s, int(settings.stale_upload_age_s))
    reservation_id, _ = reserve_upload(session_factory, user_id=user_id, at_least=length, wanted=length,
                                       quota=settings.user_quota_bytes, ttl_s=ttl + 3600)
    now = utcnow()
    upload = TusUpload(
        id=uuid.uuid4().hex, user_id=user_id, kind=kind, show_id=show_id, length=length, offset=0,
        filename=sanitize_filename(metadata.get("filename") or metadata.get("name") or "", "",
                                   settings.max_filename_bytes),
        fields=fields, metadata_raw=metadata_raw, prefix=upload_prefix(kind, user_id), state={},
        reservation_id=reservation_id, created_at=now, updated_at=now, expires_at=now + timedelta(seconds=ttl),
    )
    try:
        with session_scope(session_factory) as session:
            repo.add_tus(session, upload)
    except BaseException:
        release_upload(session_factory, reservation_id)
        raise
    return TusCreated(upload.id, upload.expires_at)


def _info(upload: TusUpload) -> TusUploadInfo:
    return TusUploadInfo(id=upload.id, kind=upload.kind, length=upload.length, offset=upload.offset,
                         prefix=upload.prefix, key=upload.key, content_type=upload.content_type,
                         format=upload.format, state=dict(upload.state or {}), media_id=upload.media_id)


def _own_tus(session: Session, upload_id: str, user_id: int) -> TusUpload:
    upload = repo.get_tus(session, upload_id) if len(upload_id) <= 32 else None
    if upload is None or upload.user_id != user_id:
        raise UploadNotFound()
    if upload.expires_at <= utcnow() and upload.media_id is None:
        raise UploadGone()
    return upload


@dataclass
class TusStatus:
    """What HEAD answers."""

    offset: int
    length: int
    metadata: str
    expires_at: datetime
    media_id: int | None
    kind: str


def tus_status(session_factory: sessionmaker[Session], storage: Storage, spool: Path, *, upload_id: str,
               user_id: int) -> TusStatus:
    """The upload's offset (bytes stored plus spooled), length and metadata: 404 not theirs, 410 expired."""
    with session_scope(session_factory) as session:
        upload = _own_tus(session, upload_id, user_id)
        info = _info(upload)
        status = TusStatus(upload.offset, upload.length, upload.metadata_raw, upload.expires_at, upload.media_id,
                           upload.kind)
    if info.media_id is None:
        try:
            status.offset, _ = current_offset(storage, info, spool)
        except StorageError as exc:
            raise StorageUnavailable() from exc
    return status


def tus_info(session_factory: sessionmaker[Session], *, upload_id: str, user_id: int) -> TusUploadInfo:
    """A snapshot of the caller's upload for a PATCH: 404 not theirs, 410 expired."""
    with session_scope(session_factory) as session:
        return _info(_own_tus(session, upload_id, user_id))


def save_tus_progress(session_factory: sessionmaker[Session], *, upload_id: str, offset: int,
                      state: dict[str, Any], sniffed: Sniffed | None, key: str | None) -> None:
    """Remember where a PATCH left the upload (its parts, its sniffed type)."""
    with session_scope(session_factory) as session:
        upload = repo.get_tus(session, upload_id)
        if upload is None:  # terminated meanwhile
            return
        upload.offset = offset
        upload.state = dict(state)
        if sniffed is not None and upload.key is None:
            upload.key, upload.content_type, upload.format = key, sniffed.mime, sniffed.format
        upload.updated_at = utcnow()


def finish_tus(session_factory: sessionmaker[Session], storage: Storage, enqueue: Enqueue, *, upload_id: str,
               user_id: int, result: PatchResult) -> int:
    """The last byte arrived and the object is complete: record it as a media item (queued) like a plain upload."""
    assert result.sniffed is not None and result.key is not None
    sha = result.sha256 or hash_object(storage, result.key)
    with session_scope(session_factory) as session:
        upload = _own_tus(session, upload_id, user_id)
        received = Received(fields=dict(upload.fields or {}),
                            filename=sanitize_filename(upload.filename, result.sniffed.ext),
                            size=upload.length, sha256=sha, sniffed=result.sniffed, prefix=upload.prefix,
                            key=result.key)
        try:
            item, _ = register_upload(session, kind=upload.kind, user_id=user_id, show_id=upload.show_id,
                                      received=received, storage=storage, enqueue=enqueue,
                                      reservation_id=upload.reservation_id)
        except ShowNotFound:
            _drop_prefix(storage, upload.prefix)
            raise
        upload.media_id = item.id
        upload.offset = upload.length
        upload.state = {}
        upload.reservation_id = None
        upload.updated_at = utcnow()
        return item.id


def _end_tus(session: Session, storage: Storage, spool: Path, upload: TusUpload) -> None:
    """Abort what a resumable upload stored, give back its room and forget it (the caller's transaction)."""
    if upload.media_id is None:
        if upload.key is not None:
            storage.open_resumable(upload.key, upload.content_type or "", dict(upload.state or {})).abort()
        storage.delete_prefix(upload.prefix)
    if upload.reservation_id is not None:
        repo.delete_reservation(session, upload.reservation_id)
    discard_spool(spool, upload.id)
    repo.delete_tus(session, upload)


def terminate_tus(session_factory: sessionmaker[Session], storage: Storage, spool: Path, *, upload_id: str,
                  user_id: int) -> None:
    """DELETE: stop an upload, abort its stored parts and release its room (a finished one is just forgotten)."""
    with session_scope(session_factory) as session:
        upload = repo.get_tus(session, upload_id) if len(upload_id) <= 32 else None
        if upload is None or upload.user_id != user_id:
            raise UploadNotFound()
        try:
            _end_tus(session, storage, spool, upload)
        except StorageError as exc:
            raise StorageUnavailable() from exc


def expire_tus(session_factory: sessionmaker[Session], storage: Storage, spool: Path, *,
               now: datetime | None = None) -> int:
    """The sweep: abort uploads past their expiry (and forget finished ones); returns how many."""
    now = now or utcnow()
    done = 0
    with session_scope(session_factory) as session:
        for upload in repo.expired_tus(session, now):
            try:
                _end_tus(session, storage, spool, upload)
            except StorageError as exc:  # the next sweep tries again
                log.warning("could not abort the expired upload %s: %s", upload.id, exc)
                continue
            done += 1
    return done
