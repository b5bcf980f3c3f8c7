"""Who may see / add to a show: the shows service answers, every other service asks through this client."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from shared.errors import NotFound
from shared.internal import InternalClient


@dataclass(frozen=True, slots=True)
class ShowAccess:
    """shows' answer to "what may user N do with show S" (`GET /internal/shows/{id}/access`)."""

    show_id: int
    owner_id: int
    can_view: bool
    can_edit: bool
    show_name: str = ""
    concert_id: int = 0
    visibility: str = "friends"
    logged_concert: bool = False
    checked_in: bool = False
    date: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShowAccess:
        """Parse the access document (unknown fields ignored)."""
        return cls(
            show_id=int(data["show_id"]),
            owner_id=int(data.get("owner_id") or 0),
            can_view=bool(data.get("can_view")),
            can_edit=bool(data.get("can_edit")),
            show_name=str(data.get("show_name") or ""),
            concert_id=int(data.get("concert_id") or 0),
            visibility=str(data.get("visibility") or "friends"),
            logged_concert=bool(data.get("logged_concert")),
            checked_in=bool(data.get("checked_in")),
            date=data.get("date"),
        )


class ShowsAccessClient:
    """Access checks against the shows service, cached a few seconds per (show, user)."""

    def __init__(self, client: InternalClient, ttl_s: float = 2.0, max_entries: int = 10_000) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self.max_entries = max_entries
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
            result: ShowAccess | None = ShowAccess.from_json({"show_id": show_id, **data})
        except NotFound:
            result = None
        with self._lock:
            if len(self._cache) > self.max_entries:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            self._cache[key] = (now + self.ttl_s, result)
        return result

    def forget(self, show_id: int) -> None:
        """Drop cached answers about a show (after its visibility changed or it was deleted)."""
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items() if k[0] != show_id}

    def close(self) -> None:
        """Close the HTTP pool."""
        self.client.close()
