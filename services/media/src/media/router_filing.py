"""Thin routes of the library: items uploaded without a show, and filing them into one (media.filing)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query

from media import filing
from media.dependencies import SettingsDep, ShowsDep
from media.exceptions import AlreadyFiled, DuplicateInShow, MediaNotFound, NotAllowed, ShowNotFound
from media.schemas import FileRequest, MediaRead, UnfiledList
from media.serialize import record
from shared.auth import CurrentUser
from shared.db import SessionDep, service_router
from shared.errors import ErrorBody
from shared.params import MAX_ID, MAX_OFFSET

library_router = service_router(prefix="/api/media", tags=["library"])


@library_router.get("/unfiled", response_model=UnfiledList, name="unfiled_media")
def unfiled_media(
    user: CurrentUser, session: SessionDep, settings: SettingsDep,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    offset: Annotated[int | None, Query(ge=0, le=MAX_OFFSET)] = None,
) -> dict[str, Any]:
    """The caller's library (items with no show), newest first, each with the shows it may belong to."""
    lim = max(1, min(limit or settings.list_default_limit, settings.list_max_limit))
    items, total = filing.unfiled(session, user_id=user.user_id, limit=lim, offset=offset or 0)
    return {"items": items, "total": total}


@library_router.post("/{media_id}/file", response_model=MediaRead, name="file_media", responses={
    404: {"model": ErrorBody, "description": f"{MediaNotFound.default_message} Or: {ShowNotFound.default_message}"},
    403: NotAllowed.schema(),
    409: {"model": ErrorBody, "description": f"`already_filed`: {AlreadyFiled.default_message} "
                                             f"`duplicate_in_show`: {DuplicateInShow.default_message}"},
})
def file_media(media_id: Annotated[int, Path(ge=1, le=MAX_ID)], body: FileRequest, user: CurrentUser,
               session: SessionDep, shows: ShowsDep) -> dict[str, Any]:
    """Put one of your library items into one of your shows (`filed_by: "user"`)."""
    item = filing.file_by_hand(session, shows, media_id=media_id, user_id=user.user_id, show_id=body.show_id)
    return record(item)
