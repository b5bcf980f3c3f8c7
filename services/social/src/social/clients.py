"""Questions social asks other services: who may see a show (shows), which show a photo is on (media)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from shared.access import Friendship, ShowAccess, ShowsAccessClient
from shared.db import session_scope
from shared.errors import NotFound
from shared.internal import InternalClient
from social import repository as repo
from social.exceptions import PhotoNotFound, ShowNotFound


@dataclass(frozen=True, slots=True)
class PhotoRef:
    """media's answer to "which show is photo P on"."""

    id: int
    show_id: int
    user_id: int
    status: str


def friends_now(session: Session, a: int, b: int) -> bool:
    """Whether two users are friends right now (social owns friendships: the authoritative answer)."""
    row = repo.friendship_between(session, a, b)
    return row is not None and row.status == "accepted"


class ShowsClient(ShowsAccessClient):
    """Access checks against the shows service, with social's own answer on friendships; a missing show is
    ShowNotFound (404)."""

    def __init__(self, client: InternalClient, ttl_s: float = 2.0, *,
                 session_factory: sessionmaker[Session] | None = None) -> None:
        super().__init__(client, ttl_s)
        self.session_factory = session_factory

    def _friendship(self, session: Session | None) -> Friendship | None:
        if session is not None:  # the caller's transaction (a second one could wait on its lock)
            return lambda a, b: friends_now(session, a, b)
        factory = self.session_factory
        if factory is None:
            return None

        def own_session(a: int, b: int) -> bool:
            with session_scope(factory) as s:
                return friends_now(s, a, b)

        return own_session

    def access(self, show_id: int, user_id: int, session: Session | None = None) -> ShowAccess:  # type: ignore[override]
        """The caller's access to a show; ShowNotFound if it does not exist (503 if shows is down)."""
        result = super().access(show_id, user_id, friendship=self._friendship(session))
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
