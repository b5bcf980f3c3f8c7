"""Questions social asks other services: who may see a show (shows), which show a photo is on (media)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from shared.errors import NotFound
from shared.internal import InternalClient
from social.exceptions import PhotoNotFound, ShowNotFound


@dataclass(frozen=True, slots=True)
class ShowAccess:
    """shows' answer to "may user N see show S" (`/internal/shows/{id}/access`)."""

    show_id: int
    owner_id: int
    concert_id: int
    visibility: str
    can_view: bool
    can_edit: bool
    logged_concert: bool
    checked_in: bool
    show_name: str
    date: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShowAccess:
        """Parse the access document (unknown fields ignored)."""
        return cls(
            show_id=int(data["show_id"]),
            owner_id=int(data["owner_id"]),
            concert_id=int(data["concert_id"]),
            visibility=str(data.get("visibility", "friends")),
            can_view=bool(data.get("can_view")),
            can_edit=bool(data.get("can_edit")),
            logged_concert=bool(data.get("logged_concert")),
            checked_in=bool(data.get("checked_in")),
            show_name=str(data.get("show_name") or ""),
            date=data.get("date"),
        )


@dataclass(frozen=True, slots=True)
class PhotoRef:
    """media's answer to "which show is photo P on"."""

    id: int
    show_id: int
    user_id: int
    status: str


class ShowsClient:
    """Access checks against the shows service, with a short TTL cache per (show, user)."""

    def __init__(self, client: InternalClient, ttl_s: float = 2.0) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self._cache: dict[tuple[int, int], tuple[float, ShowAccess | None]] = {}
        self._lock = threading.Lock()

    def access(self, show_id: int, user_id: int) -> ShowAccess:
        """The caller's access to a show; ShowNotFound if it does not exist (503 if shows is down)."""
        key = (show_id, user_id)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            if hit[1] is None:
                raise ShowNotFound()
            return hit[1]
        try:
            data = self.client.get_json(f"/internal/shows/{show_id}/access", params={"user_id": user_id})
            result: ShowAccess | None = ShowAccess.from_json(data)
        except NotFound:
            result = None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            self._cache[key] = (now + self.ttl_s, result)
        if result is None:
            raise ShowNotFound()
        return result

    def forget(self, show_id: int) -> None:
        """Drop cached answers about a show (after show.updated / show.deleted)."""
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items() if k[0] != show_id}


class MediaClient:
    """Photo → show lookups against the media service."""

    def __init__(self, client: InternalClient) -> None:
        self.client = client

    def photo(self, photo_id: int) -> PhotoRef:
        """The photo's show and uploader; PhotoNotFound if media does not know it."""
        try:
            data = self.client.get_json(f"/internal/media/photo/{photo_id}")
        except NotFound:
            raise PhotoNotFound() from None
        return PhotoRef(
            id=int(data["id"]),
            show_id=int(data["show_id"]),
            user_id=int(data.get("user_id") or 0),
            status=str(data.get("status") or ""),
        )
