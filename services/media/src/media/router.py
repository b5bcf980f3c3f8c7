"""Thin HTTP routes of the media API (photos, audio, videos, dashboard lists, internal queries)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from media import service
from media.dependencies import EnqueueDep, SettingsDep, ShowsDep, StorageDep, UploadLimiterDep
from media.exceptions import (
    BadUpload,
    MediaNotFound,
    NotAllowed,
    NotReady,
    ProcessingFailed,
    RangeNotSatisfiable,
    ShowIdFirst,
    ShowNotFound,
    StorageUnavailable,
    UnsupportedMedia,
    UploadRateLimited,
)
from media.responses import serve_object
from media.schemas import MediaRead, MediaUpdate, PhotoList, PhotoRef, RecordingList, UsageRead, UserCounts
from media.serialize import record
from media.upload import UploadPolicy, check_request, declared_length, receive_upload
from shared.auth import CurrentUser
from shared.db import SessionDep
from shared.errors import ErrorBody
from shared.internal import require_internal
from shared.params import MAX_ID, MAX_OFFSET

router = APIRouter()
dashboard_router = APIRouter(prefix="/api/dashboard", tags=["dashboard"])
me_router = APIRouter(prefix="/api/me", tags=["me"])
internal_router = APIRouter(prefix="/internal", dependencies=[Depends(require_internal)], include_in_schema=False)

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
BYTES_ERRORS = {**ERRORS, 409: ProcessingFailed.schema(), 416: RangeNotSatisfiable.schema()}


def _envelope(kind: str, items: list[dict[str, Any]], total: int) -> dict[str, Any]:
    return {ENVELOPE[kind]: items, "total": total}


def _add_kind_routes(kind: str) -> None:
    plural = KINDS[kind]
    base = f"/api/{plural}"
    tag = [plural]
    list_model = PhotoList if kind == "photo" else RecordingList
    file_fields = frozenset({"file", "photo"} if kind == "photo" else {"file"})

    @router.post(base, status_code=201, response_model=MediaRead, responses=UPLOAD_ERRORS, tags=tag,
                 name=f"upload_{kind}", openapi_extra={"requestBody": _upload_body(kind)})
    async def upload(
        request: Request, user: CurrentUser, session: SessionDep, settings: SettingsDep, shows: ShowsDep,
        storage: StorageDep, enqueue: EnqueueDep, limiter: UploadLimiterDep, show_id: ShowIdQuery = None,
        x_show_id: ShowIdHeader = None,
    ) -> JSONResponse:
        """Upload a file (multipart; the show in `?show_id=` or before the file): 201 processing, 200 if known.

        Rate, rights on the show and storage quota are decided before one byte of the file is stored.
        """
        service.check_upload_rate(limiter, user_id=user.user_id, limit=settings.upload_rate_limit,
                                  window_s=settings.upload_rate_window_s)
        policy = UploadPolicy(
            kind=kind, max_bytes=settings.max_bytes(kind), file_fields=file_fields,
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

    @router.get(base, response_model=list_model, tags=tag, name=f"my_{kind}")
    def mine(user: CurrentUser, session: SessionDep, settings: SettingsDep, limit: Limit = None,
             offset: Offset = None) -> dict[str, Any]:
        """The caller's own items, newest first."""
        items, total = service.list_mine(session, kind=kind, user_id=user.user_id, limit=limit, offset=offset,
                                         default_limit=settings.list_default_limit,
                                         max_limit=settings.list_max_limit)
        return _envelope(kind, items, total)

    @router.get(f"{base}/show/{{show_id}}", response_model=list_model, responses=ERRORS, tags=tag,
                name=f"show_{kind}")
    def of_show(show_id: MediaId, user: CurrentUser, session: SessionDep, settings: SettingsDep, shows: ShowsDep,
                limit: Limit = None, offset: Offset = None) -> dict[str, Any]:
        """A show's items (for anyone who may see the show)."""
        items, total = service.list_show(session, shows, kind=kind, show_id=show_id, user_id=user.user_id,
                                         limit=limit, offset=offset, default_limit=settings.list_default_limit,
                                         max_limit=settings.list_max_limit)
        return _envelope(kind, items, total)

    @router.get(f"{base}/{{media_id}}", responses={**BYTES_ERRORS, 200: {"description": "the bytes, or the record"}},
                tags=tag, name=f"get_{kind}")
    def get_bytes(
        media_id: MediaId, request: Request, user: CurrentUser, session: SessionDep, settings: SettingsDep,
        shows: ShowsDep, storage: StorageDep, meta: bool = False, rendition: str | None = None,
        redirect: bool = False,
    ) -> Response:
        """The bytes (best rendition; Range → 206), `?rendition=`, `?meta=1` for the record, `?redirect=1` (S3)."""
        item = service.visible_item(session, shows, kind=kind, media_id=media_id, user_id=user.user_id)
        if meta:
            return JSONResponse(record(item))
        obj = service.choose_bytes(item, rendition=rendition, user_id=user.user_id)
        return serve_object(request, storage, item, obj, max_age=settings.cache_max_age_s, redirect=redirect,
                            presign_expires=settings.presign_expires_s)

    @router.put(f"{base}/{{media_id}}", response_model=MediaRead, responses=ERRORS, tags=tag, name=f"update_{kind}")
    def update(media_id: MediaId, body: MediaUpdate, user: CurrentUser, session: SessionDep,
               shows: ShowsDep) -> dict[str, Any]:
        """Edit the caption (photos) or title/description (audio, video): uploader only."""
        changes = body.model_dump(exclude_unset=True)
        item = service.update_item(session, shows, kind=kind, media_id=media_id, user_id=user.user_id,
                                   changes=changes)
        return record(item)

    @router.delete(f"{base}/{{media_id}}", status_code=204, responses=ERRORS, tags=tag, name=f"delete_{kind}")
    def delete(media_id: MediaId, user: CurrentUser, session: SessionDep, shows: ShowsDep,
               storage: StorageDep) -> Response:
        """Delete the item and every stored object: the uploader or the show's owner."""
        service.delete_item(session, shows, storage, kind=kind, media_id=media_id, user_id=user.user_id)
        return Response(status_code=204)

    if kind in ("photo", "video"):

        @router.get(f"{base}/{{media_id}}/thumbnail", responses=BYTES_ERRORS, tags=tag, name=f"thumbnail_{kind}")
        def thumbnail(media_id: MediaId, request: Request, user: CurrentUser, session: SessionDep,
                      settings: SettingsDep, shows: ShowsDep, storage: StorageDep, size: str | None = None,
                      redirect: bool = False) -> Response:
            """A photo thumbnail (`?size=small|medium|large`) or the video's poster."""
            item = service.visible_item(session, shows, kind=kind, media_id=media_id, user_id=user.user_id)
            obj = service.choose_thumbnail(item, size=size)
            return serve_object(request, storage, item, obj, max_age=settings.cache_max_age_s, redirect=redirect,
                                presign_expires=settings.presign_expires_s)

    if kind == "audio":

        @router.get(f"{base}/{{media_id}}/waveform", responses=BYTES_ERRORS, tags=tag, name="waveform_audio")
        def waveform(media_id: MediaId, request: Request, user: CurrentUser, session: SessionDep,
                     settings: SettingsDep, shows: ShowsDep, storage: StorageDep) -> Response:
            """Waveform peaks of a recording as JSON (`{"points", "peaks"}`)."""
            item = service.visible_item(session, shows, kind=kind, media_id=media_id, user_id=user.user_id)
            obj = service.choose_waveform(item)
            return serve_object(request, storage, item, obj, max_age=settings.cache_max_age_s)

    @dashboard_router.get(f"/{plural}/recent", response_model=list_model, name=f"recent_{kind}")
    def recent(user: CurrentUser, session: SessionDep, settings: SettingsDep,
               limit: Annotated[int | None, Query(ge=1, le=1000)] = None) -> dict[str, Any]:
        """The caller's latest items, each with `show_name`."""
        items, total = service.list_mine(session, kind=kind, user_id=user.user_id, limit=limit, offset=0,
                                         default_limit=settings.recent_default_limit,
                                         max_limit=settings.recent_max_limit, with_show_name=True)
        return _envelope(kind, items, total)


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


for _kind in KINDS:
    _add_kind_routes(_kind)


@me_router.get("/usage", response_model=UsageRead)
def my_usage(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> dict[str, int]:
    """The caller's storage: bytes of their originals, their quota, and how many items they have."""
    return service.usage(session, user_id=user.user_id, quota=settings.user_quota_bytes)


@internal_router.get("/media/show/{show_id}")
def internal_show_media(show_id: MediaId, session: SessionDep, viewer_id: int | None = None) -> dict[str, Any]:
    """Every item of a show grouped by kind (shows embeds them in the show detail)."""
    return service.internal_show_media(session, show_id=show_id)


@internal_router.get("/media/photo/{media_id}", response_model=PhotoRef)
def internal_photo(media_id: MediaId, session: SessionDep) -> dict[str, Any]:
    """A photo's show, uploader and status."""
    return service.internal_photo(session, media_id=media_id)


@internal_router.get("/users/{user_id}/counts", response_model=UserCounts)
def internal_user_counts(user_id: MediaId, session: SessionDep) -> dict[str, int]:
    """How many photos, audio recordings and videos a user uploaded."""
    return service.user_counts(session, user_id=user_id)

