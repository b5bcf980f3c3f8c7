"""An in-process stand-in for auth's user directory (API tests run one service without auth)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class StaticDirectory:
    """Every id is a live account named `user<id>` (or a name set here) unless marked deleted or unknown."""

    def __init__(self) -> None:
        self.names: dict[int, str] = {}
        self.deleted: set[int] = set()
        self.unknown: set[int] = set()
        self.calls: list[list[int]] = []

    def fetch(self, user_ids: Iterable[int]) -> list[dict[str, Any]]:
        """Items shaped like auth's `/internal/snapshot/users`."""
        ids = sorted(set(user_ids))
        self.calls.append(ids)
        out = []
        for uid in ids:
            if uid in self.unknown:
                continue
            if uid in self.deleted:
                out.append({"user_id": uid, "username": "", "email": None, "version": 2, "deleted": True})
            else:
                name = self.names.get(uid, f"user{uid}")
                out.append({"user_id": uid, "username": name, "email": f"{name.lower()}@example.test",
                            "version": 1, "deleted": False})
        return out

    def find_username(self, username: str) -> list[dict[str, Any]]:
        """The account named so here (names set in `names`), as auth would answer."""
        for uid, name in self.names.items():
            if name.lower() == username.lower():
                return self.fetch([uid])
        return []
