"""Routes of a concert's album, clips on the setlist and a video's chapters (served by media, decided with shows)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from fastapi.responses import PlainTextResponse

from media import album
from media.dependencies import ConcertsDep, SettingsDep, ShowsDep
from media.exceptions import ConcertNotFound, MediaNotFound, ShowNotFound, SongNotFound
from media.schemas import AlbumList, SetlistClips
from shared.auth import CurrentUser
from shared.db import SessionDep, service_router
from shared.params import MAX_ID, MAX_OFFSET

album_router = service_router()

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int | None, Query(ge=1, le=1000)]
Offset = Annotated[int | None, Query(ge=0, le=MAX_OFFSET)]


@album_router.get("/api/concerts/{concert_id}/album", response_model=AlbumList, tags=["concerts"],
                  name="concert_album", responses={404: ConcertNotFound.schema()})
def concert_album(concert_id: Id, user: CurrentUser, session: SessionDep, settings: SettingsDep,
                  concerts: ConcertsDep, limit: Limit = None, offset: Offset = None) -> dict[str, Any]:
    """Every photo and video of the concert's shows you may see, in capture-time order, each file once.

    Each item carries `user {id, username}` (who took it) and its own show's `visibility`.
    """
    items, total = album.album(session, concerts, concert_id=concert_id, viewer_id=user.user_id, limit=limit,
                               offset=offset, default_limit=settings.list_default_limit,
                               max_limit=settings.list_max_limit)
    return {"items": items, "total": total}


@album_router.get("/api/shows/{show_id}/setlist/clips", response_model=SetlistClips, tags=["concerts"],
                  name="setlist_clips", responses={404: ShowNotFound.schema()})
def setlist_clips(show_id: Id, user: CurrentUser, session: SessionDep, shows: ShowsDep,
                  concerts: ConcertsDep) -> dict[str, Any]:
    """How many visible clips each song of this show's setlist has, from every attendee (songs with clips)."""
    return {"songs": album.setlist_clip_counts(session, shows, concerts, show_id=show_id, viewer_id=user.user_id)}


@album_router.get("/api/shows/{show_id}/setlist/{song_id}/clips", response_model=AlbumList, tags=["concerts"],
                  name="song_clips", responses={404: SongNotFound.schema()})
def song_clips(show_id: Id, song_id: Id, user: CurrentUser, session: SessionDep, settings: SettingsDep,
               shows: ShowsDep, concerts: ConcertsDep, limit: Limit = None, offset: Offset = None) -> dict[str, Any]:
    """Every visible clip of this song at the concert, from every attendee's show, in capture-time order.

    A clip counts for a song its uploader confirmed, or, while nothing is confirmed, one at least half of the
    clip is expected in; `clip {song_id, source, start_s, end_s}` says which song of its own show and where.
    """
    items, total = album.song_clips(session, shows, concerts, show_id=show_id, song_id=song_id,
                                    viewer_id=user.user_id, limit=limit, offset=offset,
                                    default_limit=settings.list_default_limit, max_limit=settings.list_max_limit)
    return {"items": items, "total": total}


@album_router.get("/api/videos/{media_id}/hls/chapters.vtt", tags=["videos"], name="video_chapters",
                  response_class=PlainTextResponse, responses={
                      200: {"description": "WebVTT chapters, one per song", "content": {"text/vtt": {}}},
                      404: MediaNotFound.schema()})
def video_chapters(media_id: Id, user: CurrentUser, session: SessionDep, shows: ShowsDep,
                   concerts: ConcertsDep) -> PlainTextResponse:
    """The video's songs as WebVTT chapters (confirmed songs, else suggested ones; a video of several songs)."""
    text = album.chapters(session, shows, concerts, media_id=media_id, user_id=user.user_id)
    return PlainTextResponse(text, media_type="text/vtt", headers={"Cache-Control": "private, no-cache"})
