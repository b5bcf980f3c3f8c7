"""Queries on the local copies other services' events keep: users, friendships and per-show counters."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from shows.models import Friendship, Show, ShowCounter, User


def upsert_user(session: Session, user_id: int, username: str) -> None:
    """Create or rename the local copy of a user."""
    user = session.get(User, user_id)
    if user is None:
        session.add(User(id=user_id, username=username))
    elif username and user.username != username:
        user.username = username
    session.flush()


def delete_user(session: Session, user_id: int) -> None:
    """Forget a user and their friendships."""
    session.execute(delete(Friendship).where(or_(Friendship.user_a == user_id, Friendship.user_b == user_id)))
    session.execute(delete(User).where(User.id == user_id))


def usernames(session: Session, user_ids: Iterable[int]) -> dict[int, str]:
    """Usernames of the given users (those the service knows)."""
    ids = list(set(user_ids))
    if not ids:
        return {}
    return {uid: name for uid, name in session.execute(select(User.id, User.username).where(User.id.in_(ids)))}


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def is_friend(session: Session, a: int, b: int) -> bool:
    """True when a and b have an accepted friendship."""
    if a == b:
        return False
    ua, ub = _pair(a, b)
    return session.get(Friendship, (ua, ub)) is not None


def add_friendship(session: Session, a: int, b: int) -> None:
    """Record an accepted friendship (no-op if known)."""
    if a == b or is_friend(session, a, b):
        return
    ua, ub = _pair(a, b)
    session.add(Friendship(user_a=ua, user_b=ub))
    session.flush()


def remove_friendship(session: Session, a: int, b: int) -> None:
    """Forget a friendship (no-op if unknown)."""
    ua, ub = _pair(a, b)
    session.execute(delete(Friendship).where(Friendship.user_a == ua, Friendship.user_b == ub))


# ---------------------------------------------------------------- counters


COUNTER_FIELDS = {"photo": "photos", "audio": "audio", "video": "videos", "comment": "comments"}


def bump_counter(session: Session, show_id: int, kind: str, delta: int) -> bool:
    """Add `delta` to a show's counter of `kind` (never below zero); False if the show is gone."""
    if session.get(Show, show_id) is None:
        return False
    column = COUNTER_FIELDS[kind]
    counter = session.get(ShowCounter, show_id)
    if counter is None:
        counter = ShowCounter(show_id=show_id, photos=0, audio=0, videos=0, comments=0)
        session.add(counter)
        session.flush()
    table = ShowCounter.__table__
    col = table.c[column]
    # scalar max() on SQLite, greatest() on PostgreSQL: the counter never goes below zero
    floor = func.max if session.get_bind().dialect.name == "sqlite" else func.greatest
    new_value = floor(col + delta, 0)
    session.execute(update(table).where(table.c.show_id == show_id).values({column: new_value}))
    session.expire(counter)
    return True
