"""Thin routes of issue 16: notifications (+ socket, preferences, unsubscribe), direct messages, blocking."""

from __future__ import annotations

import html
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, WebSocket
from fastapi.responses import HTMLResponse

from shared.auth import CurrentUser
from shared.db import SessionDep
from shared.errors import ErrorBody
from shared.internal import require_internal
from shared.params import MAX_ID, Offset
from shared.ratelimit import enforce
from social import digest, messages, notifications
from social.dependencies import DmLimiter, Limit, NotifyHub, Settings, UserId, Users
from social.digest import link_secret
from social.notify_ws import NotificationSocket
from social.schemas import (
    BlockList,
    BlockState,
    ConversationList,
    DirectMessageRead,
    MarkConversationRead,
    MarkedRead,
    MessageCreate,
    MessagePage,
    NotificationList,
    NotificationPreferences,
    NotificationsRead,
)

E = {"model": ErrorBody}
COMMON: dict[int | str, dict[str, Any]] = {401: E, 422: E}

router = APIRouter()

# ---------------------------------------------------------------- notifications


@router.get("/api/notifications", response_model=NotificationList, tags=["notifications"], responses=COMMON)
def list_notifications(user: CurrentUser, session: SessionDep,
                       unread: Annotated[bool | None, Query(description="only unread (true) or read (false)")] = None,
                       limit: Limit = 20, offset: Offset = 0) -> dict[str, Any]:
    """Your notifications, newest first (only what you may still see)."""
    return notifications.list_notifications(session=session, user_id=user.user_id, unread=unread, limit=limit,
                                            offset=offset)


@router.post("/api/notifications/read", response_model=MarkedRead, tags=["notifications"], responses=COMMON)
def read_notifications(body: NotificationsRead, user: CurrentUser, session: SessionDep) -> dict[str, int]:
    """Mark notifications read: `{"ids": [...]}` or `{"all": true}`."""
    return notifications.mark_read(session=session, user_id=user.user_id, ids=body.ids, all_=body.all)


@router.get("/api/notifications/preferences", response_model=NotificationPreferences, tags=["notifications"],
            responses=COMMON)
def get_preferences(user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """Which notification types go into your email digest."""
    return notifications.preferences(session=session, user_id=user.user_id)


@router.put("/api/notifications/preferences", response_model=NotificationPreferences, tags=["notifications"],
            responses=COMMON)
def put_preferences(body: NotificationPreferences, user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """Change which types go into your email digest (types you leave out keep their setting)."""
    return notifications.update_preferences(session=session, user_id=user.user_id, email=body.email)


@router.websocket("/api/notifications/ws")
async def notifications_socket(websocket: WebSocket) -> None:
    """Live notifications and direct messages (JSON frames; see social.notify_ws)."""
    await NotificationSocket(websocket).run()


UNSUB_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="robots" content="noindex"></head><body><h1>{title}</h1><p>{text}</p>{form}</body></html>"""


def _unsub_page(title: str, text: str, form: str = "", status: int = 200) -> HTMLResponse:
    return HTMLResponse(UNSUB_PAGE.format(title=html.escape(title), text=html.escape(text), form=form),
                        status_code=status, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


UnsubUser = Annotated[int, Query(gt=0, le=MAX_ID)]
UnsubSig = Annotated[str, Query(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")]
HTML_404 = {404: {"content": {"text/html": {}}, "description": "The link is not valid"}}


@router.get("/api/public/unsubscribe", response_class=HTMLResponse, tags=["notifications"],
            responses={**HTML_404, 422: E})
def unsubscribe_page(u: UnsubUser, s: UnsubSig, settings: Settings) -> HTMLResponse:
    """The page behind a digest's unsubscribe link (no login): a button that turns the emails off.

    A GET changes nothing (mail scanners open links); the button POSTs to the same address."""
    if not notifications.check_unsubscribe(link_secret(settings), u, s):
        return _unsub_page("Link not valid", "This unsubscribe link is not valid.", status=404)
    action = html.escape(f"/api/public/unsubscribe?u={u}&s={s}", quote=True)
    form = f'<form method="post" action="{action}"><button type="submit">Stop notification emails</button></form>'
    return _unsub_page("Notification emails", "Stop all notification emails from ShareMyShows?", form)


@router.post("/api/public/unsubscribe", response_class=HTMLResponse, tags=["notifications"],
             responses={**HTML_404, 422: E})
def unsubscribe(u: UnsubUser, s: UnsubSig, settings: Settings, session: SessionDep) -> HTMLResponse:
    """Turn every notification email off for the link's person (no login; the link is signed)."""
    if not notifications.check_unsubscribe(link_secret(settings), u, s):
        return _unsub_page("Link not valid", "This unsubscribe link is not valid.", status=404)
    notifications.unsubscribe(session=session, user_id=u)
    return _unsub_page("Unsubscribed", "You will get no more notification emails. You can turn them back on in "
                       "your settings.")


# ---------------------------------------------------------------- direct messages

DM = {**COMMON, 403: E, 404: E}


@router.get("/api/messages", response_model=ConversationList, tags=["messages"], responses=COMMON)
def list_conversations(user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """Your conversations with the last message and how many messages to you are unread."""
    return messages.conversations(session=session, principal=user)


@router.get("/api/messages/{user_id}", response_model=MessagePage, tags=["messages"], responses={**COMMON, 404: E})
def conversation(user_id: UserId, user: CurrentUser, session: SessionDep, users: Users,
                 before: Annotated[int | None, Query(gt=0, le=MAX_ID)] = None,
                 limit: Annotated[int, Query(ge=1, le=100)] = 50) -> dict[str, Any]:
    """Your conversation with someone (history stays after unfriending); `before` pages backwards."""
    return messages.conversation(session=session, principal=user, users=users, other_id=user_id, before=before,
                                 limit=limit)


@router.post("/api/messages/{user_id}", status_code=201, response_model=DirectMessageRead, tags=["messages"],
             responses={**DM, 429: E})
def send_message(user_id: UserId, body: MessageCreate, user: CurrentUser, session: SessionDep, users: Users,
                 hub: NotifyHub, settings: Settings, limiter: DmLimiter) -> dict[str, Any]:
    """Message a friend (≤ 2000 characters); 403 `cannot_message` if you are not friends or a block stands."""
    enforce(limiter, f"dm:{user.user_id}", settings.dm_rate_limit, settings.dm_rate_window_s,
            "You are sending messages too fast; wait a moment.")
    return messages.send(session=session, principal=user, users=users, live=hub.publish, other_id=user_id,
                         text=body.text)


@router.post("/api/messages/{user_id}/read", tags=["messages"], responses={**COMMON, 404: E})
def read_conversation(user_id: UserId, body: MarkConversationRead, user: CurrentUser, session: SessionDep,
                      users: Users, hub: NotifyHub) -> dict[str, int]:
    """Mark messages from someone read (up to a message id, or all); the sender sees the read marker live."""
    return messages.mark_read(session=session, principal=user, users=users, live=hub.publish, other_id=user_id,
                              up_to=body.up_to)


# ---------------------------------------------------------------- blocking


@router.get("/api/users/blocked", response_model=BlockList, tags=["messages"], responses=COMMON)
def list_blocked(user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """The people you block."""
    return messages.blocked(session=session, principal=user)


@router.post("/api/users/{user_id}/block", response_model=BlockState, tags=["messages"],
             responses={**COMMON, 404: E})
def block_user(user_id: UserId, user: CurrentUser, session: SessionDep, users: Users) -> dict[str, Any]:
    """Block someone: no messages either way, no friend requests or mentions from them."""
    return messages.block(session=session, principal=user, users=users, other_id=user_id)


@router.delete("/api/users/{user_id}/block", response_model=BlockState, tags=["messages"], responses=COMMON)
def unblock_user(user_id: UserId, user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """Lift a block."""
    return messages.unblock(session=session, principal=user, other_id=user_id)



# ---------------------------------------------------------------- internal (never routed by the gateway)

internal_router = APIRouter(prefix="/internal", tags=["internal"], dependencies=[Depends(require_internal)],
                            include_in_schema=False)


@internal_router.post("/notifications/digest")
def run_digest(request: Request) -> dict[str, int]:
    """Run one digest pass now (operators; the e2e tests) instead of waiting for SOCIAL_DIGEST_POLL_S."""
    state = request.app.state
    return {"sent": digest.run_once(state.session_factory, state.auth_internal, state.settings)}
