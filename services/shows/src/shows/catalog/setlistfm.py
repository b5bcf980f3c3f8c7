"""setlist.fm REST API 1.0 (JSON): setlists by id, setlist search, a user's attended concerts.

Rules of the source: an API key in `x-api-key`, `Accept: application/json`, standard keys limited to two
requests per second (429 beyond). https://api.setlist.fm/docs/1.0/index.html
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from shows.catalog.http import SourceClient, SourceMalformed, SourceNotFound


@dataclass
class SfSong:
    """A song line: covers name the original artist, `with` a guest, tape = played from tape."""

    name: str
    info: str = ""
    tape: bool = False
    cover: str | None = None
    with_artist: str | None = None


@dataclass
class SfSet:
    """A set: main sets, then encores (`encore` 1, 2 ...)."""

    name: str
    encore: int
    songs: list[SfSong]


@dataclass
class SfSetlist:
    """One concert of one artist as setlist.fm knows it."""

    id: str
    url: str
    date: dt.date
    artist_name: str
    artist_mbid: str | None
    venue_name: str
    venue_id: str | None
    city: str = ""
    state: str = ""
    country: str = ""
    latitude: float | None = None
    longitude: float | None = None
    tour: str = ""
    info: str = ""
    sets: list[SfSet] = field(default_factory=list)

    @property
    def song_count(self) -> int:
        """Songs over every set."""
        return sum(len(s.songs) for s in self.sets)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def parse_date(value: str) -> dt.date:
    """setlist.fm's dd-MM-yyyy."""
    return dt.datetime.strptime(value, "%d-%m-%Y").date()


def parse_setlist(data: Any) -> SfSetlist:
    """A setlist object. Its sets are `set: [...]` in the published example and `sets: {set: [...]}` in live
    answers; both are read."""
    if not isinstance(data, dict):
        raise SourceMalformed("setlist.fm answered a setlist that is not an object.")
    artist, venue = data.get("artist"), data.get("venue")
    try:
        date = parse_date(_text(data.get("eventDate")))
    except ValueError as exc:
        raise SourceMalformed("setlist.fm answered a setlist without a valid eventDate.") from exc
    if not isinstance(artist, dict) or not _text(artist.get("name")) or not isinstance(venue, dict):
        raise SourceMalformed("setlist.fm answered a setlist without artist or venue.")
    city = venue.get("city") if isinstance(venue.get("city"), dict) else {}
    coords = city.get("coords") if isinstance(city.get("coords"), dict) else {}
    country = city.get("country") if isinstance(city.get("country"), dict) else {}
    raw_sets = data.get("set")
    if raw_sets is None and isinstance(data.get("sets"), dict):
        raw_sets = data["sets"].get("set")
    sets: list[SfSet] = []
    for raw in raw_sets or []:
        if not isinstance(raw, dict):
            raise SourceMalformed("setlist.fm answered a set that is not an object.")
        songs = []
        for s in raw.get("song") or []:
            if not isinstance(s, dict) or not _text(s.get("name")):
                continue  # setlist.fm lists unnamed songs ("?") as empty names: nothing to count
            cover = s.get("cover") if isinstance(s.get("cover"), dict) else {}
            with_ = s.get("with") if isinstance(s.get("with"), dict) else {}
            songs.append(SfSong(_text(s["name"]), _text(s.get("info")), bool(s.get("tape")),
                                _text(cover.get("name")) or None, _text(with_.get("name")) or None))
        encore = raw.get("encore")
        sets.append(SfSet(_text(raw.get("name")), encore if isinstance(encore, int) else 0, songs))
    return SfSetlist(
        id=_text(data.get("id")),
        url=_text(data.get("url")),
        date=date,
        artist_name=_text(artist.get("name")),
        artist_mbid=_text(artist.get("mbid")) or None,
        venue_name=_text(venue.get("name")),
        venue_id=_text(venue.get("id")) or None,
        city=_text(city.get("name")),
        state=_text(city.get("stateCode")) or _text(city.get("state")),
        country=_text(country.get("name")),
        latitude=_float(coords.get("lat")),
        longitude=_float(coords.get("long")),
        tour=_text((data.get("tour") or {}).get("name")) if isinstance(data.get("tour"), dict) else "",
        info=_text(data.get("info")),
        sets=sets,
    )


def parse_setlists(data: Any) -> tuple[list[SfSetlist], int]:
    """A `setlists` result page: (setlists, total)."""
    if not isinstance(data, dict) or not isinstance(data.get("setlist", []), list):
        raise SourceMalformed("setlist.fm answered a result page without a `setlist` list.")
    total = data.get("total")
    return [parse_setlist(s) for s in data.get("setlist", [])], total if isinstance(total, int) else 0


class SetlistFmClient:
    """The calls the catalogue makes."""

    def __init__(self, http: SourceClient) -> None:
        self.http = http

    def setlist(self, setlist_id: str) -> SfSetlist:
        """A setlist by its id."""
        return parse_setlist(self.http.get_json(f"/1.0/setlist/{setlist_id}"))

    def search(self, *, artist_name: str, date: dt.date, artist_mbid: str | None = None) -> list[SfSetlist]:
        """Setlists of an artist on a date (setlist.fm answers 404 when nothing matches: an empty list here)."""
        params: dict[str, Any] = {"date": date.strftime("%d-%m-%Y")}
        if artist_mbid:
            params["artistMbid"] = artist_mbid
        else:
            params["artistName"] = artist_name
        try:
            return parse_setlists(self.http.get_json("/1.0/search/setlists", params))[0]
        except SourceNotFound:
            return []

    def attended(self, user_id: str, page: int) -> tuple[list[SfSetlist], int]:
        """One page of the concerts a setlist.fm user attended, and the total."""
        try:
            return parse_setlists(self.http.get_json(f"/1.0/user/{user_id}/attended", {"p": page}, cache=False))
        except SourceNotFound:
            if page == 1:
                raise
            return [], 0
