"""Every query of the social service; flushes, never commits."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select, true, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from shared import visibility
from shared.copies import apply_if_newer, lock_copy
from shared.db import bound, bound_values, dialect_insert, insert_for, utcnow
from social.models import (
    Block,
    ChatMessage,
    CheckinRef,
    Comment,
    DigestState,
    DirectMessage,
    FeedItem,
    FriendLocation,
    FriendPair,
    Friendship,
    Notification,
    NotificationPref,
    PresenceSetting,
    ProfileSetting,
    PushSubscription,
    SearchSetting,
    ShareLink,
    ShowAudience,
    ShowRef,
    User,
)

# ---------------------------------------------------------------- users


def get_user(session: Session, user_id: int) -> User | None:
    """The copy of a user (a tombstone too: check `deleted`)."""
    return session.get(User, user_id)


def users_by_ids(session: Session, ids: Iterable[int]) -> dict[int, User]:
    """Live local users by id."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(wanted), User.deleted.is_(False)))}


def user_by_username(session: Session, username: str) -> User | None:
    """A live local user by username (case-insensitive)."""
    stmt = select(User).where(User.username_lower == username.lower(), User.deleted.is_(False)).limit(1)
    return session.scalars(stmt).first()


def users_by_usernames(session: Session, names: Iterable[str]) -> dict[str, User]:
    """Live local users keyed by lower-cased username."""
    lowered = {n.lower() for n in names}
    if not lowered:
        return {}
    stmt = select(User).where(User.username_lower.in_(lowered), User.deleted.is_(False))
    return {u.username_lower: u for u in session.scalars(stmt)}


def apply_user(session: Session, *, user_id: int, username: str, email: str | None, version: int,
               deleted: bool) -> bool:
    """Write auth's user at `version` if newer than the copy (a deletion leaves a tombstone without data)."""
    name = "" if deleted else username[:64]
    values = {"username": name, "username_lower": name.lower(), "deleted": deleted,
              "email_lower": None if deleted or not email else email.lower()[:320]}
    return apply_if_newer(session, User, {"id": user_id}, version, values)


def search_users(session: Session, *, prefix: str | None, email: str | None, exclude_id: int,
                 limit: int = 20) -> Sequence[User]:
    """Users whose username starts with `prefix` (case-insensitive) or whose email is exactly `email`."""
    conds = []
    if prefix:
        escaped = prefix.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conds.append(User.username_lower.like(f"{escaped}%", escape="\\"))
    if email:
        # only people who opted in: for everyone else an email search answers as for an unknown address
        findable = select(SearchSetting.user_id).where(SearchSetting.findable_by_email.is_(True))
        conds.append(and_(User.email_lower == email.lower(), User.id.in_(findable)))
    if not conds:
        return []
    stmt = (
        select(User)
        .where(or_(*conds), User.id != exclude_id, User.deleted.is_(False))
        .order_by(func.length(User.username_lower), User.username_lower)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def delete_search_setting(session: Session, user_id: int) -> None:
    """Forget a (deleted) user's search setting."""
    session.execute(delete(SearchSetting).where(SearchSetting.user_id == user_id))


def get_search_setting(session: Session, user_id: int) -> SearchSetting | None:
    """A user's search setting (None: the defaults)."""
    return session.get(SearchSetting, user_id)


def set_search_setting(session: Session, user_id: int, *, findable_by_email: bool) -> SearchSetting:
    """Create or change a user's search setting."""
    row = session.get(SearchSetting, user_id)
    if row is None:
        row = SearchSetting(user_id=user_id, findable_by_email=findable_by_email, updated_at=utcnow())
        session.add(row)
    else:
        row.findable_by_email, row.updated_at = findable_by_email, utcnow()
    session.flush()
    return row


# ---------------------------------------------------------------- shows (local copies)


def get_show_ref(session: Session, show_id: int) -> ShowRef | None:
    """The local copy of a live show (None for unknown, placeholder or deleted shows)."""
    ref = session.get(ShowRef, show_id)
    return ref if ref is not None and ref.version > 0 and not ref.deleted else None


def show_refs(session: Session, show_ids: Iterable[int]) -> dict[int, ShowRef]:
    """Local copies of live shows by id."""
    wanted = set(show_ids)
    if not wanted:
        return {}
    stmt = select(ShowRef).where(ShowRef.show_id.in_(wanted), ShowRef.deleted.is_(False))
    return {s.show_id: s for s in session.scalars(stmt)}


def apply_show(session: Session, *, show_id: int, version: int, deleted: bool, concert_id: int, owner_id: int,
               visibility: str, visible_to: list[int] | None, show_name: str, show_date: date | None) -> bool:
    """Write shows' facts of a show at `version` if newer than the copy (and its audience with it)."""
    values = {
        "concert_id": concert_id,
        "owner_id": owner_id,
        "visibility": visibility,
        "restricted": visible_to is not None,
        "show_name": show_name[:512],
        "show_date": show_date,
        "deleted": deleted,
    }
    changed = apply_if_newer(session, ShowRef, {"show_id": show_id}, version, values)
    if changed:
        set_audience(session, show_id, None if deleted else visible_to)
    return changed


def lock_show_ref(session: Session, show_id: int) -> ShowRef:
    """A show's copy row, write-locked until commit (a placeholder if not heard of yet): see shared.copies."""
    placeholder = {"concert_id": 0, "owner_id": 0, "visibility": "private", "restricted": False, "show_name": "",
                   "show_date": None, "deleted": False, "created_at": utcnow()}
    return lock_copy(session, ShowRef, {"show_id": show_id}, placeholder)  # type: ignore[no-any-return]


def set_audience(session: Session, show_id: int, user_ids: Iterable[int] | None) -> None:
    """Replace a show's visible_to list."""
    session.execute(delete(ShowAudience).where(ShowAudience.show_id == show_id))
    for uid in sorted(set(user_ids or ())):
        session.add(ShowAudience(show_id=show_id, user_id=uid))
    session.flush()


def concert_has_shows(session: Session, concert_id: int) -> bool:
    """Whether any known live show belongs to the concert."""
    cond = and_(ShowRef.concert_id == concert_id, ShowRef.deleted.is_(False), ShowRef.version > 0)
    return session.scalar(select(exists().where(cond))) or False


def show_ids_of_owner(session: Session, owner_id: int) -> list[int]:
    """Ids of the live shows a user owns (local copies)."""
    stmt = select(ShowRef.show_id).where(ShowRef.owner_id == owner_id, ShowRef.deleted.is_(False))
    return list(session.scalars(stmt))


# ---------------------------------------------------------------- feed


def upsert_feed_item(session: Session, *, kind: str, show_id: int, media_id: int, owner_id: int,
                     media_kind: str | None, thumbnail_url: str | None, url: str | None,
                     created_at: datetime) -> None:
    """Add a feed item once (re-delivered events update its owner and links): one statement."""
    row = {"kind": kind, "show_id": show_id, "media_id": media_id, "owner_id": owner_id, "media_kind": media_kind,
           "thumbnail_url": thumbnail_url, "url": url, "created_at": created_at}
    session.execute(_feed_upsert(session.get_bind().dialect.name), bound(row))


@functools.cache
def _feed_upsert(dialect: str) -> Any:
    # built once per dialect: building an upsert (its `excluded` alias) costs more than running it
    table = FeedItem.__table__
    stmt = insert_for(dialect, table).values(bound_values(table, (
        "kind", "show_id", "media_id", "owner_id", "media_kind", "thumbnail_url", "url", "created_at")))
    return stmt.on_conflict_do_update(index_elements=["kind", "show_id", "media_id"],
                                      set_={c: stmt.excluded[c] for c in ("owner_id", "thumbnail_url", "url")})


def delete_feed_items(session: Session, *, show_id: int | None = None, media_id: int | None = None,
                      owner_id: int | None = None) -> None:
    """Remove feed items of a show, a media item or a user."""
    stmt = delete(FeedItem)
    if show_id is not None:
        stmt = stmt.where(FeedItem.show_id == show_id)
    if media_id is not None:
        stmt = stmt.where(FeedItem.kind == "media", FeedItem.media_id == media_id)
    if owner_id is not None:
        stmt = stmt.where(FeedItem.owner_id == owner_id)
    session.execute(stmt)


def _feed_filter(viewer_id: int, friend_ids: list[int]) -> ColumnElement[bool]:
    # the item is a friend's, and the viewer may see its live show (shared.visibility: shows' own rule)
    visible_show = visibility.visible_condition(
        viewer_id=viewer_id,
        owner=ShowRef.owner_id,
        visibility=ShowRef.visibility,
        restricted=ShowRef.restricted,
        in_audience=exists().where(ShowAudience.show_id == ShowRef.show_id, ShowAudience.user_id == viewer_id),
        are_friends=ShowRef.owner_id.in_(friend_ids),
    )
    return and_(FeedItem.owner_id.in_(friend_ids), ShowRef.deleted.is_(False), ShowRef.version > 0, visible_show)


def feed_page(session: Session, viewer_id: int, friend_ids: list[int], limit: int,
              offset: int) -> tuple[list[tuple[FeedItem, ShowRef]], int]:
    """Friends' feed items the viewer may see, newest first, and their total."""
    if not friend_ids:
        return [], 0
    cond = _feed_filter(viewer_id, friend_ids)
    base = select(FeedItem, ShowRef).join(ShowRef, ShowRef.show_id == FeedItem.show_id).where(cond)
    total = session.scalar(
        select(func.count()).select_from(FeedItem).join(ShowRef, ShowRef.show_id == FeedItem.show_id).where(cond)
    ) or 0
    rows = session.execute(base.order_by(FeedItem.created_at.desc(), FeedItem.id.desc()).limit(limit).offset(offset))
    return [(r[0], r[1]) for r in rows], int(total)


# ---------------------------------------------------------------- comments


def add_comment(session: Session, *, show_id: int, photo_id: int | None, user_id: int, text: str) -> Comment:
    """Store a comment."""
    comment = Comment(show_id=show_id, photo_id=photo_id, user_id=user_id, text=text, created_at=utcnow())
    session.add(comment)
    session.flush()
    return comment


def get_comment(session: Session, comment_id: int) -> Comment | None:
    """A comment by id."""
    return session.get(Comment, comment_id)


def comments_of(session: Session, *, show_id: int | None = None, photo_id: int | None = None,
                limit: int, offset: int) -> tuple[list[Comment], int]:
    """Comments of a show (show-level only) or of a photo, oldest first, and their total."""
    if photo_id is not None:
        cond = Comment.photo_id == photo_id
    else:
        cond = and_(Comment.show_id == show_id, Comment.photo_id.is_(None))
    total = session.scalar(select(func.count()).select_from(Comment).where(cond)) or 0
    rows = session.scalars(select(Comment).where(cond).order_by(Comment.id).limit(limit).offset(offset))
    return list(rows), int(total)


def first_comment_on_photo(session: Session, photo_id: int) -> Comment | None:
    """Any comment on a photo (gives the photo's show without asking media)."""
    return session.scalars(select(Comment).where(Comment.photo_id == photo_id).limit(1)).first()


def recent_comments_of_user(session: Session, user_id: int, limit: int) -> tuple[list[Comment], int]:
    """A user's comments, newest first, and their total."""
    total = session.scalar(select(func.count()).select_from(Comment).where(Comment.user_id == user_id)) or 0
    rows = session.scalars(
        select(Comment).where(Comment.user_id == user_id).order_by(Comment.id.desc()).limit(limit)
    )
    return list(rows), int(total)


def delete_comment(session: Session, comment: Comment) -> None:
    """Remove a comment."""
    session.delete(comment)
    session.flush()


def delete_comments(session: Session, *, show_id: int | None = None, photo_id: int | None = None,
                    user_id: int | None = None) -> list[Comment]:
    """Remove comments of a show, a photo or a user; returns what was removed."""
    stmt = select(Comment)
    if show_id is not None:
        stmt = stmt.where(Comment.show_id == show_id)
    if photo_id is not None:
        stmt = stmt.where(Comment.photo_id == photo_id)
    if user_id is not None:
        stmt = stmt.where(Comment.user_id == user_id)
    rows = list(session.scalars(stmt))
    for c in rows:
        session.delete(c)
    session.flush()
    return rows


# ---------------------------------------------------------------- friendships


def pair(a: int, b: int) -> tuple[int, int]:
    """The ordered (low, high) key of an unordered pair."""
    return (a, b) if a < b else (b, a)


def get_friendship(session: Session, friendship_id: int) -> Friendship | None:
    """A friendship or request by id."""
    return session.get(Friendship, friendship_id)


def friendship_between(session: Session, a: int, b: int) -> Friendship | None:
    """The row linking two users, whichever asked."""
    low, high = pair(a, b)
    return session.scalars(
        select(Friendship).where(Friendship.user_low == low, Friendship.user_high == high)
    ).first()


def add_friend_request(session: Session, requester_id: int, recipient_id: int) -> Friendship:
    """Insert a pending request (flush raises IntegrityError if the pair exists)."""
    low, high = pair(requester_id, recipient_id)
    row = Friendship(user_id=requester_id, friend_id=recipient_id, user_low=low, user_high=high,
                     status="pending", created_at=utcnow())
    session.add(row)
    session.flush()
    return row


def accept_if_pending(session: Session, friendship_id: int) -> bool:
    """Compare-and-set pending → accepted; True only for the caller that made the change."""
    result = session.execute(
        update(Friendship)
        .where(Friendship.id == friendship_id, Friendship.status == "pending")
        .values(status="accepted", updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def delete_friendship_row(session: Session, friendship_id: int, *, only_status: str | None = None) -> str | None:
    """Delete a row (optionally only in a given status); the status it had if this call removed it.

    The status comes from the deleted row itself (RETURNING), not from an earlier read: an accept that
    commits between the two must still count as a friendship removed.
    """
    stmt = delete(Friendship).where(Friendship.id == friendship_id)
    if only_status is not None:
        stmt = stmt.where(Friendship.status == only_status)
    row = session.execute(stmt.returning(Friendship.status).execution_options(synchronize_session=False)).first()
    return str(row[0]) if row is not None else None


def bump_pair(session: Session, a: int, b: int, *, accepted: bool) -> int:
    """Record a pair's new state and return its next version (one statement: concurrent changes serialise)."""
    low, high = pair(a, b)
    table = FriendPair.__table__
    stmt = dialect_insert(session, table).values(user_low=low, user_high=high, version=1, accepted=accepted,
                                                 updated_at=utcnow())
    stmt = stmt.on_conflict_do_update(
        index_elements=["user_low", "user_high"],
        set_={"version": table.c.version + 1, "accepted": stmt.excluded.accepted,
              "updated_at": stmt.excluded.updated_at},
    ).returning(table.c.version)
    return int(session.execute(stmt).scalar_one())


def pairs_snapshot(session: Session, *, after: tuple[int, int], limit: int,
                   since: datetime | None) -> list[FriendPair]:
    """Every pair's state and version after `after` (low, high), in key order."""
    low, high = after
    stmt = select(FriendPair).where(
        or_(FriendPair.user_low > low, and_(FriendPair.user_low == low, FriendPair.user_high > high))
    )
    if since is not None:
        stmt = stmt.where(FriendPair.updated_at >= since)
    return list(session.scalars(stmt.order_by(FriendPair.user_low, FriendPair.user_high).limit(limit)))


def friendships_of(session: Session, user_id: int, *, status: str, direction: str | None = None) -> list[Friendship]:
    """A user's rows in a status; `direction` incoming/outgoing for pending requests."""
    stmt = select(Friendship).where(Friendship.status == status)
    if direction == "incoming":
        stmt = stmt.where(Friendship.friend_id == user_id)
    elif direction == "outgoing":
        stmt = stmt.where(Friendship.user_id == user_id)
    else:
        stmt = stmt.where(or_(Friendship.user_id == user_id, Friendship.friend_id == user_id))
    return list(session.scalars(stmt.order_by(Friendship.id)))


def friend_ids(session: Session, user_id: int) -> list[int]:
    """Ids of a user's accepted friends."""
    rows = session.execute(
        select(Friendship.user_id, Friendship.friend_id).where(
            Friendship.status == "accepted", or_(Friendship.user_id == user_id, Friendship.friend_id == user_id)
        )
    )
    return sorted({b if a == user_id else a for a, b in rows})


def relations_with(session: Session, user_id: int, others: Iterable[int]) -> dict[int, Friendship]:
    """The caller's rows with each of `others`, keyed by the other user's id."""
    ids = list(others)
    if not ids:
        return {}
    rows = session.scalars(
        select(Friendship).where(
            or_(
                and_(Friendship.user_id == user_id, Friendship.friend_id.in_(ids)),
                and_(Friendship.friend_id == user_id, Friendship.user_id.in_(ids)),
            )
        )
    )
    return {(r.friend_id if r.user_id == user_id else r.user_id): r for r in rows}


def delete_friendships_of(session: Session, user_id: int) -> list[Friendship]:
    """Remove every row of a user; returns them."""
    rows = friendships_of(session, user_id, status="accepted") + friendships_of(session, user_id, status="pending")
    for r in rows:
        session.delete(r)
    session.flush()
    return rows


# ---------------------------------------------------------------- chat


def add_chat_message(session: Session, *, concert_id: int, user_id: int, username: str, message: str) -> ChatMessage:
    """Store a chat message."""
    row = ChatMessage(concert_id=concert_id, user_id=user_id, username=username, message=message,
                      created_at=utcnow())
    session.add(row)
    session.flush()
    return row


def chat_page(session: Session, concert_id: int, *, before: int | None, limit: int) -> tuple[list[ChatMessage], bool]:
    """Up to `limit` messages older than `before`, oldest first, and whether older ones exist."""
    stmt = select(ChatMessage).where(ChatMessage.concert_id == concert_id)
    if before is not None:
        stmt = stmt.where(ChatMessage.id < before)
    rows = list(session.scalars(stmt.order_by(ChatMessage.id.desc()).limit(limit + 1)))
    has_more = len(rows) > limit
    rows = rows[:limit]
    rows.reverse()
    return rows, has_more


def chat_after(session: Session, concert_id: int, after: int, limit: int) -> list[ChatMessage]:
    """Messages newer than `after`, oldest first (reconnect replay)."""
    stmt = (
        select(ChatMessage)
        .where(ChatMessage.concert_id == concert_id, ChatMessage.id > after)
        .order_by(ChatMessage.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def delete_chat(session: Session, *, concert_id: int | None = None, user_id: int | None = None) -> int:
    """Remove a concert's chat or a user's messages; returns how many."""
    stmt = delete(ChatMessage)
    if concert_id is not None:
        stmt = stmt.where(ChatMessage.concert_id == concert_id)
    if user_id is not None:
        stmt = stmt.where(ChatMessage.user_id == user_id)
    result = session.execute(stmt.execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- visibility over the copies


def show_visible_to(session: Session, ref: ShowRef, viewer_id: int) -> bool:
    """The shared rule on the copy of a live show (friendship as social knows it now)."""
    audience = None
    if ref.restricted:
        audience = set(session.scalars(select(ShowAudience.user_id).where(ShowAudience.show_id == ref.show_id)))
    row = friendship_between(session, ref.owner_id, viewer_id) if ref.owner_id != viewer_id else None
    return visibility.can_view(owner_id=ref.owner_id, visibility=ref.visibility, audience=audience,
                               viewer_id=viewer_id, are_friends=row is not None and row.status == "accepted")


def _visible_show_cond(viewer_id: int, friend_ids: list[int]) -> ColumnElement[bool]:
    return and_(
        ShowRef.deleted.is_(False),
        visibility.visible_condition(
            viewer_id=viewer_id, owner=ShowRef.owner_id, visibility=ShowRef.visibility,
            restricted=ShowRef.restricted,
            in_audience=exists().where(ShowAudience.show_id == ShowRef.show_id, ShowAudience.user_id == viewer_id),
            are_friends=ShowRef.owner_id.in_(friend_ids),
        ),
    )


# ---------------------------------------------------------------- notifications


def add_notification(session: Session, *, user_id: int, type: str, dedupe_key: str, actor_id: int | None,
                     show_id: int | None, concert_id: int | None, media_id: int | None,
                     text: str) -> Notification | None:
    """Insert a notification unless one with the same key exists for the recipient; None when it did."""
    values = {"user_id": user_id, "type": type, "dedupe_key": dedupe_key, "actor_id": actor_id,
              "show_id": show_id, "concert_id": concert_id, "media_id": media_id, "text": text[:500],
              "created_at": utcnow()}
    ins = dialect_insert(session, Notification.__table__)
    new_id = session.scalar(
        ins.values(**values).on_conflict_do_nothing(index_elements=["user_id", "dedupe_key"])
        .returning(Notification.id)
    )
    return session.get(Notification, new_id) if new_id is not None else None


def _notification_filter(user_id: int, friend_ids: list[int], blocked: list[int]) -> ColumnElement[bool]:
    # only what the recipient may still see: no show they lost sight of, nobody they blocked
    show_ok = or_(Notification.show_id.is_(None),
                  exists().where(ShowRef.show_id == Notification.show_id, _visible_show_cond(user_id, friend_ids)))
    actor_ok = or_(Notification.actor_id.is_(None), Notification.actor_id.not_in(blocked)) if blocked else true()
    return and_(Notification.user_id == user_id, show_ok, actor_ok)


def notifications_page(session: Session, user_id: int, friend_ids: list[int], blocked: list[int], *,
                       unread: bool | None, limit: int, offset: int) -> tuple[list[Notification], int, int]:
    """A page of a person's visible notifications (newest first), the total and the unread count."""
    cond = _notification_filter(user_id, friend_ids, blocked)
    page_cond = cond
    if unread is True:
        page_cond = and_(cond, Notification.read_at.is_(None))
    elif unread is False:
        page_cond = and_(cond, Notification.read_at.is_not(None))
    total = session.scalar(select(func.count()).select_from(Notification).where(page_cond)) or 0
    unread_n = session.scalar(
        select(func.count()).select_from(Notification).where(cond, Notification.read_at.is_(None))) or 0
    rows = session.scalars(select(Notification).where(page_cond).order_by(Notification.id.desc())
                           .limit(limit).offset(offset))
    return list(rows), int(total), int(unread_n)


def notification_visible(session: Session, n: Notification, friend_ids: list[int], blocked: list[int]) -> bool:
    """Whether one notification passes the listing filter now."""
    cond = and_(Notification.id == n.id, _notification_filter(n.user_id, friend_ids, blocked))
    return session.scalar(select(func.count()).select_from(Notification).where(cond)) == 1


def mark_read(session: Session, user_id: int, ids: list[int] | None) -> int:
    """Mark some (or all, ids None) of a person's unread notifications read; how many changed."""
    cond = and_(Notification.user_id == user_id, Notification.read_at.is_(None))
    if ids is not None:
        cond = and_(cond, Notification.id.in_(ids))
    result = session.execute(update(Notification).where(cond).values(read_at=utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def delete_notifications(session: Session, *, user_id: int | None = None, show_id: int | None = None,
                         actor_id: int | None = None) -> None:
    """Remove notifications of/about a deleted account or show."""
    conds = []
    if user_id is not None:
        conds.append(Notification.user_id == user_id)
    if actor_id is not None:
        conds.append(Notification.actor_id == actor_id)
    if show_id is not None:
        conds.append(Notification.show_id == show_id)
    if conds:
        session.execute(delete(Notification).where(or_(*conds)))


def email_prefs(session: Session, user_id: int) -> dict[str, bool]:
    """A person's stored per-type email choices (types without a row take the default)."""
    rows = session.scalars(select(NotificationPref).where(NotificationPref.user_id == user_id))
    return {r.type: r.email for r in rows}


def set_email_pref(session: Session, user_id: int, type: str, email: bool) -> None:
    """Store one per-type email choice."""
    row = session.get(NotificationPref, (user_id, type))
    if row is None:
        session.add(NotificationPref(user_id=user_id, type=type, email=email))
    else:
        row.email = email
    session.flush()


def digest_candidates(session: Session, limit: int) -> list[int]:
    """People with unread notifications not yet considered for a digest."""
    stmt = (select(Notification.user_id).where(Notification.emailed_at.is_(None), Notification.read_at.is_(None))
            .group_by(Notification.user_id).order_by(Notification.user_id).limit(limit))
    return list(session.scalars(stmt))


def pending_digest(session: Session, user_id: int) -> list[Notification]:
    """A person's unread notifications not yet in a digest, oldest first."""
    stmt = (select(Notification).where(Notification.user_id == user_id, Notification.emailed_at.is_(None),
                                       Notification.read_at.is_(None)).order_by(Notification.id))
    return list(session.scalars(stmt))


def lock_digest_state(session: Session, user_id: int) -> DigestState:
    """The person's digest row, locked for this transaction (created if missing)."""
    row = session.get(DigestState, user_id, with_for_update=True)
    if row is None:
        row = DigestState(user_id=user_id, last_sent_at=None)
        session.add(row)
        session.flush()
    return row


def mark_emailed(session: Session, ids: list[int]) -> None:
    """Take notifications out of future digests (mailed, or not to be mailed)."""
    if ids:
        session.execute(update(Notification).where(Notification.id.in_(ids)).values(emailed_at=utcnow()))


# ---------------------------------------------------------------- blocks


def is_blocked(session: Session, blocker_id: int, blocked_id: int) -> bool:
    """Whether `blocker_id` blocked `blocked_id`."""
    return session.get(Block, (blocker_id, blocked_id)) is not None


def blocked_either_way(session: Session, a: int, b: int) -> bool:
    """Whether one of the two blocked the other."""
    return is_blocked(session, a, b) or is_blocked(session, b, a)


def blocked_ids(session: Session, blocker_id: int) -> list[int]:
    """Everyone a person blocked."""
    return list(session.scalars(select(Block.blocked_id).where(Block.blocker_id == blocker_id)))


def add_block(session: Session, blocker_id: int, blocked_id: int) -> bool:
    """Block someone; False if already blocked."""
    if is_blocked(session, blocker_id, blocked_id):
        return False
    session.add(Block(blocker_id=blocker_id, blocked_id=blocked_id, created_at=utcnow()))
    session.flush()
    return True


def remove_block(session: Session, blocker_id: int, blocked_id: int) -> bool:
    """Unblock; False if there was no block."""
    result = session.execute(delete(Block).where(Block.blocker_id == blocker_id, Block.blocked_id == blocked_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def delete_blocks_of(session: Session, user_id: int) -> None:
    """Remove every block by or of a deleted account."""
    session.execute(delete(Block).where(or_(Block.blocker_id == user_id, Block.blocked_id == user_id)))


# ---------------------------------------------------------------- direct messages


def add_direct_message(session: Session, sender_id: int, recipient_id: int, text: str) -> DirectMessage:
    """Store a direct message."""
    low, high = pair(sender_id, recipient_id)
    msg = DirectMessage(sender_id=sender_id, recipient_id=recipient_id, user_low=low, user_high=high, text=text,
                        created_at=utcnow())
    session.add(msg)
    session.flush()
    return msg


def conversation_page(session: Session, a: int, b: int, *, before: int | None, limit: int) -> list[DirectMessage]:
    """Up to `limit` messages of a pair before a message id, newest first."""
    low, high = pair(a, b)
    stmt = select(DirectMessage).where(DirectMessage.user_low == low, DirectMessage.user_high == high)
    if before is not None:
        stmt = stmt.where(DirectMessage.id < before)
    return list(session.scalars(stmt.order_by(DirectMessage.id.desc()).limit(limit)))


def conversations(session: Session, user_id: int) -> list[tuple[DirectMessage, int]]:
    """Each conversation of a person: its last message and how many messages to them are unread."""
    last_ids = (
        select(func.max(DirectMessage.id).label("last_id"))
        .where(or_(DirectMessage.user_low == user_id, DirectMessage.user_high == user_id))
        .group_by(DirectMessage.user_low, DirectMessage.user_high)
        .subquery()
    )
    lasts = list(session.scalars(select(DirectMessage).join(last_ids, DirectMessage.id == last_ids.c.last_id)
                                 .order_by(DirectMessage.id.desc())))
    unread = dict(session.execute(
        select(DirectMessage.sender_id, func.count())
        .where(DirectMessage.recipient_id == user_id, DirectMessage.read_at.is_(None))
        .group_by(DirectMessage.sender_id)
    ).tuples().all())
    out = []
    for m in lasts:
        other = m.user_high if m.user_low == user_id else m.user_low
        out.append((m, int(unread.get(other, 0))))
    return out


def mark_conversation_read(session: Session, reader_id: int, other_id: int, up_to: int | None) -> int:
    """Mark messages from `other_id` to the reader read (up to a message id); how many changed."""
    cond = and_(DirectMessage.recipient_id == reader_id, DirectMessage.sender_id == other_id,
                DirectMessage.read_at.is_(None))
    if up_to is not None:
        cond = and_(cond, DirectMessage.id <= up_to)
    result = session.execute(update(DirectMessage).where(cond).values(read_at=utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def delete_direct_messages_of(session: Session, user_id: int) -> None:
    """Remove a deleted account's conversations."""
    session.execute(delete(DirectMessage).where(or_(DirectMessage.user_low == user_id,
                                                    DirectMessage.user_high == user_id)))


# ---------------------------------------------------------------- check-ins (copy of shows' facts)


def upsert_checkin(session: Session, *, user_id: int, concert_id: int, show_id: int, at: datetime) -> None:
    """Record (or refresh) a live check-in."""
    row = session.get(CheckinRef, (user_id, concert_id))
    if row is None:
        session.add(CheckinRef(user_id=user_id, concert_id=concert_id, show_id=show_id, checked_in_at=at))
    elif at >= row.checked_in_at:
        row.show_id, row.checked_in_at = show_id, at
    session.flush()


def end_checkin(session: Session, *, user_id: int, concert_id: int) -> None:
    """Forget a check-in that ended."""
    session.execute(delete(CheckinRef).where(CheckinRef.user_id == user_id, CheckinRef.concert_id == concert_id))


def checked_in_at(session: Session, concert_id: int, since: datetime) -> set[int]:
    """Who is checked in at a concert (check-ins younger than `since`)."""
    stmt = select(CheckinRef.user_id).where(CheckinRef.concert_id == concert_id, CheckinRef.checked_in_at >= since)
    return set(session.scalars(stmt))


def delete_checkins_of(session: Session, user_id: int) -> None:
    """Forget a deleted account's check-ins."""
    session.execute(delete(CheckinRef).where(CheckinRef.user_id == user_id))


def friends_who_logged(session: Session, owner_id: int, concert_id: int) -> list[int]:
    """The owner's friends who have a live show at the concert."""
    friends = friend_ids(session, owner_id)
    if not friends:
        return []
    stmt = (select(ShowRef.owner_id).where(ShowRef.concert_id == concert_id, ShowRef.owner_id.in_(friends),
                                           ShowRef.deleted.is_(False), ShowRef.version > 0)
            .distinct().order_by(ShowRef.owner_id))
    return list(session.scalars(stmt))


# ---------------------------------------------------------------- share links


def add_share_link(session: Session, *, token_hash: str, token_prefix: str, show_id: int, owner_id: int,
                   expires_at: datetime | None, photo_ids: list[int] | None = None) -> ShareLink:
    """Store a new share link."""
    link = ShareLink(token_hash=token_hash, token_prefix=token_prefix, show_id=show_id, owner_id=owner_id,
                     created_at=utcnow(), expires_at=expires_at, photo_ids=photo_ids)
    session.add(link)
    session.flush()
    return link


def share_link_by_hash(session: Session, token_hash: str) -> ShareLink | None:
    """A share link by its token's hash."""
    return session.scalars(select(ShareLink).where(ShareLink.token_hash == token_hash)).first()


def share_links_of_show(session: Session, show_id: int) -> list[ShareLink]:
    """A show's share links, newest first."""
    return list(session.scalars(select(ShareLink).where(ShareLink.show_id == show_id)
                                .order_by(ShareLink.id.desc())))


def delete_share_links(session: Session, *, show_id: int | None = None, owner_id: int | None = None,
                       link_id: int | None = None) -> None:
    """Remove share links (revoked, or their show or owner is gone)."""
    conds = []
    if show_id is not None:
        conds.append(ShareLink.show_id == show_id)
    if owner_id is not None:
        conds.append(ShareLink.owner_id == owner_id)
    if link_id is not None:
        conds.append(ShareLink.id == link_id)
    if conds:
        session.execute(delete(ShareLink).where(or_(*conds)))


# ---------------------------------------------------------------- friends' positions at a concert


def checkin_of(session: Session, user_id: int, concert_id: int) -> CheckinRef | None:
    """A person's live check-in at a concert (the copy)."""
    return session.get(CheckinRef, (user_id, concert_id))


def upsert_location(session: Session, *, user_id: int, concert_id: int, show_id: int, latitude: float,
                    longitude: float, accuracy_m: float, precision: str, expires_at: datetime) -> FriendLocation:
    """Store (or move) a person's position at a concert."""
    row = session.get(FriendLocation, (user_id, concert_id))
    if row is None:
        row = FriendLocation(user_id=user_id, concert_id=concert_id)
        session.add(row)
    row.show_id, row.latitude, row.longitude = show_id, latitude, longitude
    row.accuracy_m, row.precision, row.updated_at, row.expires_at = accuracy_m, precision, utcnow(), expires_at
    session.flush()
    return row


def delete_location(session: Session, user_id: int, concert_id: int | None = None) -> int:
    """Stop sharing (one concert, or every concert of a person); how many rows went."""
    cond = FriendLocation.user_id == user_id
    if concert_id is not None:
        cond = and_(cond, FriendLocation.concert_id == concert_id)
    return int(session.execute(delete(FriendLocation).where(cond)).rowcount or 0)  # type: ignore[attr-defined]


def purge_expired_locations(session: Session, now: datetime) -> int:
    """Delete every position past its expiry (nothing is kept after that)."""
    result = session.execute(delete(FriendLocation).where(FriendLocation.expires_at <= now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def friend_locations(session: Session, concert_id: int, friend_ids: list[int],
                     now: datetime) -> list[FriendLocation]:
    """Live positions at a concert of the given people who are still checked in there."""
    if not friend_ids:
        return []
    stmt = (
        select(FriendLocation)
        .join(CheckinRef, and_(CheckinRef.user_id == FriendLocation.user_id,
                               CheckinRef.concert_id == FriendLocation.concert_id))
        .where(FriendLocation.concert_id == concert_id, FriendLocation.user_id.in_(friend_ids),
               FriendLocation.expires_at > now)
        .order_by(FriendLocation.user_id)
    )
    return list(session.scalars(stmt))


def appear_offline(session: Session, user_id: int) -> bool:
    """Whether a person chose to appear offline."""
    row = session.get(PresenceSetting, user_id)
    return bool(row is not None and row.appear_offline)


def set_appear_offline(session: Session, user_id: int, value: bool) -> None:
    """Store the "appear offline" choice."""
    row = session.get(PresenceSetting, user_id)
    if row is None:
        session.add(PresenceSetting(user_id=user_id, appear_offline=value))
    else:
        row.appear_offline = value
    session.flush()


# ---------------------------------------------------------------- public profiles


def public_profile_on(session: Session, user_id: int) -> bool:
    """Whether a person opted in to a public profile (off by default)."""
    row = session.get(ProfileSetting, user_id)
    return bool(row is not None and row.public_profile)


def set_public_profile(session: Session, user_id: int, value: bool) -> None:
    """Store the public profile choice."""
    row = session.get(ProfileSetting, user_id)
    if row is None:
        session.add(ProfileSetting(user_id=user_id, public_profile=value, updated_at=utcnow()))
    else:
        row.public_profile, row.updated_at = value, utcnow()
    session.flush()


def delete_profile_setting(session: Session, user_id: int) -> None:
    """Forget a deleted account's choice."""
    session.execute(delete(ProfileSetting).where(ProfileSetting.user_id == user_id))


# ---------------------------------------------------------------- Web Push subscriptions


def add_push_subscription(session: Session, *, user_id: int, endpoint: str, p256dh: str, auth: str,
                          keep: int) -> PushSubscription:
    """Store a browser's subscription (an endpoint moves to whoever subscribed it last); a person keeps their
    `keep` newest."""
    row = session.scalars(select(PushSubscription).where(PushSubscription.endpoint == endpoint)).first()
    if row is None:
        row = PushSubscription(endpoint=endpoint)
        session.add(row)
    row.user_id, row.p256dh, row.auth, row.created_at = user_id, p256dh, auth, utcnow()
    session.flush()
    old = select(PushSubscription.id).where(PushSubscription.user_id == user_id).order_by(
        PushSubscription.created_at.desc(), PushSubscription.id.desc()).offset(keep)
    session.execute(delete(PushSubscription).where(PushSubscription.id.in_(list(session.scalars(old)))))
    return row


def push_subscriptions_of(session: Session, user_id: int) -> list[PushSubscription]:
    """A person's browser subscriptions."""
    return list(session.scalars(select(PushSubscription).where(PushSubscription.user_id == user_id)))


def delete_push_subscription(session: Session, endpoint: str, user_id: int | None = None) -> int:
    """Forget a subscription (only the given person's when `user_id` is set)."""
    cond = PushSubscription.endpoint == endpoint
    if user_id is not None:
        cond = and_(cond, PushSubscription.user_id == user_id)
    return int(session.execute(delete(PushSubscription).where(cond)).rowcount or 0)  # type: ignore[attr-defined]


def delete_push_subscriptions_of(session: Session, user_id: int) -> None:
    """Forget a deleted account's subscriptions."""
    session.execute(delete(PushSubscription).where(PushSubscription.user_id == user_id))
