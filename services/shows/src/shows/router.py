"""Public shows routes (thin: parse, call the service, shape the HTTP answer)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request, Response, status

from shared.db import SessionDep, service_router
from shows import dashboard, live, readpath, service
from shows import repository as repo
from shows import setlist as setlist_service
from shows.clients import fetch_show_extras_async
from shows.dependencies import SettingsDep, ShowId, SongId, UsersDep, ViewerDep, reader_of
from shows.exceptions import CheckinClosed, DuplicateShow, NotAtConcert, NotShowOwner, SetlistFull, ShowNotFound
from shows.exports import shows_csv, shows_ics
from shows.normalize import normalize
from shows.schemas import (
    ActiveUsers,
    CheckinResult,
    ListParams,
    ShowCreate,
    ShowCreated,
    ShowDetail,
    ShowRead,
    ShowUpdate,
    SongCreate,
    SongRead,
    SongUpdate,
)

router = service_router(prefix="/api/shows", tags=["shows"])
NOT_FOUND = {404: ShowNotFound.schema()}
# owner-only operations: 404 when the show is not visible, 403 when visible but someone else's
OWNED = {**NOT_FOUND, 403: NotShowOwner.schema()}


NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: `If-None-Match` named the current `ETag` (no body)."}
}


def _cache_headers(tag: str) -> dict[str, str]:
    # private: the answer is the caller's own view; no-cache: revalidate with the ETag every time
    return {"ETag": tag, "Cache-Control": "private, no-cache"}


def _link_header(request: Request, offset: int, limit: int, total: int) -> str | None:
    """RFC 8288 next/prev links for an offset page (relative, so they stay right behind the gateway)."""

    def ref(new_offset: int) -> str:
        url = request.url.include_query_params(offset=new_offset, limit=limit)
        return f"{url.path}?{url.query}"

    links = []
    if offset + limit < total:
        links.append(f'<{ref(offset + limit)}>; rel="next"')
    if offset > 0:
        links.append(f'<{ref(max(offset - limit, 0))}>; rel="prev"')
    return ", ".join(links) or None


@router.get("", response_model=list[ShowRead], responses=NOT_MODIFIED)
async def list_shows(
    request: Request, viewer: ViewerDep, settings: SettingsDep, p: Annotated[ListParams, Query()]
) -> Response:
    """The caller's shows (or `user_id`'s, as far as the caller may see them), newest first."""
    size = settings.list_default_limit if p.limit is None else min(max(p.limit, 1), settings.list_max_limit)
    filters = repo.ShowFilters(
        artist=normalize(p.artist) or None,
        artist_id=p.artist_id,
        venue=normalize(p.venue) or None,
        venue_id=p.venue_id,
        city=normalize(p.city) or None,
        year=p.year,
        date_from=p.date_from,
        date_to=p.date_to,
        when=p.filter,
        q=normalize(p.q) or None,
    )
    offset = p.offset
    answer = await readpath.list_page(
        reader_of(request), viewer=viewer, owner_id=p.user_id, filters=filters, sort=p.sort, limit=size,
        offset=offset,
        query=request.url.query, if_none_match=request.headers.get("if-none-match"),
    )
    if answer.body is None:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=_cache_headers(answer.etag))
    headers = {"X-Total-Count": str(answer.total), **_cache_headers(answer.etag)}
    link = _link_header(request, offset, size, answer.total)
    if link:
        headers["Link"] = link
    return Response(answer.body, media_type="application/json", headers=headers)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ShowCreated,
             responses={409: DuplicateShow.schema()})
def create_show(body: ShowCreate, session: SessionDep, viewer: ViewerDep, users: UsersDep) -> dict[str, Any]:
    """Log a show (finds or creates artist, venue and concert); says how many others logged it."""
    return service.create_show(session, viewer=viewer, data=body, users=users)


@router.get("/export.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export_csv(session: SessionDep, viewer: ViewerDep) -> Response:
    """The caller's shows as a CSV file."""
    body = shows_csv(dashboard.export_rows(session, user_id=viewer.id))
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="sharemyshows-shows.csv"'},
    )


@router.get("/calendar.ics", response_class=Response, responses={200: {"content": {"text/calendar": {}}}})
def export_ics(session: SessionDep, viewer: ViewerDep) -> Response:
    """The caller's shows as an iCalendar file."""
    body = shows_ics(dashboard.export_rows(session, user_id=viewer.id))
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="sharemyshows-shows.ics"'},
    )


@router.get("/{show_id}", response_model=ShowDetail, response_model_exclude_none=False,
            responses={**NOT_FOUND, **NOT_MODIFIED})
async def get_show(request: Request, show_id: ShowId, viewer: ViewerDep, settings: SettingsDep) -> Response:
    """A show with its setlist, photos, audio, videos and comments."""
    state = request.app.state
    answer = await readpath.read_show(
        reader_of(request), viewer=viewer, show_id=show_id,
        extras=lambda: fetch_show_extras_async(
            state.peers, state.async_peers, show_id, viewer.id, settings.internal_timeout_s
        ),
        if_none_match=request.headers.get("if-none-match"),
    )
    if answer.body is None:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=_cache_headers(answer.etag))
    return Response(answer.body, media_type="application/json", headers=_cache_headers(answer.etag))


@router.put("/{show_id}", response_model=ShowRead, responses={**OWNED, 409: DuplicateShow.schema()})
def update_show(show_id: ShowId, body: ShowUpdate, session: SessionDep, viewer: ViewerDep) -> dict[str, Any]:
    """Change a show (owner only; partial)."""
    return service.update_show(session, viewer=viewer, show_id=show_id, data=body)


@router.delete("/{show_id}", status_code=status.HTTP_204_NO_CONTENT, responses=OWNED)
def delete_show(show_id: ShowId, session: SessionDep, viewer: ViewerDep) -> Response:
    """Delete a show (owner only); setlist, check-ins, media, comments and chat go with it."""
    service.delete_show(session, viewer=viewer, show_id=show_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{show_id}/setlist", response_model=list[SongRead], responses=NOT_FOUND)
def get_setlist(show_id: ShowId, session: SessionDep, viewer: ViewerDep) -> list[dict[str, Any]]:
    """The setlist in order (anyone who may see the show)."""
    return setlist_service.list_setlist(session, viewer=viewer, show_id=show_id)


@router.post("/{show_id}/setlist", status_code=status.HTTP_201_CREATED, response_model=SongRead,
             responses={**OWNED, 409: SetlistFull.schema()})
def add_song(
    show_id: ShowId, body: SongCreate, session: SessionDep, viewer: ViewerDep, settings: SettingsDep
) -> dict[str, Any]:
    """Add a song (at `order`, default last)."""
    return setlist_service.add_song(
        session, viewer=viewer, show_id=show_id, data=body, max_songs=settings.setlist_max_songs
    )


@router.put("/{show_id}/setlist/{song_id}", response_model=SongRead, responses=OWNED)
def update_song(
    show_id: ShowId, song_id: SongId, body: SongUpdate, session: SessionDep, viewer: ViewerDep
) -> dict[str, Any]:
    """Change a song of this show; `order` moves it and renumbers the rest."""
    return setlist_service.update_song(session, viewer=viewer, show_id=show_id, song_id=song_id, data=body)


@router.delete("/{show_id}/setlist/{song_id}", status_code=status.HTTP_204_NO_CONTENT, responses=OWNED)
def delete_song(show_id: ShowId, song_id: SongId, session: SessionDep, viewer: ViewerDep) -> Response:
    """Remove a song of this show and close the gap."""
    setlist_service.remove_song(session, viewer=viewer, show_id=show_id, song_id=song_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{show_id}/checkin", response_model=CheckinResult, responses={**OWNED, 409: CheckinClosed.schema()})
def checkin(show_id: ShowId, session: SessionDep, viewer: ViewerDep, settings: SettingsDep) -> dict[str, Any]:
    """Check in at the concert of your show (around its date; idempotent)."""
    return live.check_in(
        session,
        viewer=viewer,
        show_id=show_id,
        window_hours=settings.checkin_window_hours,
        ttl_hours=settings.checkin_ttl_hours,
    )


@router.post("/{show_id}/checkout", response_model=CheckinResult, responses=OWNED)
def checkout(show_id: ShowId, session: SessionDep, viewer: ViewerDep, settings: SettingsDep) -> dict[str, Any]:
    """End your check-in (idempotent)."""
    return live.check_out(session, viewer=viewer, show_id=show_id, ttl_hours=settings.checkin_ttl_hours)


@router.get("/{show_id}/active-users", response_model=ActiveUsers, responses={**NOT_FOUND, 403: NotAtConcert.schema()})
def active_users(show_id: ShowId, session: SessionDep, viewer: ViewerDep, settings: SettingsDep) -> dict[str, Any]:
    """Who is checked in at this show's concert now (usernames only)."""
    return live.active_users(session, viewer=viewer, show_id=show_id, ttl_hours=settings.checkin_ttl_hours)
