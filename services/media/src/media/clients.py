"""shows' answer to "may this user see / add to this show", with a short in-process cache."""

from __future__ import annotations

from typing import Protocol

from media.config import MediaSettings
from shared.access import ShowAccess, ShowsAccessClient
from shared.internal import InternalClient

__all__ = ["HttpShowsAccess", "ShowAccess", "ShowsAccess"]


class ShowsAccess(Protocol):
    """Looks up a user's rights on a show (the shows service is the authority)."""

    def access(self, show_id: int, user_id: int) -> ShowAccess | None: ...


class HttpShowsAccess(ShowsAccessClient):
    """`GET {SHOWS_URL}/internal/shows/{id}/access?user_id=`, cached `MEDIA_ACCESS_CACHE_TTL_S`."""

    def __init__(self, settings: MediaSettings) -> None:
        client = InternalClient(settings.shows_url, settings.internal_token, service="shows",
                                timeout_s=settings.internal_timeout_s, busy_wait_s=settings.internal_busy_wait_s)
        super().__init__(client, settings.access_cache_ttl_s)
