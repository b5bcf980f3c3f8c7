"""Calls to media and social (internal endpoints), concurrent, short timeouts, degraded on failure."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

import aiohttp
import orjson

from shared.internal import INTERNAL_HEADER, InternalClient, fetch_concurrently
from shared.logging import REQUEST_ID_HEADER, request_id_var
from shows.config import ShowsSettings

log = logging.getLogger("shows.clients")


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


class AsyncPeerClient:
    """GET another service's /internal JSON on the event loop (aiohttp), any of its replicas.

    The async twin of shared.internal.InternalClient for the hot detail route: the next replica on a
    connection error, one more try when a reused connection drops, an error otherwise (the caller degrades).
    """

    def __init__(self, base_urls: str, token: str, *, service: str, timeout_s: float) -> None:
        self.service = service
        self._bases = [u.strip().rstrip("/") for u in base_urls.split(",") if u.strip()]
        self._turn = 0
        self._token = token
        self._timeout_s = timeout_s
        self._session: Any = None
        self._loop: Any = None

    def _client(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop:
            self._session = aiohttp.ClientSession(
                headers={INTERNAL_HEADER: self._token},
                timeout=aiohttp.ClientTimeout(total=self._timeout_s, connect=min(self._timeout_s, 1.0)),
                # idle connections go before the peer's keep-alive timeout closes them from its side
                connector=aiohttp.TCPConnector(limit=50, keepalive_timeout=2.0),
            )
            self._loop = loop
        return self._session

    async def get_json(self, path: str, params: dict[str, Any]) -> Any:
        """The JSON answer; raises on a connection failure, a timeout or a status >= 400."""
        client = self._client()
        rid = request_id_var.get()
        headers = {REQUEST_ID_HEADER: rid} if rid else None
        self._turn = (self._turn + 1) % len(self._bases)
        bases = self._bases[self._turn:] + self._bases[:self._turn]
        last: Exception | None = None
        for base in bases:
            for attempt in (1, 2):
                try:
                    async with client.get(base + path, params=params, headers=headers) as resp:
                        if resp.status >= 400:
                            raise RuntimeError(f"{self.service} answered {resp.status} for {path}")
                        return orjson.loads(await resp.read())
                except aiohttp.ClientConnectorError as exc:
                    last = exc
                    break  # nothing was sent: the next replica
                except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                    last = exc  # a reused connection dropped: a GET runs once more
                    if attempt == 2:
                        raise
        raise ConnectionError(f"{self.service} unreachable: {last}")

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None and self._loop is asyncio.get_running_loop():
            await self._session.close()
        self._session = None


class AsyncHttpPeers:
    """The detail's media and comments over aiohttp (HttpPeers keeps the synchronous calls)."""

    def __init__(self, settings: ShowsSettings) -> None:
        timeout = settings.internal_timeout_s
        token = settings.internal_token
        self.media = AsyncPeerClient(settings.media_url, token, service="media", timeout_s=timeout)
        self.social = AsyncPeerClient(settings.social_url, token, service="social", timeout_s=timeout)

    async def show_extras(self, show_id: int, viewer_id: int, timeout_s: float) -> tuple[dict[str, Any], list[str]]:
        """`fetch_show_extras` on the event loop: both calls at once, a failed one empty and listed."""
        params = {"viewer_id": str(viewer_id)}
        media, social = await asyncio.gather(
            asyncio.wait_for(self.media.get_json(f"/internal/media/show/{show_id}", params), timeout_s),
            asyncio.wait_for(self.social.get_json(f"/internal/comments/show/{show_id}", params), timeout_s),
            return_exceptions=True,
        )
        degraded = []
        for name, value in (("media", media), ("social", social)):
            if isinstance(value, BaseException):
                log.warning("degraded answer: %s failed: %r", name, value)
                degraded.append(name)
        m = {} if isinstance(media, BaseException) else media
        return {
            "photos": _list(m, "photos"),
            "audio": _list(m, "audio", "recordings"),
            "videos": _list(m, "videos"),
            "comments": [] if isinstance(social, BaseException) else _list(social, "comments"),
        }, degraded

    async def user_counts(self, user_id: int, timeout_s: float) -> tuple[dict[str, int], list[str]]:
        """`fetch_user_counts` on the event loop: both services at once, a failed one zeros and listed."""
        path = f"/internal/users/{user_id}/counts"
        answers = await asyncio.gather(asyncio.wait_for(self.media.get_json(path, {}), timeout_s),
                                       asyncio.wait_for(self.social.get_json(path, {}), timeout_s),
                                       return_exceptions=True)
        counts: dict[str, int] = {}
        degraded = []
        for name, value in zip(("media", "social"), answers, strict=True):
            if isinstance(value, BaseException):
                log.warning("degraded answer: %s failed: %r", name, value)
                degraded.append(name)
                continue
            counts.update({k: v for k, v in value.items() if isinstance(v, int)})
        return counts, degraded

    async def close(self) -> None:
        """Close both pools."""
        await self.media.close()
        await self.social.close()


async def fetch_user_counts_async(
    peers: Peers, async_peers: AsyncHttpPeers | None, user_id: int, timeout_s: float
) -> tuple[dict[str, int], list[str]]:
    """A user's media and social totals from the event loop (injected peers, e.g. tests' fakes, in a thread)."""
    if async_peers is not None:
        return await async_peers.user_counts(user_id, timeout_s)
    return await asyncio.to_thread(fetch_user_counts, peers, user_id, timeout_s)


async def fetch_show_extras_async(
    peers: Peers, async_peers: AsyncHttpPeers | None, show_id: int, viewer_id: int, timeout_s: float
) -> tuple[dict[str, Any], list[str]]:
    """Media and comments of a show from the event loop (injected peers, e.g. tests' fakes, in a thread)."""
    if async_peers is not None:
        return await async_peers.show_extras(show_id, viewer_id, timeout_s)
    return await asyncio.to_thread(fetch_show_extras, peers, show_id, viewer_id, timeout_s)
