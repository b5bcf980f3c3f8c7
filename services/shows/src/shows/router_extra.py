"""Dashboard, autocomplete and internal routes of the shows service."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request, Response

from shared.copies import SNAPSHOT_PAGE_MAX, parse_since
from shared.db import SessionDep, service_router
from shared.internal import require_internal
from shows import dashboard, filing, readpath, service
from shows import repository as repo
from shows.clients import fetch_user_counts_async
from shows.dependencies import MAX_ID, PeersDep, SettingsDep, ShowId, ViewerDep, reader_of
from shows.schemas import (
    ArtistSuggestions,
    DashboardArtists,
    DashboardStats,
    DashboardVenues,
    ShowAccess,
    ShowInfo,
    VenueSuggestions,
)

dashboard_router = service_router(prefix="/api/dashboard", tags=["dashboard"])
catalogue_router = service_router(prefix="/api", tags=["catalogue"])
internal_router = service_router(prefix="/internal", dependencies=[Depends(require_internal)], include_in_schema=False)
Limit = Annotated[int | None, Query()]


def _clamp(limit: int | None, default: int, maximum: int) -> int:
    return default if limit is None else min(max(limit, 1), maximum)


@dashboard_router.get("/stats", response_model=DashboardStats)
async def stats(request: Request, viewer: ViewerDep, settings: SettingsDep, peers: PeersDep) -> dict[str, Any]:
    """The caller's totals (fresh; media and social counts degrade to 0 if those services are down)."""
    async_peers = request.app.state.async_peers
    return await dashboard.stats(
        reader_of(request), user_id=viewer.id,
        counts=lambda: fetch_user_counts_async(peers, async_peers, viewer.id, settings.internal_timeout_s),
    )


@dashboard_router.get("/artists", response_model=DashboardArtists)
def top_artists(session: SessionDep, viewer: ViewerDep, settings: SettingsDep, limit: Limit = None) -> dict[str, Any]:
    """The caller's artists with show counts and first/last seen dates."""
    size = _clamp(limit, settings.dashboard_default_limit, settings.dashboard_max_limit)
    return dashboard.artists(session, user_id=viewer.id, limit=size)


@dashboard_router.get("/venues", response_model=DashboardVenues)
def top_venues(session: SessionDep, viewer: ViewerDep, settings: SettingsDep, limit: Limit = None) -> dict[str, Any]:
    """The caller's venues with show counts and first/last dates."""
    size = _clamp(limit, settings.dashboard_default_limit, settings.dashboard_max_limit)
    return dashboard.venues(session, user_id=viewer.id, limit=size)


@catalogue_router.get("/artists", response_model=ArtistSuggestions)
def suggest_artists(
    session: SessionDep, viewer: ViewerDep, q: Annotated[str, Query(max_length=200)] = "", limit: Limit = None
) -> dict[str, Any]:
    """Artist autocomplete: prefix, case/accent-insensitive, most used first."""
    return dashboard.suggest_artists(session, q=q, limit=_clamp(limit, 10, 10))


@catalogue_router.get("/venues", response_model=VenueSuggestions)
def suggest_venues(
    session: SessionDep, viewer: ViewerDep, q: Annotated[str, Query(max_length=200)] = "", limit: Limit = None
) -> dict[str, Any]:
    """Venue autocomplete: prefix, case/accent-insensitive, most used first."""
    return dashboard.suggest_venues(session, q=q, limit=_clamp(limit, 10, 10))


@internal_router.get("/shows/{show_id}/access", response_model=ShowAccess)
async def show_access(
    show_id: ShowId,
    request: Request,
    settings: SettingsDep,
    user_id: Annotated[int, Query(ge=0, le=MAX_ID)],
    friends: Annotated[bool | None, Query(description="the friendship as social knows it")] = None,
) -> Response:
    """What `user_id` may do with a show (404 if the show does not exist)."""
    body = await readpath.show_access(reader_of(request), show_id=show_id, user_id=user_id,
                                      ttl_hours=settings.checkin_ttl_hours, are_friends=friends)
    return Response(body, media_type="application/json")


@internal_router.get("/snapshot/shows")
def shows_snapshot(
    session: SessionDep,
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=SNAPSHOT_PAGE_MAX)] = 500,
    since: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    """Every show (live or deleted) with its version, paged by id: how copies in media and social repair."""
    return service.shows_snapshot(session, after=after, limit=limit, since=parse_since(since)).as_json()


@internal_router.get("/shows/{show_id}", response_model=ShowInfo)
def show_info(show_id: ShowId, session: SessionDep) -> dict[str, Any]:
    """Minimal facts of a show (owner, visibility, name, date)."""
    return service.show_info(session, show_id=show_id)


@internal_router.get("/users/{user_id}/filing-candidates")
def filing_candidates(
    user_id: Annotated[int, Path(ge=1, le=MAX_ID)], session: SessionDep, settings: SettingsDep,
    start: Annotated[dt.date, Query(alias="from")], end: Annotated[dt.date, Query(alias="to")],
) -> dict[str, Any]:
    """The user's shows dated from..to with venue position and check-ins (media files library items with it)."""
    return filing.filing_candidates(session, user_id=user_id, start=start, end=end,
                                    checkin_ttl_hours=settings.checkin_ttl_hours)


@internal_router.get("/users/{user_id}/public-profile")
def user_public_profile(user_id: Annotated[int, Path(ge=1, le=MAX_ID)], session: SessionDep) -> dict[str, Any]:
    """A person's public shows (newest 100), their counts and top artists (social's opt-in public profile)."""
    return dashboard.public_profile(session, user_id=user_id)


@internal_router.get("/users/{user_id}/shows")
def user_shows(user_id: Annotated[int, Path(ge=1, le=MAX_ID)], session: SessionDep) -> dict[str, Any]:
    """The ids of a user's shows."""
    ids = repo.user_show_ids(session, user_id)
    return {"show_ids": ids, "total": len(ids)}
