"""Who may see a show: the one rule, as a Python predicate and as a SQL condition.

shows is the authority (its access endpoint answers media, comments and chat); social filters its feed in
SQL over its copy of shows. Both build their answer from these two functions, and
shared/tests/test_visibility.py checks that the predicate and the SQL agree on every combination.

The rule: nobody anonymous; the owner always; `public` for any signed-in user; `friends` for accepted
friends of the owner, narrowed to the listed friends when the owner set `visible_to`; `private` for the
owner only.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import and_, false, not_, or_, true
from sqlalchemy.sql.elements import ColumnElement

VISIBILITIES = ("private", "friends", "public")


def can_view(
    *, owner_id: int, visibility: str, audience: Collection[int] | None, viewer_id: int | None, are_friends: bool
) -> bool:
    """Whether `viewer_id` may see a show (`audience` is `visible_to`: None means every friend)."""
    if viewer_id is None:
        return False
    if owner_id == viewer_id:
        return True
    if visibility == "public":
        return True
    if visibility == "friends" and are_friends:
        return audience is None or viewer_id in audience
    return False


def visible_condition(
    *,
    viewer_id: int | None,
    owner: Any,
    visibility: Any,
    restricted: Any,
    in_audience: Any,
    are_friends: Any,
) -> ColumnElement[bool]:
    """The same rule as SQL over column expressions.

    `restricted` is true where `visible_to` narrows the friends, `in_audience` where the viewer is listed,
    `are_friends` where the owner and the viewer are accepted friends (a column condition, or a Python
    bool when the owner is known).
    """
    if viewer_id is None:
        return false()
    friends = are_friends if not isinstance(are_friends, bool) else (true() if are_friends else false())
    return or_(
        owner == viewer_id,
        visibility == "public",
        and_(visibility == "friends", friends, or_(not_(restricted), in_audience)),
    )
