"""Every query of the social service; flushes, never commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from shared.db import utcnow
from social.models import ChatMessage, Comment, FeedItem, Friendship, SearchSetting, ShowAudience, ShowRef, User

# ---------------------------------------------------------------- users


def get_user(session: Session, user_id: int) -> User | None:
    """A local user by id."""
    return session.get(User, user_id)


def users_by_ids(session: Session, ids: Iterable[int]) -> dict[int, User]:
    """Local users by id."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(wanted)))}


def user_by_username(session: Session, username: str) -> User | None:
    """A local user by username (case-insensitive)."""
    return session.scalars(select(User).where(User.username_lower == username.lower()).limit(1)).first()


def users_by_usernames(session: Session, names: Iterable[str]) -> dict[str, User]:
    """Local users keyed by lower-cased username."""
    lowered = {n.lower() for n in names}
    if not lowered:
        return {}
    return {u.username_lower: u for u in session.scalars(select(User).where(User.username_lower.in_(lowered)))}


def upsert_user(session: Session, user_id: int, username: str, email: str | None) -> User:
    """Create or refresh a local user."""
    user = session.get(User, user_id)
    if user is None:
        user = User(id=user_id, username=username, username_lower=username.lower(),
                    email_lower=email.lower() if email else None)
        session.add(user)
    else:
        user.username = username
        user.username_lower = username.lower()
        if email:
            user.email_lower = email.lower()
    session.flush()
    return user


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
        .where(or_(*conds), User.id != exclude_id)
        .order_by(func.length(User.username_lower), User.username_lower)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def delete_user(session: Session, user_id: int) -> None:
    """Remove a local user row (and their search setting)."""
    session.execute(delete(User).where(User.id == user_id))
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
    """The local copy of a show."""
    return session.get(ShowRef, show_id)


def show_refs(session: Session, show_ids: Iterable[int]) -> dict[int, ShowRef]:
    """Local show copies by id."""
    wanted = set(show_ids)
    if not wanted:
        return {}
    return {s.show_id: s for s in session.scalars(select(ShowRef).where(ShowRef.show_id.in_(wanted)))}


def set_audience(session: Session, show_id: int, user_ids: Iterable[int] | None) -> None:
    """Replace a show's visible_to list."""
    session.execute(delete(ShowAudience).where(ShowAudience.show_id == show_id))
    for uid in sorted(set(user_ids or ())):
        session.add(ShowAudience(show_id=show_id, user_id=uid))
    session.flush()


def delete_show_ref(session: Session, show_id: int) -> None:
    """Forget a show and its audience."""
    session.execute(delete(ShowAudience).where(ShowAudience.show_id == show_id))
    session.execute(delete(ShowRef).where(ShowRef.show_id == show_id))


def concert_has_shows(session: Session, concert_id: int) -> bool:
    """Whether any known show belongs to the concert."""
    return session.scalar(select(exists().where(ShowRef.concert_id == concert_id))) or False


def show_ids_of_owner(session: Session, owner_id: int) -> list[int]:
    """Ids of the shows a user owns (local copies)."""
    return list(session.scalars(select(ShowRef.show_id).where(ShowRef.owner_id == owner_id)))


# ---------------------------------------------------------------- feed


def upsert_feed_item(session: Session, *, kind: str, show_id: int, media_id: int, owner_id: int,
                     media_kind: str | None, thumbnail_url: str | None, url: str | None,
                     created_at: datetime) -> None:
    """Add a feed item once (re-delivered events update it)."""
    item = session.scalars(
        select(FeedItem).where(FeedItem.kind == kind, FeedItem.show_id == show_id, FeedItem.media_id == media_id)
    ).first()
    if item is None:
        session.add(FeedItem(kind=kind, show_id=show_id, media_id=media_id, owner_id=owner_id,
                             media_kind=media_kind, thumbnail_url=thumbnail_url, url=url, created_at=created_at))
    else:
        item.owner_id = owner_id
        item.thumbnail_url = thumbnail_url
        item.url = url
    session.flush()


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
    # the item is a friend's, and the viewer may see its show (the same rule as shows' can_view)
    visible_show = or_(
        ShowRef.owner_id == viewer_id,
        ShowRef.visibility == "public",
        and_(
            ShowRef.visibility == "friends",
            ShowRef.owner_id.in_(friend_ids),
            or_(
                ShowRef.restricted.is_(False),
                exists().where(ShowAudience.show_id == ShowRef.show_id, ShowAudience.user_id == viewer_id),
            ),
        ),
    )
    return and_(FeedItem.owner_id.in_(friend_ids), visible_show)


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


def count_comments_of_user(session: Session, user_id: int) -> int:
    """How many comments a user wrote."""
    return int(session.scalar(select(func.count()).select_from(Comment).where(Comment.user_id == user_id)) or 0)


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


def delete_friendship_row(session: Session, friendship_id: int, *, only_status: str | None = None) -> bool:
    """Delete a row (optionally only in a given status); True if this call removed it."""
    stmt = delete(Friendship).where(Friendship.id == friendship_id)
    if only_status is not None:
        stmt = stmt.where(Friendship.status == only_status)
    result = session.execute(stmt.execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]


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
