"""Questions social asks other services: who may see a show (shows), which show a photo is on (media)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.access import ShowAccess, ShowsAccessClient
from shared.errors import NotFound
from shared.internal import InternalClient
from social.exceptions import PhotoNotFound, ShowNotFound


@dataclass(frozen=True, slots=True)
class PhotoRef:
    """media's answer to "which show is photo P on"."""

    id: int
    show_id: int
    user_id: int
    status: str


class ShowsClient(ShowsAccessClient):
    """Access checks against the shows service; a missing show is ShowNotFound (404)."""

    def access(self, show_id: int, user_id: int) -> ShowAccess:  # type: ignore[override]
        """The caller's access to a show; ShowNotFound if it does not exist (503 if shows is down)."""
        result = super().access(show_id, user_id)
        if result is None:
            raise ShowNotFound()
        return result


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
