"""Queries on the local copies other services' events keep: users, friendships and per-show counters.

Users and friendships are versioned copies (shared.copies): written only by a newer version of the owner's
aggregate, removals kept as tombstones, so no ordering of auth's and social's events can revive a deleted
account or a removed friendship.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import Integer, bindparam, func, literal, select, update
from sqlalchemy.orm import Session

from shared.copies import apply_if_newer
from shared.db import insert_for
from shows.models import Friendship, Show, ShowCounter, User


def apply_user(session: Session, *, user_id: int, username: str, version: int, deleted: bool) -> bool:
    """Write auth's user at `version` if newer than the copy (a deleted user becomes a tombstone)."""
    values = {"username": "" if deleted else username[:64], "deleted": deleted}
    return apply_if_newer(session, User, {"id": user_id}, version, values)


def get_user(session: Session, user_id: int) -> User | None:
    """The copy of a user (tombstones included)."""
    return session.get(User, user_id)


def usernames(session: Session, user_ids: Iterable[int]) -> dict[int, str]:
    """Usernames of the given live users (those the service knows)."""
    ids = list(set(user_ids))
    if not ids:
        return {}
    stmt = select(User.id, User.username).where(User.id.in_(ids), User.deleted.is_(False))
    return {uid: name for uid, name in session.execute(stmt)}


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def is_friend(session: Session, a: int, b: int) -> bool:
    """True when a and b have an accepted friendship."""
    if a == b:
        return False
    ua, ub = _pair(a, b)
    row = session.get(Friendship, (ua, ub))
    return row is not None and row.accepted


def apply_friendship(session: Session, *, user_id: int, friend_id: int, version: int, accepted: bool) -> bool:
    """Write social's state of a pair at `version` if newer than the copy (removed = a tombstone)."""
    if user_id == friend_id:
        return False
    ua, ub = _pair(user_id, friend_id)
    return apply_if_newer(session, Friendship, {"user_a": ua, "user_b": ub}, version, {"accepted": accepted})


def drop_friendships_of(session: Session, user_id: int) -> None:
    """Mark every friendship of a deleted user as removed (their pairs keep their versions)."""
    session.execute(
        update(Friendship)
        .where((Friendship.user_a == user_id) | (Friendship.user_b == user_id))
        .values(accepted=False)
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------- counters


COUNTER_FIELDS = {"photo": "photos", "audio": "audio", "video": "videos", "comment": "comments"}


@cache
def _bump_statement(dialect: str, column: str) -> Any:
    """bump_counter's upsert for one counter, built once per dialect (an event's statement was a third of what
    applying a comment's count cost): `v_show_id`, `v_start` (the new row's value), `v_delta`."""
    table = ShowCounter.__table__
    col = table.c[column]
    # scalar max() on SQLite, greatest() on PostgreSQL: the counter never goes below zero
    floor = func.max if dialect == "sqlite" else func.greatest
    start = {name: bindparam("v_start", type_=Integer) if name == column else literal(0)
             for name in COUNTER_FIELDS.values()}
    stmt = insert_for(dialect, table).from_select(
        ["show_id", *start], select(Show.id, *start.values()).where(Show.id == bindparam("v_show_id"))
    )
    return stmt.on_conflict_do_update(index_elements=["show_id"],
                                      set_={column: floor(col + bindparam("v_delta", type_=Integer), 0)})


def bump_counter(session: Session, show_id: int, kind: str, delta: int) -> bool:
    """Add `delta` to a show's counter of `kind` (never below zero); False if the show is gone.

    One statement: the counter row is created from the show's row (none if the show is gone) or updated in
    place, so concurrent bumps serialise on the row and the read-version trigger fires as for any update.
    """
    stmt = _bump_statement(session.get_bind().dialect.name, COUNTER_FIELDS[kind])
    params = {"v_show_id": show_id, "v_start": max(delta, 0), "v_delta": delta}
    return bool(session.execute(stmt, params).rowcount)
