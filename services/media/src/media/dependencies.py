"""Annotated dependencies of the media routes (collaborators live on app.state)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from media.clients import ShowsAccess
from media.concerts import ConcertFacts
from media.config import MediaSettings
from media.service import Enqueue
from media.storage import Storage
from shared.ratelimit import RateLimiter


async def _settings(request: Request) -> MediaSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def _shows(request: Request) -> ShowsAccess:
    return request.app.state.shows  # type: ignore[no-any-return]


async def _concerts(request: Request) -> ConcertFacts:
    return request.app.state.concerts  # type: ignore[no-any-return]


async def _storage(request: Request) -> Storage:
    return request.app.state.storage  # type: ignore[no-any-return]


async def _enqueue(request: Request) -> Enqueue:
    return request.app.state.enqueue  # type: ignore[no-any-return]


async def _upload_limiter(request: Request) -> RateLimiter:
    return request.app.state.upload_limiter  # type: ignore[no-any-return]


SettingsDep = Annotated[MediaSettings, Depends(_settings)]
ShowsDep = Annotated[ShowsAccess, Depends(_shows)]
ConcertsDep = Annotated[ConcertFacts, Depends(_concerts)]
StorageDep = Annotated[Storage, Depends(_storage)]
EnqueueDep = Annotated[Enqueue, Depends(_enqueue)]
UploadLimiterDep = Annotated[RateLimiter, Depends(_upload_limiter)]
