"""Thin HTTP routes of the media API (photos, audio, videos, dashboard lists, internal queries)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from email.utils import formatdate
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from media import album, readpath, service
from media.clients import ShowsAccess
from media.concerts import ConcertFacts
from media.config import MediaSettings
from media.dependencies import ConcertsDep, EnqueueDep, SettingsDep, ShowsDep, StorageDep, UploadLimiterDep
from media.exceptions import (
    BadUpload,
    MediaNotFound,
    NotAllowed,
    NotReady,
    OffsetMismatch,
    ProcessingFailed,
    RangeNotSatisfiable,
    ShowIdFirst,
    ShowNotFound,
    StorageUnavailable,
    TusVersionUnsupported,
    UnsupportedMedia,
    UploadGone,
    UploadLocked,
    UploadNotFound,
    UploadRateLimited,
)
from media.responses import serve_object
from media.schemas import MediaRead, MediaUpdate, PhotoList, PhotoRef, RecordingList, UsageRead, UserCounts
from media.serialize import record
from media.service import Enqueue
from media.storage import Storage
from media.tus import (
    OFFSET_TYPE,
    TUS_EXTENSIONS,
    TUS_VERSION,
    check_resumable,
    parse_metadata,
    parse_size,
    receive_patch,
    tus_headers,
)
from media.upload import UploadPolicy, check_request, declared_length, receive_upload
from shared.auth import CurrentUser, Principal
from shared.db import OneHopRoute, SessionDep, service_router
from shared.errors import ErrorBody, ServiceError
from shared.internal import require_internal
from shared.params import MAX_ID, MAX_OFFSET
from shared.ratelimit import RateLimiter

router = service_router()
dashboard_router = service_router(prefix="/api/dashboard", tags=["dashboard"])
me_router = service_router(prefix="/api/me", tags=["me"])
internal_router = service_router(prefix="/internal", dependencies=[Depends(require_internal)], include_in_schema=False)

MediaId = Annotated[int, Path(ge=1, le=service.MAX_ID)]
Limit = Annotated[int | None, Query(ge=1, le=1000)]
Offset = Annotated[int | None, Query(ge=0, le=MAX_OFFSET)]
SHOW_DOC = "The show to add the file to (or the X-Show-Id header, or a `show_id` field sent before the file)."
ShowIdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID, description=SHOW_DOC)]
ShowIdHeader = Annotated[int | None, Header(alias="X-Show-Id", ge=1, le=MAX_ID, description=SHOW_DOC)]

KINDS = {"photo": "photos", "audio": "audio", "video": "videos"}
ENVELOPE = {"photo": "photos", "audio": "recordings", "video": "recordings"}
ERRORS: dict[int | str, dict[str, Any]] = {
    e.status_code: e.schema() for e in (MediaNotFound, NotAllowed, NotReady, StorageUnavailable)
}
UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    **{e.status_code: e.schema() for e in (BadUpload, ShowNotFound, NotAllowed, UnsupportedMedia, StorageUnavailable)},
    413: {"model": ErrorBody, "description": "The file is larger than its kind allows (`payload_too_large`), or "
                                             "it would pass the caller's storage quota (`quota_exceeded`)."},
    422: {"model": ErrorBody, "description": f"{ShowIdFirst.default_message} Or a field is invalid."},
    429: {"model": ErrorBody, "description": UploadRateLimited.default_message,
          "headers": {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}},
}
SONG_ERRORS: dict[int | str, dict[str, Any]] = {**ERRORS, 422: {
    "model": ErrorBody, "description": "A field is invalid, or `song_ids` names songs not on the show's setlist."}}
BYTES_ERRORS = {**ERRORS, 409: ProcessingFailed.schema(), 416: RangeNotSatisfiable.schema()}


def _envelope(kind: str, items: list[dict[str, Any]], total: int) -> dict[str, Any]:
    return {ENVELOPE[kind]: items, "total": total}


def _upload_body(kind: str) -> dict[str, Any]:
    text = {"caption": {"type": "string"}} if kind == "photo" else {
        "title": {"type": "string"}, "description": {"type": "string"}}
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"show_id": {"type": "integer"}, **text,
                                   "file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }



# ---------------------------------------------------------------- photos, audio, videos
# Each route is declared as its own function (searchable by path); the shared work is in the helpers below.

FILE_FIELDS = {"photo": frozenset({"file", "photo"}), "audio": frozenset({"file"}), "video": frozenset({"file"})}


async def _upload(
    kind: str, request: Request, user: Principal, session: Session, settings: MediaSettings, shows: ShowsAccess,
    storage: Storage, enqueue: Enqueue, limiter: RateLimiter, show_id: int | None, x_show_id: int | None,
) -> JSONResponse:
    service.check_upload_rate(limiter, user_id=user.user_id, limit=settings.upload_rate_limit,
                              window_s=settings.upload_rate_window_s)
    policy = UploadPolicy(
        kind=kind, max_bytes=settings.max_bytes(kind), file_fields=FILE_FIELDS[kind],
        max_fields=settings.max_form_fields, max_field_bytes=settings.max_field_bytes,
        flush_bytes=settings.s3_part_size if settings.storage == "s3" else settings.upload_chunk_bytes,
    )
    check_request(request, policy)
    admission = service.UploadAdmission(
        shows=shows, session_factory=request.app.state.session_factory, kind=kind, user_id=user.user_id,
        quota=settings.user_quota_bytes, ttl_s=settings.upload_reservation_ttl_s, max_bytes=policy.max_bytes,
        declared=declared_length(request),
        named_show=service.show_from_request(show_id, x_show_id),
    )
    try:
        await admission.before_body()
        received = await receive_upload(request, policy, storage, admission.start, admission.grow)
    except BaseException:
        await admission.release()
        raise
    try:
        item, created = await run_in_threadpool(
            lambda: service.register_upload(
                session, kind=kind, user_id=user.user_id, show_id=admission.show_id,  # type: ignore[arg-type]
                received=received, storage=storage, enqueue=enqueue, reservation_id=admission.reservation_id,
            )
        )
        body = await run_in_threadpool(record, item)
    except BaseException:
        # the request's transaction goes first: on SQLite it holds the lock the release needs
        await run_in_threadpool(session.rollback)
        await run_in_threadpool(service.discard_upload, storage, received)
        await admission.release()
        raise
    return JSONResponse(body, status_code=201 if created else 200)


def _mine(kind: str, user: Principal, session: Session, settings: MediaSettings, limit: int | None,
          offset: int | None) -> dict[str, Any]:
    items, total = service.list_mine(session, kind=kind, user_id=user.user_id, limit=limit, offset=offset,
                                     default_limit=settings.list_default_limit, max_limit=settings.list_max_limit)
    return _envelope(kind, items, total)


def _of_show(kind: str, show_id: int, user: Principal, session: Session, settings: MediaSettings,
             shows: ShowsAccess, limit: int | None, offset: int | None) -> dict[str, Any]:
    items, total = service.list_show(session, shows, kind=kind, show_id=show_id, user_id=user.user_id,
                                     limit=limit, offset=offset, default_limit=settings.list_default_limit,
                                     max_limit=settings.list_max_limit)
    return _envelope(kind, items, total)


def _bytes(kind: str, media_id: int, request: Request, user: Principal, session: Session, settings: MediaSettings,
           shows: ShowsAccess, storage: Storage, meta: bool, rendition: str | None, redirect: bool) -> Response:
    item = service.visible_item(session, shows, kind=kind, media_id=media_id, user_id=user.user_id)
    if meta:
        return JSONResponse(record(item))
    obj = service.choose_bytes(item, rendition=rendition, user_id=user.user_id)
    return serve_object(request, storage, item, obj, max_age=settings.cache_max_age_s, redirect=redirect,
                        presign_expires=settings.presign_expires_s)


def _update(kind: str, media_id: int, body: MediaUpdate, user: Principal, session: Session,
            shows: ShowsAccess, concerts: ConcertFacts | None = None) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    song_ids = changes.pop("song_ids", None)
    item = service.update_item(session, shows, kind=kind, media_id=media_id, user_id=user.user_id, changes=changes)
    if song_ids is not None and concerts is not None:
        item = album.set_song_ids(session, shows, concerts, kind=kind, media_id=media_id, user_id=user.user_id,
                                  song_ids=song_ids)
    return record(item)


def _delete(kind: str, media_id: int, user: Principal, session: Session, shows: ShowsAccess,
            storage: Storage) -> Response:
    service.delete_item(session, shows, storage, kind=kind, media_id=media_id, user_id=user.user_id)
    return Response(status_code=204)


def _thumbnail(kind: str, media_id: int, request: Request, user: Principal, session: Session,
               settings: MediaSettings, shows: ShowsAccess, storage: Storage, size: str | None,
               redirect: bool) -> Response:
    item = service.visible_item(session, shows, kind=kind, media_id=media_id, user_id=user.user_id)
    obj = service.choose_thumbnail(item, size=size)
    return serve_object(request, storage, item, obj, max_age=settings.cache_max_age_s, redirect=redirect,
                        presign_expires=settings.presign_expires_s)


def _recent(kind: str, user: Principal, session: Session, settings: MediaSettings, limit: int | None) -> dict[str, Any]:
    items, total = service.list_mine(session, kind=kind, user_id=user.user_id, limit=limit, offset=0,
                                     default_limit=settings.recent_default_limit,
                                     max_limit=settings.recent_max_limit, with_show_name=True)
    return _envelope(kind, items, total)



@router.post("/api/photos", status_code=201, response_model=MediaRead, responses=UPLOAD_ERRORS, tags=["photos"],
             name="upload_photo", openapi_extra={"requestBody": _upload_body("photo")})
async def upload_photo(
    request: Request, user: CurrentUser, session: SessionDep, settings: SettingsDep, shows: ShowsDep,
    storage: StorageDep, enqueue: EnqueueDep, limiter: UploadLimiterDep, show_id: ShowIdQuery = None,
    x_show_id: ShowIdHeader = None,
) -> JSONResponse:
    """Upload a photo (multipart; the show in `?show_id=` or before the file): 201 processing, 200 if known.

    Rate, rights on the show and storage quota are decided before one byte of the file is stored.
    """
    return await _upload("photo", request, user, session, settings, shows, storage, enqueue, limiter, show_id,
                         x_show_id)


@router.get("/api/photos", response_model=PhotoList, tags=["photos"], name="my_photo")
def my_photo(user: CurrentUser, session: SessionDep, settings: SettingsDep, limit: Limit = None,
             offset: Offset = None) -> dict[str, Any]:
    """The caller's own items, newest first."""
    return _mine("photo", user, session, settings, limit, offset)


@router.get("/api/photos/show/{show_id}", response_model=PhotoList, responses=ERRORS, tags=["photos"],
            name="show_photo")
def show_photo(show_id: MediaId, user: CurrentUser, session: SessionDep, settings: SettingsDep, shows: ShowsDep,
               limit: Limit = None, offset: Offset = None) -> dict[str, Any]:
    """A show's items (for anyone who may see the show)."""
    return _of_show("photo", show_id, user, session, settings, shows, limit, offset)


@router.get("/api/photos/{media_id}", responses={**BYTES_ERRORS, 200: {"description": "the bytes, or the record"}},
            tags=["photos"], name="get_photo")
def get_photo(
    media_id: MediaId, request: Request, user: CurrentUser, session: SessionDep, settings: SettingsDep,
    shows: ShowsDep, storage: StorageDep, meta: bool = False, rendition: str | None = None, redirect: bool = False,
) -> Response:
    """The bytes (best rendition; Range → 206), `?rendition=`, `?meta=1` for the record, `?redirect=1` (S3)."""
    return _bytes("photo", media_id, request, user, session, settings, shows, storage, meta, rendition, redirect)


@router.put("/api/photos/{media_id}", response_model=MediaRead, responses=ERRORS, tags=["photos"], name="update_photo")
def update_photo(media_id: MediaId, body: MediaUpdate, user: CurrentUser, session: SessionDep,
                 shows: ShowsDep) -> dict[str, Any]:
    """Edit the caption: uploader only."""
    return _update("photo", media_id, body, user, session, shows)


@router.delete("/api/photos/{media_id}", status_code=204, responses=ERRORS, tags=["photos"], name="delete_photo")
def delete_photo(media_id: MediaId, user: CurrentUser, session: SessionDep, shows: ShowsDep,
                 storage: StorageDep) -> Response:
    """Delete the item and every stored object: the uploader or the show's owner."""
    return _delete("photo", media_id, user, session, shows, storage)


@router.get("/api/photos/{media_id}/thumbnail", responses=BYTES_ERRORS, tags=["photos"], name="thumbnail_photo")
def thumbnail_photo(media_id: MediaId, request: Request, user: CurrentUser, session: SessionDep,
                    settings: SettingsDep, shows: ShowsDep, storage: StorageDep, size: str | None = None,
                    redirect: bool = False) -> Response:
    """A photo thumbnail (`?size=small|medium|large`)."""
    return _thumbnail("photo", media_id, request, user, session, settings, shows, storage, size, redirect)


@dashboard_router.get("/photos/recent", response_model=PhotoList, name="recent_photo")
def recent_photo(user: CurrentUser, session: SessionDep, settings: SettingsDep,
                 limit: Annotated[int | None, Query(ge=1, le=1000)] = None) -> dict[str, Any]:
    """The caller's latest items, each with `show_name`."""
    return _recent("photo", user, session, settings, limit)

@router.post("/api/audio", status_code=201, response_model=MediaRead, responses=UPLOAD_ERRORS, tags=["audio"],
             name="upload_audio", openapi_extra={"requestBody": _upload_body("audio")})
async def upload_audio(
    request: Request, user: CurrentUser, session: SessionDep, settings: SettingsDep, shows: ShowsDep,
    storage: StorageDep, enqueue: EnqueueDep, limiter: UploadLimiterDep, show_id: ShowIdQuery = None,
    x_show_id: ShowIdHeader = None,
) -> JSONResponse:
    """Upload a recording (multipart; the show in `?show_id=` or before the file): 201 processing, 200 if known.

    Rate, rights on the show and storage quota are decided before one byte of the file is stored.
    """
    return await _upload("audio", request, user, session, settings, shows, storage, enqueue, limiter, show_id,
                         x_show_id)


@router.get("/api/audio", response_model=RecordingList, tags=["audio"], name="my_audio")
def my_audio(user: CurrentUser, session: SessionDep, settings: SettingsDep, limit: Limit = None,
             offset: Offset = None) -> dict[str, Any]:
    """The caller's own items, newest first."""
    return _mine("audio", user, session, settings, limit, offset)


@router.get("/api/audio/show/{show_id}", response_model=RecordingList, responses=ERRORS, tags=["audio"],
            name="show_audio")
def show_audio(show_id: MediaId, user: CurrentUser, session: SessionDep, settings: SettingsDep, shows: ShowsDep,
               limit: Limit = None, offset: Offset = None) -> dict[str, Any]:
    """A show's items (for anyone who may see the show)."""
    return _of_show("audio", show_id, user, session, settings, shows, limit, offset)


@router.get("/api/audio/{media_id}", responses={**BYTES_ERRORS, 200: {"description": "the bytes, or the record"}},
            tags=["audio"], name="get_audio")
def get_audio(
    media_id: MediaId, request: Request, user: CurrentUser, session: SessionDep, settings: SettingsDep,
    shows: ShowsDep, storage: StorageDep, meta: bool = False, rendition: str | None = None, redirect: bool = False,
) -> Response:
    """The bytes (best rendition; Range → 206), `?rendition=`, `?meta=1` for the record, `?redirect=1` (S3)."""
    return _bytes("audio", media_id, request, user, session, settings, shows, storage, meta, rendition, redirect)


@router.put("/api/audio/{media_id}", response_model=MediaRead, responses=SONG_ERRORS, tags=["audio"],
            name="update_audio")
def update_audio(media_id: MediaId, body: MediaUpdate, user: CurrentUser, session: SessionDep,
                 shows: ShowsDep, concerts: ConcertsDep) -> dict[str, Any]:
    """Edit the title/description, confirm the setlist songs it shows (`song_ids`): uploader only."""
    return _update("audio", media_id, body, user, session, shows, concerts)


@router.delete("/api/audio/{media_id}", status_code=204, responses=ERRORS, tags=["audio"], name="delete_audio")
def delete_audio(media_id: MediaId, user: CurrentUser, session: SessionDep, shows: ShowsDep,
                 storage: StorageDep) -> Response:
    """Delete the item and every stored object: the uploader or the show's owner."""
    return _delete("audio", media_id, user, session, shows, storage)


@router.get("/api/audio/{media_id}/waveform", responses=BYTES_ERRORS, tags=["audio"], name="waveform_audio")
def waveform_audio(media_id: MediaId, request: Request, user: CurrentUser, session: SessionDep,
                   settings: SettingsDep, shows: ShowsDep, storage: StorageDep) -> Response:
    """Waveform peaks of a recording as JSON (`{"points", "peaks"}`)."""
    item = service.visible_item(session, shows, kind="audio", media_id=media_id, user_id=user.user_id)
    obj = service.choose_waveform(item)
    return serve_object(request, storage, item, obj, max_age=settings.cache_max_age_s)


@dashboard_router.get("/audio/recent", response_model=RecordingList, name="recent_audio")
def recent_audio(user: CurrentUser, session: SessionDep, settings: SettingsDep,
                 limit: Annotated[int | None, Query(ge=1, le=1000)] = None) -> dict[str, Any]:
    """The caller's latest items, each with `show_name`."""
    return _recent("audio", user, session, settings, limit)

@router.post("/api/videos", status_code=201, response_model=MediaRead, responses=UPLOAD_ERRORS, tags=["videos"],
             name="upload_video", openapi_extra={"requestBody": _upload_body("video")})
async def upload_video(
    request: Request, user: CurrentUser, session: SessionDep, settings: SettingsDep, shows: ShowsDep,
    storage: StorageDep, enqueue: EnqueueDep, limiter: UploadLimiterDep, show_id: ShowIdQuery = None,
    x_show_id: ShowIdHeader = None,
) -> JSONResponse:
    """Upload a video (multipart; the show in `?show_id=` or before the file): 201 processing, 200 if known.

    Rate, rights on the show and storage quota are decided before one byte of the file is stored.
    """
    return await _upload("video", request, user, session, settings, shows, storage, enqueue, limiter, show_id,
                         x_show_id)


@router.get("/api/videos", response_model=RecordingList, tags=["videos"], name="my_video")
def my_video(user: CurrentUser, session: SessionDep, settings: SettingsDep, limit: Limit = None,
             offset: Offset = None) -> dict[str, Any]:
    """The caller's own items, newest first."""
    return _mine("video", user, session, settings, limit, offset)


@router.get("/api/videos/show/{show_id}", response_model=RecordingList, responses=ERRORS, tags=["videos"],
            name="show_video")
def show_video(show_id: MediaId, user: CurrentUser, session: SessionDep, settings: SettingsDep, shows: ShowsDep,
               limit: Limit = None, offset: Offset = None) -> dict[str, Any]:
    """A show's items (for anyone who may see the show)."""
    return _of_show("video", show_id, user, session, settings, shows, limit, offset)


@router.get("/api/videos/{media_id}", responses={**BYTES_ERRORS, 200: {"description": "the bytes, or the record"}},
            tags=["videos"], name="get_video")
def get_video(
    media_id: MediaId, request: Request, user: CurrentUser, session: SessionDep, settings: SettingsDep,
    shows: ShowsDep, storage: StorageDep, meta: bool = False, rendition: str | None = None, redirect: bool = False,
) -> Response:
    """The bytes (best rendition; Range → 206), `?rendition=`, `?meta=1` for the record, `?redirect=1` (S3)."""
    return _bytes("video", media_id, request, user, session, settings, shows, storage, meta, rendition, redirect)


@router.put("/api/videos/{media_id}", response_model=MediaRead, responses=SONG_ERRORS, tags=["videos"],
            name="update_video")
def update_video(media_id: MediaId, body: MediaUpdate, user: CurrentUser, session: SessionDep,
                 shows: ShowsDep, concerts: ConcertsDep) -> dict[str, Any]:
    """Edit the title/description, confirm the setlist songs it shows (`song_ids`): uploader only."""
    return _update("video", media_id, body, user, session, shows, concerts)


@router.delete("/api/videos/{media_id}", status_code=204, responses=ERRORS, tags=["videos"], name="delete_video")
def delete_video(media_id: MediaId, user: CurrentUser, session: SessionDep, shows: ShowsDep,
                 storage: StorageDep) -> Response:
    """Delete the item and every stored object: the uploader or the show's owner."""
    return _delete("video", media_id, user, session, shows, storage)


@router.get("/api/videos/{media_id}/thumbnail", responses=BYTES_ERRORS, tags=["videos"], name="thumbnail_video")
def thumbnail_video(media_id: MediaId, request: Request, user: CurrentUser, session: SessionDep,
                    settings: SettingsDep, shows: ShowsDep, storage: StorageDep, size: str | None = None,
                    redirect: bool = False) -> Response:
    """The video's poster."""
    return _thumbnail("video", media_id, request, user, session, settings, shows, storage, size, redirect)


@dashboard_router.get("/videos/recent", response_model=RecordingList, name="recent_video")
def recent_video(user: CurrentUser, session: SessionDep, settings: SettingsDep,
                 limit: Annotated[int | None, Query(ge=1, le=1000)] = None) -> dict[str, Any]:
    """The caller's latest items, each with `show_name`."""
    return _recent("video", user, session, settings, limit)


HLS_ERRORS = {**BYTES_ERRORS, 409: {"model": ErrorBody, "description": "The video or its ladder is not ready yet "
                                   "(`not_ready`; the MP4 plays meanwhile) or processing failed."}}


@router.get("/api/videos/{media_id}/hls/{path:path}", tags=["videos"], name="video_hls", responses={
    **HLS_ERRORS, 200: {"description": "A playlist (application/vnd.apple.mpegurl), init segment (video/mp4) or "
                                       "media segment (video/iso.segment)."}})
def video_hls(media_id: MediaId, path: str, request: Request, user: CurrentUser, session: SessionDep,
              settings: SettingsDep, shows: ShowsDep, storage: StorageDep) -> Response:
    """The video's HLS ladder: `master.m3u8`, then the playlists and segments it names (same access as the video).

    Playlists are revalidated (`no-cache` + ETag); segments never change and are cached for a day.
    """
    item = service.visible_item(session, shows, kind="video", media_id=media_id, user_id=user.user_id)
    obj = service.choose_hls(item, path=path, storage=storage)
    playlist = path.endswith(".m3u8")
    response = serve_object(request, storage, item, obj, max_age=0 if playlist else 86400)
    response.headers["Cache-Control"] = "private, no-cache" if playlist else "private, max-age=86400, immutable"
    return response




@me_router.get("/usage", response_model=UsageRead)
def my_usage(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> dict[str, int]:
    """The caller's storage: bytes of their originals, their quota, and how many items they have."""
    return service.usage(session, user_id=user.user_id, quota=settings.user_quota_bytes)


@internal_router.get("/media/show/{show_id}")
async def internal_show_media(show_id: MediaId, request: Request, viewer_id: int | None = None) -> Response:
    """Every item of a show grouped by kind (shows embeds them in the show detail)."""
    return Response(await readpath.show_media(request.app.state.reader, show_id), media_type="application/json")


@internal_router.get("/media/photo/{media_id}", response_model=PhotoRef)
def internal_photo(media_id: MediaId, session: SessionDep) -> dict[str, Any]:
    """A photo's show, uploader and status."""
    return service.internal_photo(session, media_id=media_id)


@internal_router.get("/users/{user_id}/counts", response_model=UserCounts)
async def internal_user_counts(user_id: MediaId, request: Request) -> Response:
    """How many photos, audio recordings and videos a user uploaded."""
    return Response(await readpath.user_counts(request.app.state.reader, user_id), media_type="application/json")



# ---------------------------------------------------------------- resumable uploads (tus 1.0)


class TusRoute(OneHopRoute):
    """Every tus answer, errors included, carries Tus-Resumable (clients check it)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def tus_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except ServiceError as exc:
                exc.headers = {**tus_headers(), **exc.headers}
                raise
            response.headers.setdefault("Tus-Resumable", TUS_VERSION)
            return response

        return tus_handler


uploads_router = service_router(prefix="/api/uploads", tags=["uploads"], route_class=TusRoute)
UploadId = Annotated[str, Path(min_length=32, max_length=32, pattern="^[0-9a-f]{32}$")]
TusVersion = Annotated[str | None, Header(alias="Tus-Resumable", description="Must be 1.0.0.")]
TUS_HEADER = {"Tus-Resumable": {"description": "1.0.0", "schema": {"type": "string"}}}
OFFSET_HEADER = {"Upload-Offset": {"description": "Bytes stored so far.", "schema": {"type": "integer"}}}
EXPIRES_HEADER = {"Upload-Expires": {"description": "When an unfinished upload is dropped (RFC 9110 date).",
                                     "schema": {"type": "string"}}}
MEDIA_HEADER = {"X-Media-Id": {"description": "The media item, once the last byte arrived.",
                               "schema": {"type": "integer"}}}
TUS_412 = {412: {"model": ErrorBody, "description": TusVersionUnsupported.default_message}}
TUS_UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    **TUS_412, 404: UploadNotFound.schema(), 410: UploadGone.schema(), 503: StorageUnavailable.schema(),
}


def _http_date(when: datetime) -> str:
    return formatdate(when.timestamp(), usegmt=True)


@uploads_router.options("/", status_code=204, include_in_schema=False)
@uploads_router.options("", status_code=204, name="tus_options", responses={204: {
    "description": "The protocol versions, extensions and largest upload this server takes.",
    "headers": {"Tus-Version": {"schema": {"type": "string"}}, "Tus-Extension": {"schema": {"type": "string"}},
                "Tus-Max-Size": {"schema": {"type": "integer"}}}}})
async def tus_options(settings: SettingsDep) -> Response:
    """tus discovery: versions, extensions (creation, termination, expiration) and the largest upload."""
    largest = max(settings.max_bytes(k) for k in KINDS)
    return Response(status_code=204, headers=tus_headers(**{
        "Tus-Version": TUS_VERSION, "Tus-Extension": TUS_EXTENSIONS, "Tus-Max-Size": str(largest)}))


@uploads_router.post("/", status_code=201, include_in_schema=False)
@uploads_router.post("", status_code=201, name="tus_create", responses={
    201: {"description": "Created: PATCH the bytes to Location.", "headers": {
        "Location": {"description": "/api/uploads/{id}", "schema": {"type": "string"}}, **EXPIRES_HEADER,
        **TUS_HEADER}},
    400: {"model": ErrorBody, "description": "Upload-Length or Upload-Metadata is malformed."},
    403: NotAllowed.schema(), 404: ShowNotFound.schema(), **TUS_412,
    413: {"model": ErrorBody, "description": "Larger than its kind allows (`payload_too_large`), or past the "
                                             "caller's storage quota (`quota_exceeded`)."},
    422: {"model": ErrorBody, "description": "No kind or show_id in the metadata, a bad one, or an empty file."},
    429: UPLOAD_ERRORS[429], 503: StorageUnavailable.schema(),
})
async def tus_create(
    request: Request, user: CurrentUser, settings: SettingsDep, shows: ShowsDep, limiter: UploadLimiterDep,
    tus_resumable: TusVersion = None,
    upload_length: Annotated[str | None, Header(alias="Upload-Length", description="The file's size.")] = None,
    upload_metadata: Annotated[str | None, Header(
        alias="Upload-Metadata",
        description="`kind` (photo|audio|video), `filename`, `show_id`; `caption` or `title`/`description`.",
    )] = None,
) -> Response:
    """Start a resumable upload: everything is decided here (rights, quota, size) before any byte is sent."""
    check_resumable(tus_resumable)
    length = parse_size(upload_length, "Upload-Length")
    metadata = parse_metadata(upload_metadata)
    created = await run_in_threadpool(
        lambda: service.create_tus(request.app.state.session_factory, shows, limiter, settings, user_id=user.user_id,
                                   length=length, metadata=metadata, metadata_raw=upload_metadata or "")
    )
    return Response(status_code=201, headers=tus_headers(
        Location=f"/api/uploads/{created.id}", **{"Upload-Expires": _http_date(created.expires_at)}))


@uploads_router.head("/{upload_id}", name="tus_offset", responses={
    200: {"description": "The offset to resume from.", "headers": {
        **OFFSET_HEADER, "Upload-Length": {"schema": {"type": "integer"}}, **EXPIRES_HEADER, **MEDIA_HEADER}},
    **TUS_UPLOAD_ERRORS,
})
async def tus_head(upload_id: UploadId, request: Request, user: CurrentUser, settings: SettingsDep,
                   storage: StorageDep, tus_resumable: TusVersion = None) -> Response:
    """How many bytes of the upload are stored: resume the PATCH from there."""
    check_resumable(tus_resumable)
    status = await run_in_threadpool(
        lambda: service.tus_status(request.app.state.session_factory, storage, settings.tus_spool,
                                   upload_id=upload_id, user_id=user.user_id)
    )
    headers = tus_headers(**{"Upload-Offset": str(status.offset), "Upload-Length": str(status.length),
                             "Upload-Expires": _http_date(status.expires_at)})
    if status.metadata:
        headers["Upload-Metadata"] = status.metadata
    if status.media_id is not None:
        headers["X-Media-Id"] = str(status.media_id)
    return Response(status_code=200, headers=headers)


@uploads_router.patch("/{upload_id}", status_code=204, name="tus_append", openapi_extra={"requestBody": {
    "required": True, "content": {OFFSET_TYPE: {"schema": {"type": "string", "format": "binary"}}}}},
    responses={
    204: {"description": "Appended; the last byte makes the upload a media item (X-Media-Id).",
          "headers": {**OFFSET_HEADER, **EXPIRES_HEADER, **MEDIA_HEADER}},
    400: {"model": ErrorBody, "description": "Upload-Offset is missing or not a number."},
    409: {"model": ErrorBody, "description": OffsetMismatch.default_message},
    413: {"model": ErrorBody, "description": "The chunk goes past Upload-Length."},
    415: {"model": ErrorBody, "description": "Not application/offset+octet-stream, or the file's first bytes are "
                                             "not an allowed type for its kind (the upload is then dropped)."},
    423: {"model": ErrorBody, "description": UploadLocked.default_message},
    **TUS_UPLOAD_ERRORS,
})
async def tus_patch(upload_id: UploadId, request: Request, user: CurrentUser, settings: SettingsDep,
                    storage: StorageDep, enqueue: EnqueueDep, tus_resumable: TusVersion = None) -> Response:
    """Append bytes at Upload-Offset (any chunk size); a dropped connection keeps what arrived."""
    check_resumable(tus_resumable)
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != OFFSET_TYPE:
        raise UnsupportedMedia(f"Send the bytes as {OFFSET_TYPE}.", code="bad_content_type")
    state = request.app.state
    factory, spool = state.session_factory, settings.tus_spool
    info = await run_in_threadpool(lambda: service.tus_info(factory, upload_id=upload_id, user_id=user.user_id))
    if info.media_id is not None:  # finished already (a retry of the last PATCH)
        if parse_size(request.headers.get("upload-offset"), "Upload-Offset") != info.length:
            raise OffsetMismatch(headers={"Upload-Offset": str(info.length)})
        return Response(status_code=204, headers=tus_headers(**{
            "Upload-Offset": str(info.length), "X-Media-Id": str(info.media_id)}))
    with state.tus_locks.hold(upload_id):
        result = await receive_patch(request, info, storage, spool, state.tus_hashers, declared_length(request))
        await run_in_threadpool(lambda: service.save_tus_progress(
            factory, upload_id=upload_id, offset=result.offset, state=result.state, sniffed=result.sniffed,
            key=result.key))
        if isinstance(result.error, UnsupportedMedia):  # refused before anything was stored: the upload ends
            await run_in_threadpool(lambda: service.terminate_tus(factory, storage, spool, upload_id=upload_id,
                                                                  user_id=user.user_id))
        if result.error is not None:
            raise result.error
        headers = tus_headers(**{"Upload-Offset": str(result.offset)})
        if result.complete:
            state.tus_hashers.forget(upload_id)
            media_id = await run_in_threadpool(lambda: service.finish_tus(
                factory, storage, enqueue, upload_id=upload_id, user_id=user.user_id, result=result))
            headers["X-Media-Id"] = str(media_id)
    return Response(status_code=204, headers=headers)


@uploads_router.delete("/{upload_id}", status_code=204, name="tus_terminate", responses={
    204: {"description": "Terminated: the stored parts are gone and the room is given back."},
    **TUS_412, 404: UploadNotFound.schema(), 423: {"model": ErrorBody, "description": UploadLocked.default_message},
    503: StorageUnavailable.schema(),
})
async def tus_delete(upload_id: UploadId, request: Request, user: CurrentUser, settings: SettingsDep,
                     storage: StorageDep, tus_resumable: TusVersion = None) -> Response:
    """Stop an upload (termination): its parts are aborted and its quota reservation released."""
    check_resumable(tus_resumable)
    with request.app.state.tus_locks.hold(upload_id):
        await run_in_threadpool(lambda: service.terminate_tus(
            request.app.state.session_factory, storage, settings.tus_spool, upload_id=upload_id,
            user_id=user.user_id))
    request.app.state.tus_hashers.forget(upload_id)
    return Response(status_code=204, headers=tus_headers())
