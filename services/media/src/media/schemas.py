"""Pydantic request/response models of the media API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.params import MAX_ID

Kind = Literal["photo", "audio", "video"]


class MediaUrls(BaseModel):
    """Relative URLs of every derivative (null until produced)."""

    thumbnail_small: str | None = None
    thumbnail_medium: str | None = None
    thumbnail_large: str | None = None
    poster: str | None = None
    rendition_720p: str | None = None
    rendition_1080p: str | None = None
    waveform: str | None = None
    hls: str | None = None  # the master playlist, once the ladder is ready
    chapters: str | None = None  # WebVTT chapters of a video spanning several songs


class HlsState(BaseModel):
    """A video's HLS ladder: `working` / `ready` / `failed` (null before it starts), progress per rendition."""

    status: Literal["working", "ready", "failed"] | None
    progress: dict[str, int]


class SongSuggestion(BaseModel):
    """A song a clip likely shows (from its capture time), and where in the clip (seconds)."""

    song_id: int
    score: float | None
    start_s: float | None
    end_s: float | None


class MediaRead(BaseModel):
    """A media record as the contract lists it."""

    model_config = ConfigDict(extra="allow")

    id: int
    show_id: int | None  # null: in the uploader's library (GET /api/media/unfiled)
    user_id: int
    kind: Kind
    status: Literal["processing", "ready", "failed"]
    error: str | None
    progress: int
    original_filename: str
    content_type: str
    file_size: int
    width: int | None
    height: int | None
    duration: float | None
    taken_at: str | None
    placeholder: str | None
    caption: str | None = None
    title: str | None = None
    description: str | None = None
    url: str
    thumbnail_url: str | None
    urls: MediaUrls
    hls: HlsState | None = None  # videos only
    song_ids: list[int] | None = None  # audio and video: songs the uploader confirmed
    song_suggestions: list[SongSuggestion] | None = None  # audio and video: songs suggested by capture time
    comment_count: int
    created_at: str
    # how a library item reached its show: time, gps, checkin (filing) or user (by hand); null if uploaded into it
    filed_by: Literal["time", "gps", "checkin", "user"] | None = None


class PhotoList(BaseModel):
    """`{photos, total}`."""

    photos: list[MediaRead]
    total: int


class RecordingList(BaseModel):
    """`{recordings, total}` (audio and video)."""

    recordings: list[MediaRead]
    total: int


class MediaUpdate(BaseModel):
    """Editable fields: `caption` of a photo; `title`, `description` of audio and video (others ignored)."""

    model_config = ConfigDict(extra="ignore")
    caption: str | None = Field(default=None, max_length=2000)
    title: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=5000)
    song_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(
        default=None, max_length=200, description="audio and video: the setlist songs the clip shows (uploader only)")


class PhotoRef(BaseModel):
    """What other services need to know about a photo."""

    id: int
    show_id: int
    user_id: int
    status: str


class UserCounts(BaseModel):
    """How many items of each kind a user uploaded."""

    photos: int
    audio: int
    videos: int


class UsageRead(BaseModel):
    """The caller's storage: bytes of the originals they uploaded, their quota, how many items."""

    bytes_used: int
    bytes_quota: int
    items: int


class MediaUser(BaseModel):
    """Who took an item."""

    id: int
    username: str


class AlbumItem(MediaRead):
    """A record in a concert's album or a song's clips, with who took it."""

    user: MediaUser
    visibility: str | None = None  # its own show's: private, friends or public
    clip: dict[str, Any] | None = None  # clips only: {song_id, source, start_s, end_s}


class AlbumList(BaseModel):
    """`{items, total}`: a concert's photos and videos in capture-time order."""

    items: list[AlbumItem]
    total: int


class SongClips(BaseModel):
    """How many visible clips a song of the setlist has."""

    song_id: int
    clips: int


class SetlistClips(BaseModel):
    """`{songs: [{song_id, clips}]}` for a show's setlist (the camera icons)."""

    songs: list[SongClips]
class Suggestion(BaseModel):
    """A show a library item may belong to: `reason` joins the evidence (`time`, `time_utc`, `gps`, `checkin`)."""

    show_id: int
    score: float
    reason: str


class UnfiledItem(MediaRead):
    """A library item: `filing` pending (being processed or matched) or unfiled (left for you), suggestions."""

    filing: Literal["pending", "unfiled"] | None
    suggestions: list[Suggestion]


class UnfiledList(BaseModel):
    """`{items, total}`."""

    items: list[UnfiledItem]
    total: int


class FileRequest(BaseModel):
    """`POST /api/media/{id}/file`: the show to put the item in."""

    show_id: int = Field(ge=1, le=MAX_ID)
