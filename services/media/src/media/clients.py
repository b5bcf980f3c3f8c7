"""shows' answer to "may this user see / add to this show", with a short in-process cache."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol

from media.config import MediaSettings
from shared.errors import NotFound
from shared.internal import InternalClient


@dataclass(frozen=True, slots=True)
class ShowAccess:
    """What one user may do with one show (None = the show does not exist)."""

    show_id: int
    owner_id: int
    can_view: bool
    can_edit: bool
    show_name: str = ""


class ShowsAccess(Protocol):
    """Looks up a user's rights on a show (the shows service is the authority)."""

    def access(self, show_id: int, user_id: int) -> ShowAccess | None: ...


class HttpShowsAccess:
    """`GET {SHOWS_URL}/internal/shows/{id}/access?user_id=` with a few seconds of caching."""

    def __init__(self, settings: MediaSettings, ttl_s: float = 5.0) -> None:
        self.client = InternalClient(settings.shows_url, settings.internal_token, service="shows",
                                     timeout_s=settings.internal_timeout_s)
        self.ttl_s = ttl_s
        self._cache: dict[tuple[int, int], tuple[float, ShowAccess | None]] = {}
        self._lock = threading.Lock()

    def access(self, show_id: int, user_id: int) -> ShowAccess | None:
        """The user's rights on the show; None if it does not exist; ServiceUnavailable if shows is down."""
        key = (show_id, user_id)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            data = self.client.get_json(f"/internal/shows/{show_id}/access", params={"user_id": user_id})
            result: ShowAccess | None = ShowAccess(
                show_id=show_id,
                owner_id=int(data.get("owner_id") or 0),
                can_view=bool(data.get("can_view")),
                can_edit=bool(data.get("can_edit")),
                show_name=str(data.get("show_name") or ""),
            )
        except NotFound:
            result = None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now + self.ttl_s, result)
        return result

    def close(self) -> None:
        """Close the HTTP pool."""
        self.client.close()
