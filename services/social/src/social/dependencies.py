"""Annotated FastAPI dependencies of the social routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from shared.params import MAX_ID
from shared.ratelimit import RateLimiter
from shared.users import UserDirectory
from social.chat import ChatHub
from social.clients import MediaClient, ShowsClient
from social.config import SocialSettings
from social.notify_ws import NotificationHub
from social.webpush import PushSender


async def _shows(request: Request) -> ShowsClient:
    return request.app.state.shows_client  # type: ignore[no-any-return]


async def _media(request: Request) -> MediaClient:
    return request.app.state.media_client  # type: ignore[no-any-return]


async def _hub(request: Request) -> ChatHub:
    return request.app.state.chat_hub  # type: ignore[no-any-return]


async def _notify_hub(request: Request) -> NotificationHub:
    return request.app.state.notify_hub  # type: ignore[no-any-return]


async def _dm_limiter(request: Request) -> RateLimiter:
    return request.app.state.dm_limiter  # type: ignore[no-any-return]


async def _push(request: Request) -> PushSender:
    return request.app.state.push  # type: ignore[no-any-return]


async def _settings(request: Request) -> SocialSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def _users(request: Request) -> UserDirectory:
    return request.app.state.users  # type: ignore[no-any-return]


async def _limiter(request: Request) -> RateLimiter:
    return request.app.state.chat_limiter  # type: ignore[no-any-return]


Shows = Annotated[ShowsClient, Depends(_shows)]
Media = Annotated[MediaClient, Depends(_media)]
Hub = Annotated[ChatHub, Depends(_hub)]
Settings = Annotated[SocialSettings, Depends(_settings)]
ChatLimiter = Annotated[RateLimiter, Depends(_limiter)]
Users = Annotated[UserDirectory, Depends(_users)]
NotifyHub = Annotated[NotificationHub, Depends(_notify_hub)]
DmLimiter = Annotated[RateLimiter, Depends(_dm_limiter)]
Push = Annotated[PushSender, Depends(_push)]

ShowId = Annotated[int, Path(gt=0, le=MAX_ID, description="Show id")]
PhotoId = Annotated[int, Path(gt=0, le=MAX_ID, description="Photo id")]
CommentId = Annotated[int, Path(gt=0, le=MAX_ID, description="Comment id")]
FriendshipId = Annotated[int, Path(gt=0, le=MAX_ID, description="Friendship or request id")]
UserId = Annotated[int, Path(gt=0, le=MAX_ID, description="User id")]
Limit = Annotated[int, Query(ge=1, le=100, description="Page size (max 100)")]

