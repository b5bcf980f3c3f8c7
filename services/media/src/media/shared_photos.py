"""Internal queries for social's public share links (issue 16): which of a show owner's photos may go on a link,
and their thumbnails' bytes.

social owns the links and decides who may see what; media only answers "is photo P still the owner's ready
photo of show S" and hands over a thumbnail (already free of GPS/EXIF: thumbnails are re-encoded). Nothing here
is routed by the gateway.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from media import service
from media.dependencies import SettingsDep, StorageDep
from media.exceptions import MediaNotFound
from media.models import READY, MediaItem
from media.responses import serve_object
from shared.db import SessionDep, service_router
from shared.internal import require_internal
from shared.params import MAX_ID

MAX_PHOTOS = 12  # social's limit per link; a longer list is not a link's

share_router = service_router(prefix="/internal/media/shows/{show_id}/owner-photos",
                         dependencies=[Depends(require_internal)], include_in_schema=False)
Id = Annotated[int, Path(ge=1, le=MAX_ID)]


def owner_photos(session: Session, *, show_id: int, user_id: int, ids: list[int]) -> list[MediaItem]:
    """Those of `ids` that are `user_id`'s ready photos of `show_id`, in the order asked."""
    if not ids:
        return []
    stmt = select(MediaItem).where(MediaItem.id.in_(ids), MediaItem.kind == "photo", MediaItem.status == READY,
                                   MediaItem.show_id == show_id, MediaItem.user_id == user_id)
    found = {item.id: item for item in session.scalars(stmt)}
    return [found[i] for i in dict.fromkeys(ids) if i in found]


def _ids(raw: str) -> list[int]:
    out = [int(p) for p in raw.split(",") if p.strip().isdigit()][:MAX_PHOTOS]
    return [i for i in out if 0 < i <= MAX_ID]


@share_router.get("")
def list_owner_photos(show_id: Id, session: SessionDep, user_id: Annotated[int, Query(ge=1, le=MAX_ID)],
                      ids: Annotated[str, Query(max_length=400, description="comma-separated photo ids")] = ""
                      ) -> dict[str, Any]:
    """Which of `ids` are the user's ready photos of the show (others are left out), with their sizes."""
    items = owner_photos(session, show_id=show_id, user_id=user_id, ids=_ids(ids))
    return {"photos": [{"id": i.id, "width": i.width, "height": i.height} for i in items]}


@share_router.get("/{media_id}/{size}")
def owner_photo_thumbnail(show_id: Id, media_id: Id, size: Annotated[str, Path(pattern="^(medium|large)$")],
                          request: Request, session: SessionDep, settings: SettingsDep, storage: StorageDep,
                          user_id: Annotated[int, Query(ge=1, le=MAX_ID)]) -> Response:
    """The thumbnail of one of the user's ready photos of the show; 404 for anything else."""
    items = owner_photos(session, show_id=show_id, user_id=user_id, ids=[media_id])
    if not items:
        raise MediaNotFound()
    obj = service.choose_thumbnail(items[0], size=size)
    return serve_object(request, storage, items[0], obj, max_age=settings.cache_max_age_s)
