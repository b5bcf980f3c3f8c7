"""Who may see / add to a show: the shows service answers, every other service asks through this client."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
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


# (owner_id, user_id) -> are they friends, as the owner of friendships (social) knows it now
Friendship = Callable[[int, int], bool]


class ShowsAccessClient:
    """Access checks against the shows service, cached a few seconds per (show, user).

    With `friendship` (social, which owns friendships) every question about a friends-only show carries
    the authoritative friendship of owner and user (`friends=0|1`), so an unfriending counts at once even
    while shows' event-fed copy still has the friendship; shows applies its one visibility policy to it.
    """

    def __init__(self, client: InternalClient, ttl_s: float = 2.0, max_entries: int = 10_000,
                 friendship: Friendship | None = None) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.friendship = friendship
        self._cache: dict[tuple[int, int], tuple[float, ShowAccess | None]] = {}
        self._owners: dict[int, int] = {}  # show -> owner, learnt from answers (never changes)
        self._lock = threading.Lock()

    def _ask(
        self, show_id: int, user_id: int, owner_id: int | None, friendship: Friendship | None
    ) -> ShowAccess | None:
        params: dict[str, int] = {"user_id": user_id}
        if friendship is not None and owner_id is not None and owner_id != user_id:
            params["friends"] = int(friendship(owner_id, user_id))
        try:
            data = self.client.get_json(f"/internal/shows/{show_id}/access", params=params)
        except NotFound:
            return None
        return ShowAccess.from_json({"show_id": show_id, **data})

    def access(self, show_id: int, user_id: int, *, friendship: Friendship | None = None) -> ShowAccess | None:
        """The user's rights on the show; None if it does not exist; ServiceUnavailable if shows is down.

        `friendship` replaces the client's own for this call (e.g. bound to the caller's transaction).
        """
        friendship = friendship or self.friendship
        key = (show_id, user_id)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            owner = self._owners.get(show_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        result = self._ask(show_id, user_id, owner, friendship)
        if (result is not None and owner is None and friendship is not None
                and result.visibility == "friends" and result.owner_id != user_id):
            # a show not seen before: shows answered from its copy; ask again with the owner's fact
            result = self._ask(show_id, user_id, result.owner_id, friendship)
        with self._lock:
            if len(self._cache) > self.max_entries:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._owners) > self.max_entries:
                self._owners.clear()
            self._cache[key] = (now + self.ttl_s, result)
            if result is not None:
                self._owners[show_id] = result.owner_id
        return result

    def forget(self, show_id: int) -> None:
        """Drop cached answers about a show (after its visibility changed or it was deleted)."""
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items() if k[0] != show_id}

    def forget_user(self, user_id: int) -> None:
        """Drop cached answers for a user (after a friendship of theirs ended or their account went)."""
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items() if k[1] != user_id}

    def close(self) -> None:
        """Close the HTTP pool."""
        self.client.close()
