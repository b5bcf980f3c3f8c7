"""Thin HTTP and WebSocket routes of the social service (public API and /internal)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request, Response, WebSocket

from shared.auth import CurrentUser
from shared.copies import SNAPSHOT_PAGE_MAX, parse_since
from shared.db import SessionDep, after_commit, service_router
from shared.errors import ErrorBody
from shared.internal import require_internal
from shared.params import MAX_ID, Offset
from shared.ratelimit import enforce
from social import chat_service, readpath, service
from social.chat_ws import ChatSocket
from social.dependencies import (
    ChatLimiter,
    CommentId,
    FriendshipId,
    Hub,
    Limit,
    Media,
    PhotoId,
    Settings,
    ShowId,
    Shows,
    UserId,
    Users,
)
from social.exceptions import InvalidInput
from social.schemas import (
    ActiveUserList,
    ChatMessageCreate,
    ChatMessagePage,
    ChatMessageRead,
    CommentCreate,
    CommentList,
    CommentRead,
    CommentUpdate,
    FeedPage,
    FriendIds,
    FriendList,
    FriendRequestCreate,
    FriendshipRead,
    MessageResponse,
    RecentCommentList,
    SearchSettings,
    UserCounts,
    UserSearchList,
)

E = {"model": ErrorBody}
COMMON: dict[int | str, dict[str, Any]] = {401: E, 422: E}
VIEW: dict[int | str, dict[str, Any]] = {**COMMON, 404: E, 503: E}

router = service_router()
internal_router = service_router(prefix="/internal", tags=["internal"], dependencies=[Depends(require_internal)],
                            include_in_schema=False)

# ---------------------------------------------------------------- comments


@router.post("/api/comments", status_code=201, response_model=CommentRead, tags=["comments"], responses=VIEW)
def create_comment(body: CommentCreate, user: CurrentUser, session: SessionDep, shows: Shows,
                   media: Media, users: Users) -> dict[str, Any]:
    """Comment on a show or a photo you may see (`@username` mentions are resolved)."""
    return service.create_comment(session=session, shows=shows, media=media, users=users, principal=user,
                                  data=body)


@router.put("/api/comments/{comment_id}", response_model=CommentRead, tags=["comments"],
            responses={**VIEW, 403: E})
def update_comment(comment_id: CommentId, body: CommentUpdate, user: CurrentUser, session: SessionDep,
                   shows: Shows) -> dict[str, Any]:
    """Edit your comment (sets `updated_at`)."""
    return service.update_comment(session=session, shows=shows, principal=user, comment_id=comment_id,
                                  text=body.text)


@router.delete("/api/comments/{comment_id}", status_code=204, tags=["comments"], responses={**VIEW, 403: E})
def delete_comment(comment_id: CommentId, user: CurrentUser, session: SessionDep, shows: Shows) -> Response:
    """Delete a comment (its author or the show's owner)."""
    service.delete_comment(session=session, shows=shows, principal=user, comment_id=comment_id)
    return Response(status_code=204)


@router.get("/api/comments/show/{show_id}", response_model=CommentList, tags=["comments"], responses=VIEW)
def show_comments(show_id: ShowId, user: CurrentUser, session: SessionDep, shows: Shows, limit: Limit = 20,
                  offset: Offset = 0) -> dict[str, Any]:
    """Comments on a show (not on its photos), oldest first."""
    return service.list_show_comments(session=session, shows=shows, principal=user, show_id=show_id,
                                      limit=limit, offset=offset)


@router.get("/api/comments/photo/{photo_id}", response_model=CommentList, tags=["comments"], responses=VIEW)
def photo_comments(photo_id: PhotoId, user: CurrentUser, session: SessionDep, shows: Shows, media: Media,
                   limit: Limit = 20, offset: Offset = 0) -> dict[str, Any]:
    """Comments on a photo, oldest first."""
    return service.list_photo_comments(session=session, shows=shows, media=media, principal=user,
                                       photo_id=photo_id, limit=limit, offset=offset)


@router.get("/api/dashboard/comments/recent", response_model=RecentCommentList, tags=["dashboard"],
            responses=COMMON)
def recent_comments(user: CurrentUser, session: SessionDep,
                    limit: Annotated[int, Query(ge=1, le=50)] = 10) -> dict[str, Any]:
    """Your latest comments with their show's name."""
    return service.recent_comments(session=session, user_id=user.user_id, limit=limit)


# ---------------------------------------------------------------- friends


@router.get("/api/friends/search", response_model=UserSearchList, tags=["friends"], responses=COMMON)
def search_users(user: CurrentUser, session: SessionDep,
                 q: Annotated[str | None, Query(max_length=320)] = None,
                 query: Annotated[str | None, Query(max_length=320)] = None) -> dict[str, Any]:
    """Find people by username prefix, or by exact email if they opted in (≥ 2 characters; emails never shown)."""
    text = q if q is not None else query
    if text is None:
        raise InvalidInput("Give a search text in `q`.", field="q")
    return service.search_users(session=session, principal=user, query=text)


@router.get("/api/friends/settings", response_model=SearchSettings, tags=["friends"], responses=COMMON)
def get_search_settings(user: CurrentUser, session: SessionDep) -> dict[str, bool]:
    """Whether others may find you by your exact email (off unless you opt in)."""
    return service.search_settings(session=session, user_id=user.user_id)


@router.put("/api/friends/settings", response_model=SearchSettings, tags=["friends"], responses=COMMON)
def put_search_settings(body: SearchSettings, user: CurrentUser, session: SessionDep) -> dict[str, bool]:
    """Opt in to (or out of) being found by your exact email; your username can always be searched."""
    return service.update_search_settings(session=session, user_id=user.user_id,
                                          findable_by_email=body.findable_by_email)


@router.post("/api/friends/request", status_code=201, response_model=FriendshipRead, tags=["friends"],
             responses={**COMMON, 200: {"model": FriendshipRead, "description": "Already requested or friends"},
                        404: E})
def request_friend(body: FriendRequestCreate, user: CurrentUser, session: SessionDep, users: Users,
                   response: Response) -> dict[str, Any]:
    """Ask someone to be friends (`friend_id` or `username`); asking someone who asked you accepts."""
    data, status = service.request_friend(session=session, principal=user, users=users, data=body)
    response.status_code = status
    return data


@router.post("/api/friends/request/{friendship_id}/accept", response_model=FriendshipRead, tags=["friends"],
             responses={**COMMON, 403: E, 404: E})
def accept_request(friendship_id: FriendshipId, user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """Accept a friend request sent to you."""
    return service.accept_request(session=session, principal=user, friendship_id=friendship_id)


@router.post("/api/friends/request/{friendship_id}/reject", response_model=MessageResponse, tags=["friends"],
             responses={**COMMON, 403: E, 404: E, 409: E})
def reject_request(friendship_id: FriendshipId, user: CurrentUser, session: SessionDep) -> dict[str, str]:
    """Reject (delete) a friend request sent to you."""
    return service.reject_request(session=session, principal=user, friendship_id=friendship_id)


@router.get("/api/friends", response_model=FriendList, tags=["friends"], responses=COMMON)
def list_friends(user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """Your friends."""
    return service.list_friends(session=session, principal=user)


@router.get("/api/friends/requests", response_model=FriendList, tags=["friends"], responses=COMMON)
def list_requests(user: CurrentUser, session: SessionDep,
                  direction: Literal["incoming", "outgoing"] = "incoming") -> dict[str, Any]:
    """Pending friend requests sent to you (incoming) or by you (outgoing)."""
    return service.list_requests(session=session, principal=user, direction=direction)


@router.delete("/api/friends/{friendship_id}", status_code=204, tags=["friends"], responses={**COMMON, 404: E})
def remove_friend(friendship_id: FriendshipId, user: CurrentUser, session: SessionDep, hub: Hub) -> Response:
    """Remove a friend, or cancel/decline a pending request (either side); open chat sockets that the
    friendship granted close within seconds."""
    service.remove_friendship(session=session, principal=user, friendship_id=friendship_id,
                              on_removed=lambda users: hub.notify_access(users=users))
    return Response(status_code=204)


# ---------------------------------------------------------------- feed


@router.get("/api/feed", response_model=FeedPage, tags=["feed"], responses=COMMON)
def feed(user: CurrentUser, session: SessionDep, limit: Limit = 20, offset: Offset = 0) -> dict[str, Any]:
    """Recent shows and media of your friends that you may see, newest first."""
    return service.feed(session=session, principal=user, limit=limit, offset=offset)


# ---------------------------------------------------------------- chat

CHAT_RULE = (" Reading and writing a concert's chat need the same permission: you may see the show and "
             "(policy `SOCIAL_CHAT_POLICY`) you logged that concert or are checked in (403 otherwise).")


@router.get("/api/chat/show/{show_id}/messages", response_model=ChatMessagePage, tags=["chat"],
            responses={**VIEW, 403: E}, description="Messages of the show's concert, oldest first within the "
            "page; `before` (a message id) pages backwards." + CHAT_RULE)
def chat_messages(show_id: ShowId, user: CurrentUser, session: SessionDep, shows: Shows, settings: Settings,
                  before: Annotated[int | None, Query(gt=0, le=MAX_ID)] = None,
                  limit: Annotated[int, Query(ge=1, le=100)] = 50) -> dict[str, Any]:
    """A page of the concert's chat."""
    access = chat_service.chat_access(shows=shows, policy=settings.chat_policy, show_id=show_id,
                                      user_id=user.user_id, session=session)
    return chat_service.chat_messages(session=session, concert_id=access.concert_id, before=before, limit=limit)


@router.post("/api/chat/show/{show_id}/messages", status_code=201, response_model=ChatMessageRead,
             tags=["chat"], responses={**VIEW, 403: E, 429: E}, description="Post to the concert's chat (1–1000 "
             "characters; rate limited per user)." + CHAT_RULE)
def post_chat_message(show_id: ShowId, body: ChatMessageCreate, user: CurrentUser, session: SessionDep,
                      shows: Shows, settings: Settings, hub: Hub, limiter: ChatLimiter,
                      users: Users) -> dict[str, Any]:
    """Send a chat message (delivered live to every connected socket)."""
    access = chat_service.chat_access(shows=shows, policy=settings.chat_policy, show_id=show_id,
                                      user_id=user.user_id, session=session)
    enforce(limiter, f"chat:{user.user_id}", settings.chat_rate_limit, settings.chat_rate_window_s,
            "You are sending messages too fast; wait a moment.")
    assert body.message is not None
    msg = chat_service.post_chat_message(session=session, concert_id=access.concert_id, principal=user,
                                         users=users, text=body.message)
    after_commit(session, lambda: hub.publish_message(msg))
    return msg


@router.get("/api/chat/show/{show_id}/active-users", response_model=ActiveUserList, tags=["chat"],
            responses={**VIEW, 403: E}, description="People connected to the concert's chat now." + CHAT_RULE)
def active_users(show_id: ShowId, user: CurrentUser, shows: Shows, settings: Settings, hub: Hub) -> dict[str, Any]:
    """Who is in the concert's chat now."""
    access = chat_service.chat_access(shows=shows, policy=settings.chat_policy, show_id=show_id, user_id=user.user_id)
    users = hub.presence.users(access.concert_id)
    return {"users": users, "total": len(users)}


@router.websocket("/api/chat/show/{show_id}/ws")
async def chat_socket(websocket: WebSocket, show_id: int, after: int | None = None) -> None:
    """Live chat of the show's concert (JSON frames; see the module docs)."""
    if not 0 < show_id <= MAX_ID or (after is not None and not 0 <= after <= MAX_ID):
        await websocket.accept()
        await websocket.close(code=4404, reason="Show not found.")
        return
    await ChatSocket(websocket, show_id, after).run()


# ---------------------------------------------------------------- internal (never routed by the gateway)


@internal_router.get("/comments/show/{show_id}", response_model=CommentList)
async def internal_show_comments(show_id: ShowId, request: Request,
                                 limit: Annotated[int, Query(ge=1, le=500)] = 100, offset: Offset = 0) -> Response:
    """Show-level comments for the shows service's detail view."""
    body = await readpath.show_comments(request.app.state.reader, show_id, limit=limit, offset=offset)
    return Response(body, media_type="application/json")


@internal_router.get("/users/{user_id}/counts", response_model=UserCounts)
async def internal_user_counts(user_id: UserId, request: Request) -> Response:
    """A user's comment and friend totals."""
    return Response(await readpath.user_counts(request.app.state.reader, user_id), media_type="application/json")


@internal_router.get("/friends/{user_id}", response_model=FriendIds)
def internal_friends(user_id: UserId, session: SessionDep) -> dict[str, list[int]]:
    """Ids of a user's accepted friends."""
    return {"friend_ids": service.friend_ids(session=session, user_id=user_id)}


@internal_router.get("/snapshot/friendships")
def friendships_snapshot(
    session: SessionDep,
    after: Annotated[str | None, Query(max_length=50, pattern=r"^\d+:\d+$")] = None,
    limit: Annotated[int, Query(ge=1, le=SNAPSHOT_PAGE_MAX)] = 500,
    since: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    """Every pair that was ever friends, with its state and version, paged by pair: how shows repairs its copy."""
    return service.friendships_snapshot(session=session, after=after, limit=limit, since=parse_since(since)).as_json()
