"""MusicBrainz web service (ws/2, JSON): artists, aliases, URL relations, recordings and events with setlists.

Rules of the source: at most one request per second, a User-Agent naming the application and a contact,
503 (with Retry-After) when a client goes faster. https://musicbrainz.org/doc/MusicBrainz_API
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from shows.catalog.http import SourceClient, SourceMalformed

_LUCENE_SPECIAL = re.compile(r'([+\-!(){}\[\]^"~*?:\\/]|&&|\|\|)')


def lucene_phrase(text: str) -> str:
    """`text` as a quoted Lucene phrase with special characters escaped."""
    return '"' + _LUCENE_SPECIAL.sub(r"\\\1", text.strip()) + '"'


@dataclass
class MbArtist:
    """An artist as MusicBrainz describes it."""

    mbid: str
    name: str
    sort_name: str = ""
    disambiguation: str = ""
    score: int = 100
    aliases: list[str] = field(default_factory=list)
    image_url: str | None = None
    wikidata_id: str | None = None


@dataclass
class MbRecording:
    """A recording of an artist."""

    mbid: str
    title: str
    length_ms: int | None


@dataclass
class MbSong:
    """A song line of an event's setlist."""

    title: str
    recording_mbid: str | None = None
    act: str | None = None
    note: str = ""


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def commons_file_url(url: str) -> str | None:
    """A Wikimedia Commons "File:" page as a direct image URL (Special:FilePath redirects to the file)."""
    m = re.match(r"https?://commons\.wikimedia\.org/wiki/File:(.+)$", url)
    return f"https://commons.wikimedia.org/wiki/Special:FilePath/{m.group(1)}" if m else None


def parse_artist(data: Any) -> MbArtist:
    """An artist object of a lookup or of a search hit."""
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not _text(data.get("name")):
        raise SourceMalformed("MusicBrainz answered an artist without id or name.")
    aliases = sorted({_text(a.get("name")) for a in data.get("aliases") or [] if isinstance(a, dict)} - {""})
    artist = MbArtist(
        mbid=data["id"],
        name=_text(data["name"]),
        sort_name=_text(data.get("sort-name")),
        disambiguation=_text(data.get("disambiguation")),
        score=int(data.get("score", 100) or 0),
        aliases=aliases,
    )
    for rel in data.get("relations") or []:
        if not isinstance(rel, dict):
            continue
        resource = _text((rel.get("url") or {}).get("resource"))
        if rel.get("type") == "image" and not artist.image_url:
            artist.image_url = commons_file_url(resource) or resource or None
        elif rel.get("type") == "wikidata":
            m = re.search(r"/(Q\d+)$", resource)
            artist.wikidata_id = m.group(1) if m else None
    return artist


def parse_event_setlist(text: str) -> list[MbSong]:
    """MusicBrainz's setlist syntax: `@ act`, `* song` (or `* [mbid|title]`), `# comment` lines."""
    songs: list[MbSong] = []
    act: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("@"):
            act = re.sub(r"^\[[0-9a-f-]{36}\|(.*)\]$", r"\1", line[1:].strip()) or None
        elif line.startswith("*"):
            body = line[1:].strip()
            m = re.match(r"^\[([0-9a-f-]{36})\|([^\]]*)\](.*)$", body)
            if m:
                songs.append(MbSong(title=m.group(2).strip(), recording_mbid=m.group(1), act=act,
                                    note=m.group(3).strip()))
            elif body:
                songs.append(MbSong(title=body, act=act))
    return songs


class MusicBrainzClient:
    """The few ws/2 calls the catalogue makes."""

    def __init__(self, http: SourceClient) -> None:
        self.http = http

    def _get(self, path: str, **params: Any) -> dict[str, Any]:
        data = self.http.get_json(path, {**params, "fmt": "json"})
        if not isinstance(data, dict):
            raise SourceMalformed("MusicBrainz answered JSON of an unexpected shape.")
        return data

    def search_artists(self, name: str, limit: int = 10) -> list[MbArtist]:
        """Artists whose name or alias matches, best first (MusicBrainz's own score)."""
        phrase = lucene_phrase(name)
        data = self._get("/ws/2/artist", query=f"artist:{phrase} OR alias:{phrase}", limit=limit)
        hits = data.get("artists")
        if not isinstance(hits, list):
            raise SourceMalformed("MusicBrainz's artist search has no `artists` list.")
        return [parse_artist(h) for h in hits]

    def artist(self, mbid: str) -> MbArtist:
        """An artist with aliases and URL relations (image, Wikidata)."""
        return parse_artist(self._get(f"/ws/2/artist/{mbid}", inc="aliases+url-rels"))

    def recordings(self, mbid: str, max_pages: int = 5, page_size: int = 100) -> list[MbRecording]:
        """An artist's recordings (browsed page by page, at most `max_pages`)."""
        out: list[MbRecording] = []
        offset = 0
        for _ in range(max_pages):
            data = self._get("/ws/2/recording", artist=mbid, limit=page_size, offset=offset)
            page = data.get("recordings")
            if not isinstance(page, list):
                raise SourceMalformed("MusicBrainz's recording browse has no `recordings` list.")
            for r in page:
                if isinstance(r, dict) and isinstance(r.get("id"), str) and _text(r.get("title")):
                    length = r.get("length")
                    out.append(MbRecording(r["id"], _text(r["title"]), length if isinstance(length, int) else None))
            offset += len(page)
            total = data.get("recording-count")
            if not page or not isinstance(total, int) or offset >= total:
                break
        return out

    def find_event_setlist(self, artist: str, date: str) -> tuple[str, list[MbSong]] | None:
        """The setlist of an event of `artist` on `date` (YYYY-MM-DD): (event mbid, songs), or None."""
        data = self._get("/ws/2/event", query=f"artist:{lucene_phrase(artist)} AND begin:{date}", limit=5)
        events = data.get("events")
        if not isinstance(events, list):
            raise SourceMalformed("MusicBrainz's event search has no `events` list.")
        for ev in events:
            if not isinstance(ev, dict) or not isinstance(ev.get("id"), str):
                continue
            songs = self.event_setlist(ev["id"])
            if songs:
                return ev["id"], songs
        return None

    def event_setlist(self, mbid: str) -> list[MbSong]:
        """The parsed `setlist` of an event (empty if it has none)."""
        data = self._get(f"/ws/2/event/{mbid}", inc="artist-rels+place-rels")
        return parse_event_setlist(_text(data.get("setlist")))
