"""Domain logic of the concert chat: who may use it, storing messages, pages and replays."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from shared.auth import Principal
from shared.db import iso
from shared.events import ChatMessageV1
from shared.outbox import emit
from shared.users import UserDirectory
from social import repository as repo
from social.clients import ShowAccess, ShowsClient
from social.exceptions import ChatNotAllowed
from social.models import ChatMessage
from social.service import ensure_user, viewable


def chat_access(*, shows: ShowsClient, policy: str, show_id: int, user_id: int,
                session: Session | None = None) -> ShowAccess:
    """The show's access if the user may use its concert's chat; ShowNotFound / ChatNotAllowed otherwise."""
    access = viewable(shows, show_id, user_id, session)
    allowed = access.checked_in if policy == "checked_in" else (access.logged_concert or access.checked_in)
    if not allowed:
        raise ChatNotAllowed()
    return access


def serialize_chat(row: ChatMessage) -> dict[str, Any]:
    """A chat message as API JSON."""
    return {
        "id": row.id,
        "concert_id": row.concert_id,
        "user": {"id": row.user_id, "username": row.username},
        "message": row.message,
        "created_at": iso(row.created_at),
    }


def post_chat_message(*, session: Session, concert_id: int, principal: Principal, users: UserDirectory,
                      text: str) -> dict[str, Any]:
    """Store a chat message and its durable `chat.message` event; returns the message JSON."""
    user = ensure_user(session=session, principal=principal, users=users)
    row = repo.add_chat_message(session, concert_id=concert_id, user_id=principal.user_id,
                                username=user.username, message=text)
    emit(session, ChatMessageV1(message_id=row.id, concert_id=concert_id, user_id=row.user_id,
                                username=row.username, message=row.message, created_at=row.created_at))
    return serialize_chat(row)


def chat_messages(*, session: Session, concert_id: int, before: int | None, limit: int) -> dict[str, Any]:
    """A page of a concert's messages (oldest first within the page)."""
    rows, has_more = repo.chat_page(session, concert_id, before=before, limit=limit)
    return {"messages": [serialize_chat(r) for r in rows], "has_more": has_more}


def chat_replay(*, session: Session, concert_id: int, after: int | None, history: int,
                replay_max: int) -> list[dict[str, Any]]:
    """What a joining socket gets: the last `history` messages, or every one after `after`."""
    if after is None:
        rows, _ = repo.chat_page(session, concert_id, before=None, limit=history)
    else:
        rows = repo.chat_after(session, concert_id, after, replay_max)
    return [serialize_chat(r) for r in rows]
