"""Domain logic of comments, friends, the feed and chat storage (plain functions, keyword-only session)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.auth import Principal
from shared.copies import SnapshotPage
from shared.db import after_commit, iso
from shared.events import (
    CommentCreatedV1,
    CommentDeletedV1,
    FriendshipAcceptedV1,
    FriendshipRemovedV1,
    FriendshipRequestedV1,
)
from shared.outbox import emit
from shared.users import UserDirectory, ensure_live_user
from social import repository as repo
from social.clients import MediaClient, ShowAccess, ShowsClient
from social.exceptions import (
    CommentNotFound,
    FriendshipConflict,
    FriendshipNotFound,
    InvalidInput,
    NotAllowed,
    PhotoNotFound,
    ShowNotFound,
    UserNotFound,
)
from social.models import Comment, Friendship, User
from social.schemas import CommentCreate, FriendRequestCreate

MENTION_RE = re.compile(r"(?<![\w@])@([A-Za-z0-9_.\-]{2,64})")
SEARCH_LIMIT = 20


def _user_json(user: User | None, fallback_id: int | None = None) -> dict[str, Any] | None:
    if user is None:
        return {"id": fallback_id, "username": "deleted user"} if fallback_id is not None else None
    return {"id": user.id, "username": user.username}


def apply_user_item(session: Session, item: dict[str, Any]) -> bool:
    """Apply one item of auth's user snapshot (or a user event's facts) to the copy."""
    return repo.apply_user(session, user_id=int(item["user_id"]), username=str(item.get("username") or ""),
                           email=item.get("email"), version=int(item["version"]), deleted=bool(item.get("deleted")))


def ensure_user(*, session: Session, principal: Principal, users: UserDirectory) -> User:
    """The caller's live user copy (asked of auth if the event has not arrived yet); 401 for a deleted account."""
    user: User = ensure_live_user(session, principal.user_id, get=repo.get_user, apply=apply_user_item,
                                  directory=users)
    return user


# ---------------------------------------------------------------- comments


def mention_candidates(text: str) -> list[str]:
    """`@name` tokens of a text, in order (trailing punctuation kept; resolution strips it)."""
    return [m.group(1) for m in MENTION_RE.finditer(text)]


def resolve_mentions(text: str, known: dict[str, User]) -> list[dict[str, Any]]:
    """Mentions of a text that name known users (`known` is keyed by lower-cased username)."""
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    for cand in mention_candidates(text):
        user = known.get(cand.lower()) or known.get(cand.rstrip(".-").lower())
        if user is not None and user.id not in seen:
            seen.add(user.id)
            out.append({"username": user.username, "user_id": user.id})
    return out


def mention_names(texts: Iterable[str]) -> set[str]:
    """The usernames `@mentions` in these texts may name (each with and without trailing punctuation)."""
    return {n for text in texts for cand in mention_candidates(text) for n in (cand, cand.rstrip(".-"))}


def comment_json(c: Any, author: Any, known: dict[str, Any]) -> dict[str, Any]:
    """A comment as API JSON: `c` an ORM comment or a row of its columns, `author` its live user copy (id,
    username) or None, `known` the mentionable users by lower-cased username."""
    return {
        "id": c.id,
        "show_id": c.show_id,
        "photo_id": c.photo_id,
        "user": _user_json(author if c.user_id else None, c.user_id),
        "text": c.text,
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
        "mentions": resolve_mentions(c.text, known),
    }


def serialize_comments(*, session: Session, comments: Sequence[Comment]) -> list[dict[str, Any]]:
    """Comments as API JSON, authors and mentions resolved in two queries."""
    authors = repo.users_by_ids(session, (c.user_id for c in comments if c.user_id is not None))
    known = repo.users_by_usernames(session, mention_names(c.text for c in comments))
    return [comment_json(c, authors.get(c.user_id), known) for c in comments]


def viewable(shows: ShowsClient, show_id: int, user_id: int, session: Session | None = None) -> ShowAccess:
    """shows' answer for a show the user may see (friendship as social knows it now); ShowNotFound otherwise."""
    access = shows.access(show_id, user_id, session=session)
    if not access.can_view:
        raise ShowNotFound()
    return access


def create_comment(*, session: Session, shows: ShowsClient, media: MediaClient, users: UserDirectory,
                   principal: Principal, data: CommentCreate) -> dict[str, Any]:
    """Post a comment on a show or a photo the caller may see."""
    show_id = data.show_id
    if data.photo_id is not None:
        photo = media.photo(data.photo_id)
        if show_id is not None and show_id != photo.show_id:
            raise InvalidInput("The photo does not belong to that show.", field="photo_id")
        show_id = photo.show_id
        try:
            viewable(shows, show_id, principal.user_id, session)
        except ShowNotFound:
            raise PhotoNotFound() from None
    else:
        assert show_id is not None
        viewable(shows, show_id, principal.user_id, session)
    author = ensure_user(session=session, principal=principal, users=users)
    # lock the show's copy: if show.deleted is being applied right now, one of us sees the other's result
    # (the deletion removes this comment, or this call finds the tombstone), never an orphaned comment
    if repo.lock_show_ref(session, show_id).deleted:
        raise PhotoNotFound() if data.photo_id is not None else ShowNotFound()
    comment = repo.add_comment(session, show_id=show_id, photo_id=data.photo_id, user_id=principal.user_id,
                               text=data.text)
    emit(session, CommentCreatedV1(comment_id=comment.id, show_id=show_id, photo_id=comment.photo_id,
                                   user_id=principal.user_id))
    # its author is the caller's live copy just checked: only mentions are looked up (when it has any)
    return comment_json(comment, author, repo.users_by_usernames(session, mention_names([comment.text])))


def _comment_for_writer(session: Session, shows: ShowsClient, comment_id: int, user_id: int) -> Comment:
    comment = repo.get_comment(session, comment_id)
    if comment is None:
        raise CommentNotFound()
    try:
        viewable(shows, comment.show_id, user_id, session)
    except ShowNotFound:
        raise CommentNotFound() from None
    return comment


def update_comment(*, session: Session, shows: ShowsClient, principal: Principal, comment_id: int,
                   text: str) -> dict[str, Any]:
    """Edit a comment's text (author only)."""
    comment = _comment_for_writer(session, shows, comment_id, principal.user_id)
    if comment.user_id != principal.user_id:
        raise NotAllowed("Only the author can edit a comment.")
    from shared.db import utcnow

    comment.text = text
    comment.updated_at = utcnow()
    session.flush()
    return serialize_comments(session=session, comments=[comment])[0]


def delete_comment(*, session: Session, shows: ShowsClient, principal: Principal, comment_id: int) -> None:
    """Remove a comment (its author or the show's owner)."""
    comment = repo.get_comment(session, comment_id)
    if comment is None:
        raise CommentNotFound()
    if comment.user_id != principal.user_id:
        try:
            access = viewable(shows, comment.show_id, principal.user_id, session)
        except ShowNotFound:
            raise CommentNotFound() from None
        if access.owner_id != principal.user_id:
            raise NotAllowed("Only the author or the show's owner can delete a comment.")
    emit(session, CommentDeletedV1(comment_id=comment.id, show_id=comment.show_id, photo_id=comment.photo_id,
                                   user_id=comment.user_id or 0))
    repo.delete_comment(session, comment)


def list_show_comments(*, session: Session, shows: ShowsClient, principal: Principal, show_id: int, limit: int,
                       offset: int) -> dict[str, Any]:
    """Show-level comments of a show the caller may see, oldest first."""
    viewable(shows, show_id, principal.user_id, session)
    rows, total = repo.comments_of(session, show_id=show_id, limit=limit, offset=offset)
    return {"comments": serialize_comments(session=session, comments=rows), "total": total}


def list_photo_comments(*, session: Session, shows: ShowsClient, media: MediaClient, principal: Principal,
                        photo_id: int, limit: int, offset: int) -> dict[str, Any]:
    """Comments of a photo on a show the caller may see, oldest first."""
    known = repo.first_comment_on_photo(session, photo_id)
    show_id = known.show_id if known is not None else media.photo(photo_id).show_id
    try:
        viewable(shows, show_id, principal.user_id, session)
    except ShowNotFound:
        raise PhotoNotFound() from None
    rows, total = repo.comments_of(session, photo_id=photo_id, limit=limit, offset=offset)
    return {"comments": serialize_comments(session=session, comments=rows), "total": total}


def recent_comments(*, session: Session, user_id: int, limit: int) -> dict[str, Any]:
    """The caller's latest comments with their show's name (dashboard)."""
    rows, total = repo.recent_comments_of_user(session, user_id, limit)
    refs = repo.show_refs(session, (c.show_id for c in rows))
    items = []
    for c in rows:
        ref = refs.get(c.show_id)
        items.append({
            "id": c.id, "show_id": c.show_id, "photo_id": c.photo_id, "text": c.text, "content": c.text,
            "created_at": iso(c.created_at), "show_name": ref.show_name if ref else "",
        })
    return {"comments": items, "total": total}


# ---------------------------------------------------------------- friends


def status_for(row: Friendship | None, user_id: int) -> str:
    """The caller's relation to the other party of a row."""
    if row is None:
        return "none"
    if row.status == "accepted":
        return "accepted"
    return "pending_outgoing" if row.user_id == user_id else "pending_incoming"


def serialize_friendship(row: Friendship, viewer_id: int, other: User | None) -> dict[str, Any]:
    """A friendship as API JSON; `friend` is the party who is not the viewer."""
    other_id = row.friend_id if row.user_id == viewer_id else row.user_id
    return {
        "id": row.id,
        "user_id": row.user_id,
        "friend_id": row.friend_id,
        "status": row.status,
        "created_at": iso(row.created_at),
        "friend": _user_json(other, other_id),
    }


def _serialize_rows(session: Session, rows: Sequence[Friendship], viewer_id: int) -> list[dict[str, Any]]:
    others = repo.users_by_ids(session, ((r.friend_id if r.user_id == viewer_id else r.user_id) for r in rows))
    return [
        serialize_friendship(r, viewer_id, others.get(r.friend_id if r.user_id == viewer_id else r.user_id))
        for r in rows
    ]


def search_users(*, session: Session, principal: Principal, query: str) -> dict[str, Any]:
    """Users by username prefix, or by exact email among those who opted in, with the caller's relation.

    An email search answers the same for an unknown address and for someone who did not opt in, so it
    never tells whether an address has an account; emails are never returned.
    """
    q = query.strip()
    if q.startswith("@") and q.count("@") == 1:
        q = q[1:]  # "@name" is a username, as in mentions
    if len(q) < 2:
        raise InvalidInput("Search needs at least 2 characters.", field="q")
    if "@" in q:
        users = repo.search_users(session, prefix=None, email=q, exclude_id=principal.user_id, limit=SEARCH_LIMIT)
    else:
        users = repo.search_users(session, prefix=q, email=None, exclude_id=principal.user_id, limit=SEARCH_LIMIT)
    rel = repo.relations_with(session, principal.user_id, [u.id for u in users])
    out = [
        {"id": u.id, "username": u.username, "friendship_status": status_for(rel.get(u.id), principal.user_id)}
        for u in users
    ]
    return {"users": out, "total": len(out)}


def _find_user(session: Session, users: UserDirectory, *, user_id: int | None, username: str) -> User | None:
    """A live user by id or username: the copy, else auth (a brand-new account's event may be on its way)."""
    user = repo.get_user(session, user_id) if user_id is not None else repo.user_by_username(session, username)
    if user is None:
        for item in users.fetch([user_id]) if user_id is not None else users.find_username(username):
            apply_user_item(session, item)
        user = repo.get_user(session, user_id) if user_id is not None else repo.user_by_username(session, username)
    return user if user is not None and not user.deleted else None


def search_settings(*, session: Session, user_id: int) -> dict[str, bool]:
    """The caller's search setting (email search is off until they opt in)."""
    row = repo.get_search_setting(session, user_id)
    return {"findable_by_email": bool(row is not None and row.findable_by_email)}


def update_search_settings(*, session: Session, user_id: int, findable_by_email: bool) -> dict[str, bool]:
    """Opt in to (or out of) being found by one's exact email."""
    row = repo.set_search_setting(session, user_id, findable_by_email=findable_by_email)
    return {"findable_by_email": row.findable_by_email}


def _accept(session: Session, row: Friendship) -> bool:
    """Compare-and-set a pending row to accepted; emit the event only when this call changed it."""
    changed = repo.accept_if_pending(session, row.id)
    if changed:
        version = repo.bump_pair(session, row.user_id, row.friend_id, accepted=True)
        emit(session, FriendshipAcceptedV1(user_id=row.user_id, friend_id=row.friend_id, aggregate_version=version))
    session.refresh(row)
    return changed


def emit_removed(session: Session, user_id: int, friend_id: int) -> None:
    """A friendship ended: the pair's next version, and the event that carries it."""
    version = repo.bump_pair(session, user_id, friend_id, accepted=False)
    emit(session, FriendshipRemovedV1(user_id=user_id, friend_id=friend_id, aggregate_version=version))


def request_friend(*, session: Session, principal: Principal, users: UserDirectory,
                   data: FriendRequestCreate) -> tuple[dict[str, Any], int]:
    """Send a friend request; returns (friendship JSON, HTTP status)."""
    me = principal.user_id
    if data.friend_id is not None and data.friend_id == me:
        raise InvalidInput("You cannot befriend yourself.", field="friend_id")
    target = _find_user(session, users, user_id=data.friend_id, username=(data.username or "").strip())
    if target is not None and target.id == me:
        raise InvalidInput("You cannot befriend yourself.", field="username")
    if target is None or repo.is_blocked(session, target.id, me):
        raise UserNotFound()  # someone who blocked you is as if not there
    if repo.is_blocked(session, me, target.id):
        raise NotAllowed("You blocked this person; unblock them first.")
    ensure_user(session=session, principal=principal, users=users)
    existing = repo.friendship_between(session, me, target.id)
    if existing is None:
        try:
            with session.begin_nested():
                row = repo.add_friend_request(session, me, target.id)
            emit(session, FriendshipRequestedV1(friendship_id=row.id, user_id=me, friend_id=target.id))
            return serialize_friendship(row, me, target), 201
        except IntegrityError:  # a concurrent request for the same pair won
            existing = repo.friendship_between(session, me, target.id)
            if existing is None:
                raise
    if existing.status == "pending" and existing.friend_id == me:
        # they already asked me: my request is an acceptance
        changed = _accept(session, existing)
        return serialize_friendship(existing, me, target), 201 if changed else 200
    return serialize_friendship(existing, me, target), 200


def _row_for(session: Session, friendship_id: int, user_id: int) -> Friendship:
    row = repo.get_friendship(session, friendship_id)
    if row is None or user_id not in (row.user_id, row.friend_id):
        raise FriendshipNotFound()
    return row


def accept_request(*, session: Session, principal: Principal, friendship_id: int) -> dict[str, Any]:
    """Accept a pending request addressed to the caller (idempotent; emits once)."""
    row = _row_for(session, friendship_id, principal.user_id)
    if row.friend_id != principal.user_id:
        raise NotAllowed("Only the recipient can accept a friend request.")
    _accept(session, row)
    return _serialize_rows(session, [row], principal.user_id)[0]


def reject_request(*, session: Session, principal: Principal, friendship_id: int) -> dict[str, str]:
    """Reject (delete) a pending request addressed to the caller."""
    row = _row_for(session, friendship_id, principal.user_id)
    if row.friend_id != principal.user_id:
        raise NotAllowed("Only the recipient can reject a friend request.")
    if row.status != "pending":
        raise FriendshipConflict("This request was already accepted; remove the friend instead.")
    if repo.delete_friendship_row(session, row.id, only_status="pending") is None:
        raise FriendshipConflict("This request was already accepted; remove the friend instead.")
    return {"message": "Friend request rejected"}


def remove_friendship(*, session: Session, principal: Principal, friendship_id: int,
                      on_removed: Callable[[list[int]], None] | None = None) -> None:
    """Remove a friend or cancel/decline a pending request (either party).

    `on_removed([a, b])` runs once an ended friendship is committed (live chat sockets re-check).
    """
    row = _row_for(session, friendship_id, principal.user_id)
    user_id, friend_id = row.user_id, row.friend_id
    if repo.delete_friendship_row(session, row.id) == "accepted":
        emit_removed(session, user_id, friend_id)
        if on_removed is not None:
            after_commit(session, lambda: on_removed([user_id, friend_id]))


def friendships_snapshot(*, session: Session, after: str | None, limit: int, since: datetime | None) -> SnapshotPage:
    """A page of every pair's friendship state and version (`after` is the last page's "low:high")."""
    low, high = (int(p) for p in after.split(":")) if after else (0, 0)
    rows = repo.pairs_snapshot(session, after=(low, high), limit=limit, since=since)
    items = [{"user_a": r.user_low, "user_b": r.user_high, "accepted": r.accepted, "version": r.version}
             for r in rows]
    next_after = f"{rows[-1].user_low}:{rows[-1].user_high}" if len(rows) == limit else None
    return SnapshotPage(items, next_after)


def list_friends(*, session: Session, principal: Principal) -> dict[str, Any]:
    """The caller's accepted friendships."""
    rows = repo.friendships_of(session, principal.user_id, status="accepted")
    return {"friends": _serialize_rows(session, rows, principal.user_id), "total": len(rows)}


def list_requests(*, session: Session, principal: Principal, direction: str) -> dict[str, Any]:
    """Pending requests to (incoming) or from (outgoing) the caller."""
    rows = repo.friendships_of(session, principal.user_id, status="pending", direction=direction)
    return {"friends": _serialize_rows(session, rows, principal.user_id), "total": len(rows)}


def friend_ids(*, session: Session, user_id: int) -> list[int]:
    """Ids of a user's accepted friends."""
    return repo.friend_ids(session, user_id)


# ---------------------------------------------------------------- feed


def feed(*, session: Session, principal: Principal, limit: int, offset: int) -> dict[str, Any]:
    """Recent shows and media of the caller's friends that the caller may see, newest first."""
    friends = repo.friend_ids(session, principal.user_id)
    rows, total = repo.feed_page(session, principal.user_id, friends, limit, offset)
    users = repo.users_by_ids(session, (item.owner_id for item, _ in rows))
    items = []
    for item, ref in rows:
        entry: dict[str, Any] = {
            "type": item.kind,
            "created_at": iso(item.created_at),
            "user": _user_json(users.get(item.owner_id), item.owner_id),
            "show_id": item.show_id,
            "show_name": ref.show_name,
            "date": ref.show_date.isoformat() if ref.show_date else None,
        }
        if item.kind == "media":
            entry["media"] = {"id": item.media_id, "kind": item.media_kind or "", "thumbnail_url": item.thumbnail_url}
        items.append(entry)
    return {"items": items, "total": total}
