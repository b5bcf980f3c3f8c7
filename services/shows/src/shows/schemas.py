"""Pydantic request and response models of the shows API."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Visibility = Literal["private", "friends", "public"]
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_DURATION = re.compile(r"^\d{1,3}:[0-5]\d$")
UserId = Annotated[int, Field(ge=1, le=2_147_483_647)]


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class _Input(BaseModel):
    # unknown fields (including `user_id`, `owner`) are ignored: mass assignment is impossible
    model_config = ConfigDict(extra="ignore", str_max_length=10_000)


class ActIn(_Input):
    """One act of a bill in a create/update body."""

    name: str = Field(..., min_length=1, max_length=200)
    mbid: str | None = Field(None, max_length=36)
    role: Literal["headliner", "support", "guest"] = "support"

    _strip_name = field_validator("name", "mbid", mode="before")(_strip)


class FestivalIn(_Input):
    """The festival a show was part of (a bare string is its name)."""

    name: str = Field(..., min_length=1, max_length=200)
    day: str | None = Field(None, max_length=40)
    stage: str | None = Field(None, max_length=120)


class _ShowFields(_Input):
    artist_name: str | None = Field(None, min_length=1, max_length=200)
    venue_name: str | None = Field(None, min_length=1, max_length=200)
    venue_location: str | None = Field(None, max_length=300)
    city: str | None = Field(None, max_length=120)
    state: str | None = Field(None, max_length=120)
    country: str | None = Field(None, max_length=120)
    date: dt.date | None = None
    time: str | None = None
    notes: str | None = Field(None, max_length=5000)
    rating: int | None = Field(None, ge=1, le=5)
    visibility: Visibility | None = None
    visible_to: list[UserId] | None = Field(None, max_length=1000)
    artist_mbid: str | None = Field(None, max_length=36)
    # issue 14: the bill, festival and ticket facts
    artists: list[ActIn] | None = Field(None, max_length=100)
    festival: FestivalIn | None = None
    ticket_price: float | None = Field(None, ge=0, le=1_000_000)
    currency: str | None = Field(None, pattern=r"^[A-Za-z]{3}$")
    seat: str | None = Field(None, max_length=120)

    @model_validator(mode="before")
    @classmethod
    def _bill_names_headliner(cls, value: Any) -> Any:
        # `artists` may replace `artist_name`: the first headliner (else the first act) heads the concert
        if isinstance(value, dict) and not value.get("artist_name") and isinstance(value.get("artists"), list):
            acts = [a for a in value["artists"] if isinstance(a, dict) and a.get("name")]
            head = next((a for a in acts if a.get("role") == "headliner"), acts[0] if acts else None)
            if head is not None:
                mbid = value.get("artist_mbid") or head.get("mbid")
                value = {**value, "artist_name": head["name"], "artist_mbid": mbid}
        if isinstance(value, dict) and isinstance(value.get("festival"), str):
            value = {**value, "festival": {"name": value["festival"]} if value["festival"].strip() else None}
        return value

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else value

    _strip_names = field_validator(
        "artist_name", "venue_name", "venue_location", "city", "state", "country", "artist_mbid", mode="before"
    )(_strip)

    @field_validator("date", mode="before")
    @classmethod
    def _date_strict(cls, value: Any) -> Any:
        # only YYYY-MM-DD: pydantic would otherwise accept timestamps and datetimes
        if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            raise ValueError("must be a date as YYYY-MM-DD")
        if isinstance(value, int | float):
            raise ValueError("must be a date as YYYY-MM-DD")
        return value.strip() if isinstance(value, str) else value

    @field_validator("time", mode="before")
    @classmethod
    def _time_hhmm(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise ValueError("must be a time as HH:MM")
        value = value.strip()
        if re.fullmatch(r"\d{1,2}:\d{2}:\d{2}", value):
            value = value[:-3]
        if re.fullmatch(r"\d:\d{2}", value):
            value = "0" + value
        if not _TIME.match(value):
            raise ValueError("must be a time as HH:MM (00:00–23:59)")
        return value

    @field_validator("visible_to")
    @classmethod
    def _dedupe(cls, value: list[int] | None) -> list[int] | None:
        return None if value is None else sorted(set(value))


class ShowCreate(_ShowFields):
    """Body of POST /api/shows (the seed's body plus optional fields)."""

    artist_name: str = Field(..., min_length=1, max_length=200)
    venue_name: str = Field(..., min_length=1, max_length=200)
    date: dt.date


class ShowUpdate(_ShowFields):
    """Body of PUT /api/shows/{id}: any create field; only the ones sent change."""

    @model_validator(mode="after")
    def _no_null_required(self) -> ShowUpdate:
        for name in ("artist_name", "venue_name", "date"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class _SongFields(_Input):
    title: str | None = Field(None, min_length=1, max_length=200)
    song_name: str | None = Field(None, min_length=1, max_length=200)
    order: int | None = Field(None, ge=1, le=100_000)
    notes: str | None = Field(None, max_length=500)
    is_cover: bool | None = None
    original_artist: str | None = Field(None, max_length=200)
    duration: str | None = None
    songwriter: str | None = Field(None, max_length=200)
    with_artist: str | None = Field(None, max_length=200)
    # issue 14: the act (on the show's bill) and the set this song belongs to
    artist_id: int | None = Field(None, ge=1, le=2_147_483_647)
    artist_name: str | None = Field(None, max_length=200)
    set_number: int | None = Field(None, ge=1, le=50)
    set_name: str | None = Field(None, max_length=120)
    encore: int | None = Field(None, ge=0, le=20)
    is_tape: bool | None = None
    recording_mbid: str | None = Field(None, pattern=r"^[0-9a-f-]{36}$")

    _strip_text = field_validator("title", "song_name", "original_artist", "songwriter", "with_artist", mode="before")(
        _strip
    )

    @field_validator("duration", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        if not isinstance(value, str) or not _DURATION.match(value.strip()):
            raise ValueError('must be a duration as "m:ss"')
        return value.strip()

    def song_title(self) -> str | None:
        """`title`, else the earlier frontend's `song_name`."""
        return self.title if self.title is not None else self.song_name


class SongCreate(_SongFields):
    """Body of POST /api/shows/{id}/setlist."""

    @model_validator(mode="after")
    def _needs_title(self) -> SongCreate:
        if self.song_title() is None:
            raise ValueError("title (or song_name) is required")
        return self


class SongUpdate(_SongFields):
    """Body of PUT /api/shows/{id}/setlist/{song_id} (partial)."""


class UserRef(BaseModel):
    """A user as other people see them."""

    id: int
    username: str


class ArtistRead(BaseModel):
    """The artist embedded in a show."""

    id: int
    name: str
    mbid: str | None = None
    image_url: str | None = None


class VenueRead(BaseModel):
    """The venue embedded in a show."""

    id: int
    name: str
    location: str
    city: str
    state: str
    country: str
    latitude: float | None = None
    longitude: float | None = None


class SongRead(BaseModel):
    """A setlist song (`song_name` mirrors `title` for the earlier frontend)."""

    id: int
    show_id: int
    title: str
    song_name: str
    order: int
    notes: str
    is_cover: bool
    original_artist: str | None
    duration: str | None
    songwriter: str | None
    with_artist: str | None
    artist_id: int | None = None
    set_number: int = 1
    set_name: str = ""
    encore: int = 0
    is_tape: bool = False
    recording_mbid: str | None = None
    source: str = "manual"


class LineupArtist(ArtistRead):
    """An act's artist (the disambiguation tells namesakes apart)."""

    disambiguation: str = ""


class LineupEntry(BaseModel):
    """One act of a show's bill."""

    artist: LineupArtist
    role: str
    position: int


class FestivalRead(BaseModel):
    """The festival a show was part of."""

    name: str
    day: str | None = None
    stage: str | None = None


class ListParams(BaseModel):
    """Query parameters of GET /api/shows, validated in one pass (cheaper than one per parameter)."""

    user_id: int | None = Field(None, ge=1, le=2_147_483_647)
    artist: str | None = Field(None, max_length=200)
    artist_id: int | None = Field(None, ge=1, le=2_147_483_647)
    venue: str | None = Field(None, max_length=200)
    venue_id: int | None = Field(None, ge=1, le=2_147_483_647)
    city: str | None = Field(None, max_length=120)
    year: int | None = Field(None, ge=1, le=9999)
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    filter: Literal["upcoming", "past", "all"] = "all"
    q: str | None = Field(None, max_length=200)
    sort: Literal["date", "-date"] | None = None
    limit: int | None = None
    offset: int = Field(0, ge=0, le=2_147_483_647)


class ShowRead(BaseModel):
    """The contract's show JSON."""

    id: int
    user_id: int
    owner: UserRef
    is_owner: bool
    concert_id: int
    artist_id: int
    venue_id: int
    artist: ArtistRead
    venue: VenueRead
    artist_name: str
    venue_name: str
    venue_location: str
    date: dt.date
    time: str | None
    notes: str
    rating: int | None
    visibility: Visibility
    visible_to: list[int] | None = None
    created_at: str
    updated_at: str
    photo_count: int = 0
    audio_count: int = 0
    video_count: int = 0
    comment_count: int = 0
    song_count: int = 0
    attendee_count: int = 0
    lineup: list[LineupEntry] = []
    festival: FestivalRead | None = None
    ticket_price: float | None = None
    currency: str | None = None
    seat: str | None = None


class ShowCreated(ShowRead):
    """A created show plus how many other people logged the same concert."""

    others_count: int = 0


class ShowDetail(ShowRead):
    """A show with its setlist, media and comments (degraded lists services that did not answer)."""

    setlist: list[SongRead] = []
    photos: list[dict[str, Any]] = []
    audio: list[dict[str, Any]] = []
    videos: list[dict[str, Any]] = []
    comments: list[dict[str, Any]] = []
    degraded: list[str] | None = None


class CheckinResult(BaseModel):
    """Answer of check-in and check-out."""

    message: str
    checked_in_at: str | None


class ActiveUser(BaseModel):
    """Someone checked in at the concert now."""

    user_id: int
    username: str
    checked_in_at: str


class ActiveUsers(BaseModel):
    """Who is at the concert now."""

    users: list[ActiveUser]
    total: int


class YearCount(BaseModel):
    """Shows in one year."""

    year: int
    count: int


class DashboardStats(BaseModel):
    """The caller's totals."""

    total_shows: int
    total_artists: int
    total_venues: int
    total_photos: int
    total_audio: int
    total_videos: int
    total_comments: int
    total_friends: int
    shows_per_year: list[YearCount]
    upcoming_shows: int
    degraded: list[str] | None = None


class DashboardArtist(BaseModel):
    """An artist the caller has seen, with counts and first/last dates."""

    artist_id: int
    artist_name: str
    show_count: int
    first_seen: dt.date
    last_seen: dt.date
    image_url: str | None


class DashboardArtists(BaseModel):
    """The caller's artists, most seen first."""

    artists: list[DashboardArtist]
    total: int


class DashboardVenue(BaseModel):
    """A venue the caller has been to."""

    venue_id: int
    venue_name: str
    city: str
    state: str
    show_count: int
    first_seen: dt.date
    last_seen: dt.date


class DashboardVenues(BaseModel):
    """The caller's venues, most visited first."""

    venues: list[DashboardVenue]
    total: int


class ArtistSuggestion(BaseModel):
    """An autocomplete hit."""

    id: int
    name: str
    mbid: str | None
    image_url: str | None
    show_count: int
    disambiguation: str = ""


class VenueSuggestion(BaseModel):
    """An autocomplete hit."""

    id: int
    name: str
    city: str
    state: str
    country: str
    location: str
    show_count: int


class ArtistSuggestions(BaseModel):
    """Autocomplete answer."""

    artists: list[ArtistSuggestion]


class VenueSuggestions(BaseModel):
    """Autocomplete answer."""

    venues: list[VenueSuggestion]


class ShowAccess(BaseModel):
    """Internal: what a user may do with a show (media and social ask this)."""

    show_id: int
    owner_id: int
    concert_id: int
    visibility: Visibility
    can_view: bool
    can_edit: bool
    logged_concert: bool
    checked_in: bool
    show_name: str
    date: dt.date


class SetlistLine(BaseModel):
    """Internal: one song of a setlist (position and title)."""

    position: int
    title: str


class ShowInfo(BaseModel):
    """Internal: minimal facts of a show."""

    show_id: int
    owner_id: int
    concert_id: int
    visibility: Visibility
    visible_to: list[int] | None
    show_name: str
    artist_name: str
    venue_name: str
    date: dt.date
    time: str | None = None
    setlist: list[SetlistLine] = []
