"""Accounts as other services see them: a versioned copy fed by auth's events, and auth for unknown ids.

A service never creates its copy of a user from a token: a token outlives the account for up to its
lifetime, so "the token says user 7 exists" is not a fact. An id the copy has not heard of yet (the
`user.registered` event is still on its way) is fetched from auth; a tombstone or an id auth does not
know is refused with 401.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from sqlalchemy.orm import Session

from shared.errors import Unauthorized
from shared.internal import InternalClient

USERS_SNAPSHOT = "/internal/snapshot/users"


class UserDirectory(Protocol):
    """Looks accounts up at their owner (auth)."""

    def fetch(self, user_ids: Iterable[int]) -> list[dict[str, Any]]:
        """Snapshot items `{user_id, username, email, version, deleted}` of these ids (unknown ids absent)."""
        ...

    def find_username(self, username: str) -> list[dict[str, Any]]:
        """The snapshot item of the live account with this username (case-insensitive), if any."""
        ...


class AuthDirectory:
    """UserDirectory over auth's internal snapshot endpoint."""

    def __init__(self, client: InternalClient) -> None:
        self.client = client

    def fetch(self, user_ids: Iterable[int]) -> list[dict[str, Any]]:
        """Ask auth about these ids (ServiceUnavailable if it cannot answer)."""
        ids = sorted(set(user_ids))
        if not ids:
            return []
        data = self.client.get_json(USERS_SNAPSHOT, params={"ids": ",".join(map(str, ids)), "limit": len(ids)})
        return list(data.get("items") or [])

    def find_username(self, username: str) -> list[dict[str, Any]]:
        """Ask auth for the account with this username."""
        data = self.client.get_json(USERS_SNAPSHOT, params={"username": username[:64], "limit": 1})
        return list(data.get("items") or [])

    def close(self) -> None:
        """Close the HTTP pool."""
        self.client.close()


def account_gone() -> Unauthorized:
    """The 401 for a token whose account no longer exists."""
    return Unauthorized("This account no longer exists; sign in again.", code="account_deleted")


def ensure_live_user(
    session: Session,
    user_id: int,
    *,
    get: Callable[[Session, int], Any],
    apply: Callable[[Session, dict[str, Any]], bool],
    directory: UserDirectory,
) -> Any:
    """This service's live copy of a user, fetched from auth if the copy has not heard of the id; 401 if gone."""
    row = get(session, user_id)
    if row is None:
        for item in directory.fetch([user_id]):
            apply(session, item)
        row = get(session, user_id)
    if row is None or row.deleted:
        raise account_gone()
    return row
