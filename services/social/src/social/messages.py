"""Direct messages between accepted friends, and blocking.

Only accepted friends may write to each other, and neither may have blocked the other; unfriending or
blocking closes a conversation for new messages while its history stays readable by both. New messages
and read markers are pushed to both people's notification sockets once committed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from shared.auth import Principal
from shared.db import after_commit, iso
from shared.users import UserDirectory
from social import repository as repo
from social import service
from social.clients import friends_now
from social.exceptions import InvalidInput, NotAllowed, UserNotFound
from social.models import DirectMessage, User
from social.notifications import Live


class CannotMessage(NotAllowed):
    default_code = "cannot_message"
    default_message = "You can only message friends (and neither of you may have blocked the other)."


def _user(u: User | None, uid: int) -> dict[str, Any]:
    return {"id": uid, "username": u.username} if u is not None and not u.deleted else \
        {"id": uid, "username": "deleted user"}


def serialize(m: DirectMessage, users: dict[int, User]) -> dict[str, Any]:
    """A direct message as API JSON."""
    return {"id": m.id, "sender": _user(users.get(m.sender_id), m.sender_id),
            "recipient": _user(users.get(m.recipient_id), m.recipient_id), "text": m.text,
            "created_at": iso(m.created_at), "read_at": iso(m.read_at)}


def may_message(session: Session, a: int, b: int) -> bool:
    """Whether a and b may write to each other now: accepted friends, no block either way."""
    return a != b and friends_now(session, a, b) and not repo.blocked_either_way(session, a, b)


def _other(session: Session, users: UserDirectory, principal: Principal, other_id: int) -> User:
    if other_id == principal.user_id:
        raise InvalidInput("That is you.", field="user_id")
    other = service._find_user(session, users, user_id=other_id, username="")
    if other is None:
        raise UserNotFound()
    return other


def send(*, session: Session, principal: Principal, users: UserDirectory, live: Live | None, other_id: int,
         text: str) -> dict[str, Any]:
    """Send a message to a friend (403 `cannot_message` otherwise); delivered live to both once committed."""
    other = _other(session, users, principal, other_id)
    if not may_message(session, principal.user_id, other.id):
        raise CannotMessage()
    me = service.ensure_user(session=session, principal=principal, users=users)
    msg = repo.add_direct_message(session, principal.user_id, other.id, text)
    data = serialize(msg, {me.id: me, other.id: other})
    if live is not None:
        frame = {"type": "message", "message": data}
        after_commit(session, lambda: (live(other.id, frame), live(principal.user_id, frame)))
    return data


def conversation(*, session: Session, principal: Principal, users: UserDirectory, other_id: int,
                 before: int | None, limit: int) -> dict[str, Any]:
    """A page of the conversation with someone (oldest first within the page), and whether you may write."""
    other = _other(session, users, principal, other_id)
    rows = repo.conversation_page(session, principal.user_id, other.id, before=before, limit=limit + 1)
    has_more = len(rows) > limit
    rows = rows[:limit]
    known = repo.users_by_ids(session, (principal.user_id, other.id))
    return {"messages": [serialize(m, known) for m in reversed(rows)], "has_more": has_more,
            "can_send": may_message(session, principal.user_id, other.id)}


def conversations(*, session: Session, principal: Principal) -> dict[str, Any]:
    """Every conversation of the caller with its last message and unread count, most recent first."""
    rows = repo.conversations(session, principal.user_id)
    others = {m.user_high if m.user_low == principal.user_id else m.user_low for m, _ in rows}
    known = repo.users_by_ids(session, others | {principal.user_id})
    out = []
    for m, unread in rows:
        other = m.user_high if m.user_low == principal.user_id else m.user_low
        out.append({"user": _user(known.get(other), other), "last_message": serialize(m, known), "unread": unread,
                    "can_send": may_message(session, principal.user_id, other)})
    return {"conversations": out, "total": len(out)}


def mark_read(*, session: Session, principal: Principal, users: UserDirectory, live: Live | None, other_id: int,
              up_to: int | None) -> dict[str, int]:
    """Mark messages from someone read (the read marker reaches the sender's sockets)."""
    other = _other(session, users, principal, other_id)
    changed = repo.mark_conversation_read(session, principal.user_id, other.id, up_to)
    if changed and live is not None:
        frame = {"type": "read", "reader_id": principal.user_id, "user_id": other.id, "up_to": up_to}
        after_commit(session, lambda: (live(other.id, frame), live(principal.user_id, frame)))
    return {"marked": changed}


# ---------------------------------------------------------------- blocking


def block(*, session: Session, principal: Principal, users: UserDirectory, other_id: int) -> dict[str, Any]:
    """Block someone: no messages either way, no friend requests or mentions from them; a pending request
    between you is withdrawn (an accepted friendship stays until either removes it)."""
    other = _other(session, users, principal, other_id)
    repo.add_block(session, principal.user_id, other.id)
    row = repo.friendship_between(session, principal.user_id, other.id)
    if row is not None and row.status == "pending":
        repo.delete_friendship_row(session, row.id, only_status="pending")
    return {"user_id": other.id, "blocked": True}


def unblock(*, session: Session, principal: Principal, other_id: int) -> dict[str, Any]:
    """Lift a block (idempotent)."""
    repo.remove_block(session, principal.user_id, other_id)
    return {"user_id": other_id, "blocked": False}


def blocked(*, session: Session, principal: Principal) -> dict[str, Any]:
    """The people the caller blocks."""
    ids = repo.blocked_ids(session, principal.user_id)
    known = repo.users_by_ids(session, ids)
    return {"users": [_user(known.get(i), i) for i in ids], "total": len(ids)}
