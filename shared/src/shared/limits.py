"""Request-body limits: one definition of the numbers for the gateway and the services, and the middleware.

The gateway refuses an oversized body before any upstream reads it; every service refuses it again
(defence in depth) with `BodyLimitMiddleware`, which counts bytes as they arrive and never holds more
than the limit. JSON routes share `MAX_BODY_BYTES`; the upload routes (`UPLOAD_ROUTES`) allow their
kind's size (`MEDIA_PHOTO_MAX_BYTES` ...) plus `MULTIPART_SLACK` for the form fields and part headers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MiB = 1024 * 1024
DEFAULT_MAX_BODY_BYTES = 1 * MiB
# multipart framing, part headers and the small form fields on top of the file itself
MULTIPART_SLACK = 1 * MiB

# (method, path) of every route that takes a file, and the media kind whose limit applies
UPLOAD_ROUTES: Mapping[tuple[str, str], str] = {
    ("POST", "/api/photos"): "photo",
    ("POST", "/api/audio"): "audio",
    ("POST", "/api/videos"): "video",
    ("POST", "/api/imports"): "history",  # a concert-history file (shows' catalogue import)
}


# (method, path prefix) of routes whose path carries an id and whose body is a file (or a part of one)
UPLOAD_PREFIX_ROUTES: Mapping[tuple[str, str], str] = {
    ("PATCH", "/api/uploads/"): "any",  # tus: a resumable upload's bytes, up to the largest kind
}


class RouteLimits(dict[tuple[str, str], int]):
    """(method, path) -> body limit, exact paths first, then path prefixes (`get` is what both readers call)."""

    def __init__(self, exact: Mapping[tuple[str, str], int], prefixes: Mapping[tuple[str, str], int]) -> None:
        super().__init__(exact)
        self.prefixes = dict(prefixes)

    def get(self, key: tuple[str, str], default: int | None = None) -> int | None:  # type: ignore[override]
        """The limit of a (method, path), or `default`."""
        found = super().get(key)
        if found is not None:
            return found
        method, path = key
        for (m, prefix), limit in self.prefixes.items():
            if m == method and path.startswith(prefix):
                return limit
        return default


class UploadLimitSettings(BaseSettings):
    """Per-kind upload sizes: read by media (which enforces them) and the gateway (which refuses early)."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    # The variables keep the media service's names whichever service reads them: one value, two readers.
    photo_max_bytes: int = Field(50 * 1000 * 1000, ge=1, validation_alias=AliasChoices(
        "MEDIA_PHOTO_MAX_BYTES"))
    audio_max_bytes: int = Field(1000 * 1000 * 1000, ge=1, validation_alias=AliasChoices(
        "MEDIA_AUDIO_MAX_BYTES"))
    video_max_bytes: int = Field(4000 * 1000 * 1000, ge=1, validation_alias=AliasChoices(
        "MEDIA_VIDEO_MAX_BYTES"))
    history_max_bytes: int = Field(5 * MiB, ge=1, validation_alias=AliasChoices("SHOWS_IMPORT_MAX_BYTES"))

    def max_bytes(self, kind: str) -> int:
        """The file size limit of an upload kind."""
        if kind == "any":
            return max(self.photo_max_bytes, self.audio_max_bytes, self.video_max_bytes)
        return {"photo": self.photo_max_bytes, "audio": self.audio_max_bytes, "video": self.video_max_bytes,
                "history": self.history_max_bytes}[kind]

    def upload_body_limits(self) -> RouteLimits:
        """(method, path) -> the largest request body of each upload route (file + multipart slack)."""
        return RouteLimits(
            {route: self.max_bytes(kind) + MULTIPART_SLACK for route, kind in UPLOAD_ROUTES.items()},
            {route: self.max_bytes(kind) for route, kind in UPLOAD_PREFIX_ROUTES.items()},
        )


def describe_size(n: int) -> str:
    """A short human size for messages: 1 MiB, 50 MB, 4 GB."""
    for unit, size in (("GiB", 1024**3), ("MiB", MiB), ("KiB", 1024)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    for unit, size in (("GB", 1000**3), ("MB", 1000**2), ("kB", 1000)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


def too_large_message(limit: int) -> str:
    """The sentence of a 413 for a body over `limit`."""
    return f"The request body is larger than the {describe_size(limit)} this endpoint accepts."


def too_large_body(limit: int) -> bytes:
    """The contract's error body of a 413."""
    return json.dumps({"error": too_large_message(limit), "code": "payload_too_large"}).encode()


class BodyLimitMiddleware:
    """Refuses request bodies over the route's limit: by Content-Length up front, else while they arrive.

    A declared length over the limit is answered 413 before the app runs (nothing is read). A chunked
    body is counted as the app reads it; the read that crosses the limit raises HTTPException(413), which
    FastAPI passes through its body parsing to the error handlers (the contract's body).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, routes: Mapping[tuple[str, str], int] | None = None) -> None:
        """Wrap `app`; `routes` maps (method, path) to a larger (or smaller) limit than `max_bytes`."""
        self.app = app
        self.max_bytes = max_bytes
        self.routes = routes if isinstance(routes, RouteLimits) else dict(routes or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then count what arrives."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        if self.routes:
            limit = self.routes.get((scope["method"], scope["path"].rstrip("/") or "/"), limit)
        declared: bytes | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = True
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_413(send, limit)
            return
        if declared is None and not chunked:  # no body at all
            await self.app(scope, receive, send)
            return
        await self.app(scope, _counting(receive, limit), send)


def _counting(receive: Receive, limit: int) -> Receive:
    """A receive() that raises 413 as soon as the body read so far exceeds `limit`."""
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(413, too_large_message(limit))
        return message

    return counted


async def _send_413(send: Send, limit: int) -> None:
    body = too_large_body(limit)
    await send({
        "type": "http.response.start",
        "status": 413,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})
