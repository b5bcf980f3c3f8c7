"""Catalogue routes: imports and jobs, artists, statistics (thin: parse, call, answer)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import File, Form, Path, Query, Request, UploadFile, status

from shared.db import SessionDep, service_router
from shared.errors import PayloadTooLarge, ValidationFailed
from shows.catalog import jobs, stats
from shows.catalog import service as catalog
from shows.catalog.schemas import (
    ArtistDetail,
    ArtistHistory,
    ArtistLookup,
    AttendedImport,
    HomeIn,
    HomeRead,
    JobAccepted,
    JobList,
    JobRead,
    SetlistImport,
    SongsHeard,
    SourcesRead,
    VenueMap,
    YearInReview,
)
from shows.catalog.sources import configured_sources
from shows.dependencies import SettingsDep, ShowId, ViewerDep
from shows.exceptions import NotShowOwner, ShowNotFound

ArtistId = Annotated[int, Path(ge=1, le=2_147_483_647, description="Artist id")]
JobId = Annotated[int, Path(ge=1, le=2_147_483_647, description="Job id")]
Year = Annotated[int, Path(ge=1900, le=2200)]
ACCEPTED = {422: ValidationFailed.schema(), 409: catalog.SourceNotConfigured.schema()}

imports_router = service_router(tags=["imports"])
stats_router = service_router(prefix="/api/stats", tags=["statistics"])


async def enqueue_of(request: Request) -> jobs.Enqueue:
    """How this app sends jobs to the worker."""
    enqueue: jobs.Enqueue = request.app.state.catalog_enqueue
    return enqueue


@imports_router.get("/api/catalog/sources", response_model=SourcesRead)
def sources(viewer: ViewerDep, settings: SettingsDep) -> dict[str, Any]:
    """Which import sources are configured here (and why not), and the map's tile server."""
    return {"sources": configured_sources(settings),
            "map": {"tile_url": settings.map_tile_url, "attribution": settings.map_attribution}}


@imports_router.post("/api/shows/{show_id}/setlist/import", status_code=status.HTTP_202_ACCEPTED,
                     response_model=JobAccepted,
                     responses={404: ShowNotFound.schema(), 403: NotShowOwner.schema(), **ACCEPTED})
async def import_setlist(show_id: ShowId, body: SetlistImport, request: Request, session: SessionDep,
                         viewer: ViewerDep, settings: SettingsDep) -> dict[str, Any]:
    """Import the show's setlist from setlist.fm or MusicBrainz (by id, or found by artist + date + venue)."""
    return catalog.start_setlist_import(session, viewer=viewer, show_id=show_id, data=body, settings=settings,
                                        enqueue=await enqueue_of(request))


@imports_router.post("/api/imports", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted,
                     responses={413: PayloadTooLarge.schema(), 422: ValidationFailed.schema()})
async def import_history(
    request: Request,
    session: SessionDep,
    viewer: ViewerDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="The CSV file")],
    format: Annotated[str, Form(description="concertarchives | setlistfm | generic")] = "generic",
    dry_run: Annotated[bool, Form()] = False,
) -> dict[str, Any]:
    """Import a history file (CSV) in the background; the result lists created, matched and skipped rows."""
    content = await file.read(settings.import_max_bytes + 1)
    return catalog.start_history_import(session, viewer=viewer, content=content, fmt=format, dry_run=dry_run,
                                        settings=settings, enqueue=await enqueue_of(request))


@imports_router.post("/api/imports/setlistfm-attended", status_code=status.HTTP_202_ACCEPTED,
                     response_model=JobAccepted, responses=ACCEPTED)
async def import_attended(body: AttendedImport, request: Request, session: SessionDep, viewer: ViewerDep,
                          settings: SettingsDep) -> dict[str, Any]:
    """Import the concerts a setlist.fm user attended (with their setlists)."""
    return catalog.start_attended_import(session, viewer=viewer, data=body, settings=settings,
                                         enqueue=await enqueue_of(request))


@imports_router.get("/api/jobs", response_model=JobList)
def list_jobs(session: SessionDep, viewer: ViewerDep,
              limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict[str, Any]:
    """The caller's latest jobs, newest first."""
    return jobs.list_jobs(session, user_id=viewer.id, limit=limit)


@imports_router.get("/api/jobs/{job_id}", response_model=JobRead, responses={404: jobs.JobNotFound.schema()})
def get_job(job_id: JobId, session: SessionDep, viewer: ViewerDep) -> dict[str, Any]:
    """A job of the caller: status, progress, result or the reason it failed (404 for others' jobs)."""
    return jobs.get_job(session, job_id=job_id, user_id=viewer.id)


@imports_router.get("/api/artists/{artist_id}", response_model=ArtistDetail,
                    responses={404: stats.ArtistNotFound.schema()})
def get_artist(artist_id: ArtistId, session: SessionDep, viewer: ViewerDep) -> dict[str, Any]:
    """An artist: MBID, disambiguation, aliases, image and description when looked up."""
    return stats.artist_detail(stats.get_artist(session, artist_id))


@imports_router.post("/api/artists/{artist_id}/lookup", status_code=status.HTTP_202_ACCEPTED,
                     response_model=JobAccepted, responses={404: stats.ArtistNotFound.schema(), **ACCEPTED})
async def lookup_artist(artist_id: ArtistId, body: ArtistLookup, request: Request, session: SessionDep,
                        viewer: ViewerDep, settings: SettingsDep) -> dict[str, Any]:
    """Look the artist up on MusicBrainz (an ambiguous name ends with candidates: send one back as `mbid`)."""
    return catalog.start_artist_lookup(session, viewer=viewer, artist_id=artist_id, mbid=body.mbid,
                                       settings=settings, enqueue=await enqueue_of(request))


@stats_router.get("/songs", response_model=SongsHeard)
def songs(session: SessionDep, viewer: ViewerDep,
          artist_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
          limit: Annotated[int, Query(ge=1, le=500)] = 50,
          offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> dict[str, Any]:
    """Every song the caller heard live, matched across setlists, most heard first."""
    return stats.songs(session, user_id=viewer.id, artist_id=artist_id, limit=limit, offset=offset)


@stats_router.get("/artists/{artist_id}", response_model=ArtistHistory, responses={404: stats.ArtistNotFound.schema()})
def artist_history(artist_id: ArtistId, session: SessionDep, viewer: ViewerDep) -> dict[str, Any]:
    """The caller's history with one artist: shows, songs heard, songs known and not heard yet."""
    return stats.artist_history(session, user_id=viewer.id, artist_id=artist_id)


@stats_router.get("/years/{year}", response_model=YearInReview)
def year_in_review(year: Year, session: SessionDep, viewer: ViewerDep) -> dict[str, Any]:
    """The caller's year in review."""
    return stats.year_in_review(session, user_id=viewer.id, year=year)


@stats_router.get("/map", response_model=VenueMap)
def venue_map(session: SessionDep, viewer: ViewerDep) -> dict[str, Any]:
    """Every venue the caller has been to that has coordinates, with their show count."""
    return stats.venue_map(session, user_id=viewer.id)


@stats_router.get("/home", response_model=HomeRead)
def get_home(session: SessionDep, viewer: ViewerDep) -> dict[str, Any]:
    """The caller's home place (used for the longest trip of a year)."""
    return stats.get_home(session, user_id=viewer.id)


@stats_router.put("/home", response_model=HomeRead, responses={422: ValidationFailed.schema()})
def set_home(body: HomeIn, session: SessionDep, viewer: ViewerDep) -> dict[str, Any]:
    """Set the caller's home place."""
    return stats.set_home(session, user_id=viewer.id, city=body.city, latitude=body.latitude,
                          longitude=body.longitude)


