"""Building the source clients from settings, their shared limiters, and the database cache."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from shared.db import session_scope, utcnow
from shows.catalog.http import Cache, RateLimiter, SourceClient, SourceNotConfigured
from shows.catalog.models import SourceCache
from shows.catalog.musicbrainz import MusicBrainzClient
from shows.catalog.setlistfm import SetlistFmClient
from shows.catalog.wikidata import WikidataClient
from shows.config import ShowsSettings

_limiters: dict[str, RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(source: str, min_interval_s: float) -> RateLimiter:
    """One limiter per source per process, whatever number of clients are built."""
    with _limiters_lock:
        limiter = _limiters.get(source)
        if limiter is None or limiter.min_interval_s != min_interval_s:
            limiter = _limiters[source] = RateLimiter(min_interval_s)
        return limiter


class DbCache(Cache):
    """Answers in `source_cache`, fresh for `ttl`; each read and write in its own short transaction."""

    def __init__(self, session_factory: sessionmaker[Session], ttl: dt.timedelta) -> None:
        self.session_factory = session_factory
        self.ttl = ttl

    def get(self, source: str, key: str) -> tuple[int, Any] | None:
        """A fresh cached (status, body)."""
        with self.session_factory() as s:
            row = s.scalars(select(SourceCache).where(SourceCache.source == source, SourceCache.key == key)).first()
            if row is None or row.fetched_at < utcnow() - self.ttl:
                return None
            return row.status, row.body

    def put(self, source: str, key: str, status: int, body: Any) -> None:
        """Replace the cached answer with its fetch time."""
        with session_scope(self.session_factory) as s:
            s.execute(delete(SourceCache).where(SourceCache.source == source, SourceCache.key == key))
            s.add(SourceCache(source=source, key=key, status=status, body=body, fetched_at=utcnow()))


@dataclass
class Sources:
    """The clients of one worker process."""

    musicbrainz: MusicBrainzClient
    wikidata: WikidataClient
    setlistfm_client: SetlistFmClient | None

    @property
    def setlistfm(self) -> SetlistFmClient:
        """The setlist.fm client; SourceNotConfigured without an API key."""
        if self.setlistfm_client is None:
            raise SourceNotConfigured("setlist.fm is not configured here: set SETLISTFM_API_KEY.")
        return self.setlistfm_client

    def close(self) -> None:
        """Close every connection pool."""
        self.musicbrainz.http.close()
        self.wikidata.http.close()
        if self.setlistfm_client is not None:
            self.setlistfm_client.http.close()


def configured_sources(settings: ShowsSettings) -> dict[str, dict[str, Any]]:
    """Which imports can work here (the web app says which are not configured)."""
    return {
        "setlistfm": {
            "configured": bool(settings.setlistfm_api_key),
            "reason": None if settings.setlistfm_api_key else "setlist.fm needs an API key (SETLISTFM_API_KEY).",
        },
        "musicbrainz": {
            "configured": bool(settings.musicbrainz_url),
            "reason": None if settings.musicbrainz_url else "SHOWS_MUSICBRAINZ_URL is empty.",
        },
    }


def build_sources(
    settings: ShowsSettings,
    session_factory: sessionmaker[Session] | None,
    transport: httpx.BaseTransport | None = None,
) -> Sources:
    """Clients with the sources' own rules (rate, headers), sharing the database cache."""
    cache = DbCache(session_factory, dt.timedelta(hours=settings.catalog_cache_ttl_hours)) if session_factory else None
    common: dict[str, Any] = {"timeout_s": settings.catalog_timeout_s, "max_wait_s": settings.catalog_max_wait_s,
                              "cache": cache, "transport": transport}
    ua = {"User-Agent": settings.musicbrainz_user_agent, "Accept": "application/json"}
    mb = SourceClient("musicbrainz", "MusicBrainz", settings.musicbrainz_url, headers=ua,
                      limiter=limiter_for("musicbrainz", settings.musicbrainz_min_interval_s), **common)
    wd = SourceClient("wikidata", "Wikidata", settings.wikidata_url, headers=ua,
                      limiter=limiter_for("wikidata", 0.2), **common)
    sf = None
    if settings.setlistfm_api_key:
        sf_http = SourceClient(
            "setlistfm", "setlist.fm", settings.setlistfm_url,
            headers={"x-api-key": settings.setlistfm_api_key, "Accept": "application/json",
                     "User-Agent": settings.musicbrainz_user_agent},
            limiter=limiter_for("setlistfm", settings.setlistfm_min_interval_s), **common,
        )
        sf = SetlistFmClient(sf_http)
    return Sources(MusicBrainzClient(mb), WikidataClient(wd), sf)
