"""Request and response models of the catalogue routes."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Input(BaseModel):
    model_config = ConfigDict(extra="ignore", str_max_length=10_000)


class SetlistImport(_Input):
    """Body of POST /api/shows/{id}/setlist/import."""

    source: Literal["setlistfm", "musicbrainz"] = "setlistfm"
    external_id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")
    replace: bool = False
    artist_id: int | None = Field(None, ge=1, le=2_147_483_647, description="The act (on the bill); default headliner")


class AttendedImport(_Input):
    """Body of POST /api/imports/setlistfm-attended."""

    username: str = Field(..., min_length=1, max_length=100, pattern=r"^[^/?#\s]+$")
    dry_run: bool = False


class ArtistLookup(_Input):
    """Body of POST /api/artists/{id}/lookup (an MBID settles an ambiguous name)."""

    mbid: str | None = Field(None, pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class HomeIn(_Input):
    """Body of PUT /api/stats/home."""

    city: str = Field("", max_length=120)
    latitude: float = Field(..., ge=-90, le=90)
    longitude: float = Field(..., ge=-180, le=180)

    @field_validator("city", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value


class JobAccepted(BaseModel):
    """202 answer: the job to poll."""

    job_id: int
    status: str


class JobRead(BaseModel):
    """A background job."""

    job_id: int
    kind: str
    status: Literal["queued", "running", "succeeded", "failed"]
    progress: int
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    finished_at: str | None = None


class JobList(BaseModel):
    """The caller's latest jobs."""

    jobs: list[JobRead]


class SourceState(BaseModel):
    """Whether an import source can work here."""

    configured: bool
    reason: str | None = None


class MapSettings(BaseModel):
    """What the web app's map needs."""

    tile_url: str
    attribution: str


class SourcesRead(BaseModel):
    """Which imports are configured, and the map's tile server."""

    sources: dict[str, SourceState]
    map: MapSettings


class ArtistRef(BaseModel):
    """An artist in statistics."""

    id: int
    name: str


class ArtistDetail(BaseModel):
    """The catalogue's facts of an artist."""

    id: int
    name: str
    mbid: str | None = None
    image_url: str | None = None
    disambiguation: str = ""
    sort_name: str | None = None
    description: str | None = None
    aliases: list[str] = []
    catalog_fetched_at: dt.datetime | None = None


class SongHeard(BaseModel):
    """A song the person heard live."""

    title: str
    song_key: str
    artist: ArtistRef
    times_heard: int
    first_heard: dt.date
    last_heard: dt.date
    show_ids: list[int]


class SongsHeard(BaseModel):
    """GET /api/stats/songs."""

    songs: list[SongHeard]
    total: int


class VenueRef(BaseModel):
    """A venue in an artist's history."""

    id: int
    name: str
    city: str


class ArtistShow(BaseModel):
    """A show where the person saw the artist."""

    show_id: int
    date: dt.date
    role: str
    venue: VenueRef
    festival: str | None = None


class TitleCount(BaseModel):
    """A song and how often it was heard."""

    title: str
    times_heard: int


class ArtistHistory(BaseModel):
    """GET /api/stats/artists/{artist_id}."""

    artist: ArtistDetail
    shows: list[ArtistShow]
    first_seen: dt.date | None
    last_seen: dt.date | None
    songs_heard: int
    songs_known: int | None
    coverage: float | None
    heard: list[TitleCount]
    not_heard: list[str]


class NewArtist(BaseModel):
    """An act first seen in the year."""

    id: int
    name: str
    first_seen: dt.date


class ArtistCount(BaseModel):
    """An act and the shows the person saw it at."""

    id: int
    name: str
    shows: int


class Trip(BaseModel):
    """The venue of the year farthest from home."""

    show_id: int
    venue_id: int
    venue: str
    city: str
    km: float


class Spend(BaseModel):
    """Ticket money of the year in one currency."""

    currency: str | None
    total: float
    shows: int


class MonthCount(BaseModel):
    """Shows in a month."""

    month: int
    shows: int


class HomeRead(BaseModel):
    """The person's home place."""

    city: str | None = None
    latitude: float | None = None
    longitude: float | None = None


class YearInReview(BaseModel):
    """GET /api/stats/years/{year}."""

    year: int
    shows: int
    artists: int
    new_artists: list[NewArtist]
    venues: int
    cities: list[str]
    songs_heard: int
    unique_songs: int
    most_seen_artist: ArtistCount | None
    top_artists: list[ArtistCount]
    longest_trip: Trip | None
    home: HomeRead | None
    spending: list[Spend]
    photos: int
    videos: int
    months: list[MonthCount]


class MapVenue(BaseModel):
    """A venue on the map."""

    venue_id: int
    name: str
    city: str
    country: str
    latitude: float
    longitude: float
    show_count: int
    last_seen: dt.date


class VenueMap(BaseModel):
    """GET /api/stats/map."""

    venues: list[MapVenue]
    without_coordinates: int
