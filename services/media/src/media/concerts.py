"""shows' answers about a concert: the shows a viewer may see (with their setlists) and a show's setlist timing."""

from __future__ import annotations

import threading
from typing import Any, Protocol

from media.config import MediaSettings
from shared.errors import NotFound
from shared.internal import InternalClient


class ConcertFacts(Protocol):
    """What media asks shows about concerts (shows owns shows, setlists and who may see them)."""

    def visible_shows(self, concert_id: int, viewer_id: int, *, setlists: bool = False) -> list[dict[str, Any]]:
        """`[{show_id, owner_id, username, visibility[, start, songs]}]` of the concert the viewer may see."""
        ...

    def setlist_timing(self, show_id: int) -> dict[str, Any] | None:
        """`{show_id, concert_id, start, songs: [{song_id, position, title, key, duration_s}]}`; None if no show."""
        ...


_WORKER_CLIENTS: dict[tuple[str, str], HttpConcertFacts] = {}
_WORKER_LOCK = threading.Lock()


def for_worker(settings: MediaSettings) -> HttpConcertFacts:
    """One pooled client per worker process (tasks run one after another, each may ask once)."""
    key = (settings.shows_url, settings.internal_token)
    with _WORKER_LOCK:
        if key not in _WORKER_CLIENTS:
            _WORKER_CLIENTS[key] = HttpConcertFacts(settings)
        return _WORKER_CLIENTS[key]


class HttpConcertFacts:
    """ConcertFacts over shows' internal endpoints (one call per question, no per-item calls)."""

    def __init__(self, settings: MediaSettings) -> None:
        self.client = InternalClient(settings.shows_url, settings.internal_token, service="shows",
                                     timeout_s=settings.internal_timeout_s, busy_wait_s=settings.internal_busy_wait_s)

    def visible_shows(self, concert_id: int, viewer_id: int, *, setlists: bool = False) -> list[dict[str, Any]]:
        """GET /internal/concerts/{id}/visible-shows?viewer=&setlists=."""
        data = self.client.get_json(f"/internal/concerts/{concert_id}/visible-shows",
                                    params={"viewer": viewer_id, "setlists": str(setlists).lower()})
        return list(data.get("shows") or [])

    def setlist_timing(self, show_id: int) -> dict[str, Any] | None:
        """GET /internal/shows/{id}/setlist-timing."""
        try:
            return dict(self.client.get_json(f"/internal/shows/{show_id}/setlist-timing"))
        except NotFound:
            return None

    def close(self) -> None:
        """Close the HTTP pool."""
        self.client.close()
