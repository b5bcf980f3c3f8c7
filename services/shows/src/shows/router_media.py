"""Internal routes media asks about concerts: visible shows of a concert and setlist timing."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query

from shared.db import SessionDep, service_router
from shared.internal import require_internal
from shows import concert_media
from shows.dependencies import MAX_ID, ShowId

media_internal_router = service_router(prefix="/internal", dependencies=[Depends(require_internal)],
                                  include_in_schema=False)


@media_internal_router.get("/concerts/{concert_id}/visible-shows")
def concert_visible_shows(
    concert_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    session: SessionDep,
    viewer: Annotated[int, Query(ge=1, le=MAX_ID)],
    setlists: bool = False,
) -> dict[str, Any]:
    """`{concert_id, shows: [{show_id, owner_id, username, visibility[, start, songs]}]}` the viewer may see."""
    return concert_media.concert_shows(session, concert_id=concert_id, viewer_id=viewer, setlists=setlists)


@media_internal_router.get("/shows/{show_id}/setlist-timing")
def setlist_timing(show_id: ShowId, session: SessionDep) -> dict[str, Any]:
    """`{show_id, concert_id, start (local ISO or null), songs: [{song_id, position, title, key, duration_s}]}`."""
    return concert_media.setlist_timing(session, show_id=show_id)
