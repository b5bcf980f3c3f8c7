"""Hot internal reads on the event loop: a show's comments for shows's detail, a user's counts for the dashboard.

Both are asked on every show detail and every dashboard. Through the request session each cost a worker-thread
hop or two, SQLAlchemy's ORM loading and FastAPI's response model; here they are Core statements compiled once
(shared.adb) on one pooled connection, written to JSON by orjson. The comments are those `serialize_comments`
makes from ORM rows (held by a test on the same rows).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson
from sqlalchemy import and_, bindparam, case, func, select

from shared.adb import AsyncReader, Query
from social.models import Comment, Friendship, User
from social.service import comment_json, mention_names

_show = bindparam("show_id")
_on_show = and_(Comment.show_id == _show, Comment.photo_id.is_(None))
PAGE = Query(
    select(Comment.id, Comment.show_id, Comment.photo_id, Comment.user_id, Comment.text, Comment.created_at,
           Comment.updated_at, User.username, func.count().over().label("total"))
    .outerjoin(User, and_(User.id == Comment.user_id, User.deleted.is_(False)))
    .where(_on_show)
    .order_by(Comment.id)
    .limit(bindparam("limit")).offset(bindparam("offset"))
)
TOTAL = Query(select(func.count()).select_from(Comment).where(_on_show))
BY_NAME = Query(select(User.id, User.username).where(User.username_lower == bindparam("name"),
                                                        User.deleted.is_(False)))
_user = bindparam("user_id")
COUNTS = Query(select(
    select(func.count()).select_from(Comment).where(Comment.user_id == _user).scalar_subquery().label("comments"),
    select(func.count(func.distinct(case((Friendship.user_id == _user, Friendship.friend_id),
                                         else_=Friendship.user_id))))
    .where(Friendship.status == "accepted", (Friendship.user_id == _user) | (Friendship.friend_id == _user))
    .scalar_subquery().label("friends"),
))


class _Author(NamedTuple):
    id: int
    username: str


async def show_comments(reader: AsyncReader, show_id: int, *, limit: int, offset: int) -> bytes:
    """A show's own comments (not its photos'), oldest first, with their total, as JSON."""
    async with reader.connection() as conn:
        rows = await conn.all(PAGE, show_id=show_id, limit=limit, offset=offset)
        total = rows[0].total if rows else (await conn.scalar(TOTAL, show_id=show_id) if offset else 0)
        known: dict[str, Any] = {}
        for name in sorted({n.lower() for n in mention_names(r.text for r in rows)}):  # few: one lookup each
            hit = await conn.first(BY_NAME, name=name)
            if hit is not None:
                known[name] = hit
    # the author's live copy came with the row (the outer join leaves the username null for a deleted one)
    comments = [comment_json(r, None if r.username is None else _Author(r.user_id, r.username), known) for r in rows]
    return orjson.dumps({"comments": comments, "total": int(total or 0)})


async def user_counts(reader: AsyncReader, user_id: int) -> bytes:
    """A user's comment and friend totals, as JSON."""
    row = await reader.first(COUNTS, user_id=user_id)
    return orjson.dumps({"comments": int(row.comments or 0), "friends": int(row.friends or 0)})
