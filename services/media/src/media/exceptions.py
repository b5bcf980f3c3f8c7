"""Errors of the media service (rendered as the contract's error body by shared's handler)."""

from __future__ import annotations

from shared.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceError,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)


class MediaNotFound(NotFound):
    default_code = "media_not_found"
    default_message = "This media item does not exist or is not visible to you."


class ShowNotFound(NotFound):
    default_code = "show_not_found"
    default_message = "This show does not exist or is not visible to you."


class NotAllowed(Forbidden):
    default_code = "forbidden"
    default_message = "You are not allowed to do this."


class NotReady(Conflict):
    default_code = "not_ready"
    default_message = "This media item is still being processed; try again shortly."


class ProcessingFailed(Conflict):
    default_code = "processing_failed"
    default_message = "This media item could not be processed."


class UploadTooLarge(PayloadTooLarge):
    default_code = "payload_too_large"
    default_message = "The file is larger than allowed."


class QuotaExceeded(PayloadTooLarge):
    default_code = "quota_exceeded"
    default_message = "This upload would take you past your storage quota."


class ShowIdFirst(ValidationFailed):
    default_code = "show_id_first"
    default_message = (
        "Name the show before the file: add ?show_id= to the URL (or an X-Show-Id header), "
        "or send the show_id form field before the file part (with no show at all, the file goes to your library)."
    )


class UploadRateLimited(RateLimited):
    default_code = "upload_rate_limited"
    default_message = "You started too many uploads in a short time; wait a little and try again."


class UnsupportedMedia(UnsupportedMediaType):
    default_code = "unsupported_media_type"
    default_message = "This file type is not supported here."


class BadUpload(BadRequest):
    default_code = "bad_upload"
    default_message = "The upload could not be read as multipart/form-data."


class StorageUnavailable(ServiceUnavailable):
    default_code = "storage_unavailable"
    default_message = "Media storage is unavailable right now; try again shortly."


class RangeNotSatisfiable(BadRequest):
    status_code = 416
    default_code = "range_not_satisfiable"
    default_message = "The requested range is not satisfiable."


class TusVersionUnsupported(ServiceError):
    status_code = 412
    default_code = "tus_version_unsupported"
    default_message = "Send Tus-Resumable: 1.0.0 (the only tus version this server speaks)."


class UploadNotFound(NotFound):
    default_code = "upload_not_found"
    default_message = "This upload does not exist or is not yours."


class UploadGone(ServiceError):
    status_code = 410
    default_code = "upload_expired"
    default_message = "This upload expired before it was finished; start a new one."


class AlreadyFiled(Conflict):
    default_code = "already_filed"
    default_message = "This item is already in a show; only items of your library can be filed."


class DuplicateInShow(Conflict):
    default_code = "duplicate_in_show"
    default_message = "You already added the same file to that show."


class OffsetMismatch(Conflict):
    default_code = "offset_mismatch"
    default_message = "Upload-Offset does not match the bytes stored so far; ask with HEAD and resume from there."


class UploadLocked(ServiceError):
    status_code = 423
    default_code = "upload_locked"
    default_message = "Another request is writing to this upload right now; try again shortly."


class BadTusRequest(BadRequest):
    default_code = "bad_tus_request"
    default_message = "The tus request is malformed."


class ConcertNotFound(NotFound):
    default_code = "concert_not_found"
    default_message = "This concert does not exist or none of its shows is visible to you."


class SongNotFound(NotFound):
    default_code = "song_not_found"
    default_message = "This song is not on the show's setlist, or the show is not visible to you."
