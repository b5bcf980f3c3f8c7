"""Calls to media and social (internal endpoints), concurrent, short timeouts, degraded on failure."""

from __future__ import annotations

from typing import Any, Protocol

from shared.internal import InternalClient, fetch_concurrently
from shows.config import ShowsSettings


class Peers(Protocol):
    """What shows asks other services (a fake replaces this in tests)."""

    def show_media(self, show_id: int, viewer_id: int) -> dict[str, list[dict[str, Any]]]: ...

    def show_comments(self, show_id: int, viewer_id: int) -> list[dict[str, Any]]: ...

    def user_media_counts(self, user_id: int) -> dict[str, int]: ...

    def user_social_counts(self, user_id: int) -> dict[str, int]: ...


def _list(value: Any, *keys: str) -> list[dict[str, Any]]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        for key in keys:
            if isinstance(value.get(key), list):
                return list(value[key])
    return []


class HttpPeers:
    """Peers over HTTP with shared's pooled InternalClient."""

    def __init__(self, settings: ShowsSettings) -> None:
        timeout = settings.internal_timeout_s
        self.media = InternalClient(settings.media_url, settings.internal_token, service="media", timeout_s=timeout)
        self.social = InternalClient(settings.social_url, settings.internal_token, service="social", timeout_s=timeout)

    def show_media(self, show_id: int, viewer_id: int) -> dict[str, list[dict[str, Any]]]:
        """The photos, audio and videos of a show as the viewer may see them."""
        data = self.media.get_json(f"/internal/media/show/{show_id}", params={"viewer_id": viewer_id})
        return {
            "photos": _list(data, "photos"),
            "audio": _list(data, "audio", "recordings"),
            "videos": _list(data, "videos"),
        }

    def show_comments(self, show_id: int, viewer_id: int) -> list[dict[str, Any]]:
        """The comments of a show."""
        return _list(
            self.social.get_json(f"/internal/comments/show/{show_id}", params={"viewer_id": viewer_id}), "comments"
        )

    def user_media_counts(self, user_id: int) -> dict[str, int]:
        """{photos, audio, videos} a user uploaded."""
        return dict(self.media.get_json(f"/internal/users/{user_id}/counts"))

    def user_social_counts(self, user_id: int) -> dict[str, int]:
        """{comments, friends} of a user."""
        return dict(self.social.get_json(f"/internal/users/{user_id}/counts"))

    def close(self) -> None:
        """Close the connection pools."""
        self.media.close()
        self.social.close()


def fetch_show_extras(peers: Peers, show_id: int, viewer_id: int, timeout_s: float) -> tuple[dict[str, Any], list[str]]:
    """Media and comments of a show, one concurrent call per service; failed ones empty and listed."""
    results, degraded = fetch_concurrently(
        {
            "media": lambda: peers.show_media(show_id, viewer_id),
            "social": lambda: {"comments": peers.show_comments(show_id, viewer_id)},
        },
        default={},
        timeout_s=timeout_s,
    )
    media, social = results["media"], results["social"]
    return {
        "photos": media.get("photos", []),
        "audio": media.get("audio", []),
        "videos": media.get("videos", []),
        "comments": social.get("comments", []),
    }, degraded


def fetch_user_counts(peers: Peers, user_id: int, timeout_s: float) -> tuple[dict[str, int], list[str]]:
    """A user's media and social totals; a service that fails counts as zeros and is listed."""
    results, degraded = fetch_concurrently(
        {"media": lambda: peers.user_media_counts(user_id), "social": lambda: peers.user_social_counts(user_id)},
        default={},
        timeout_s=timeout_s,
    )
    counts: dict[str, int] = {}
    for part in results.values():
        for key, value in part.items():
            if isinstance(value, int):
                counts[key] = value
    return counts, degraded
