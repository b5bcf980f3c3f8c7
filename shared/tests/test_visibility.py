"""The visibility rule: the Python predicate and the SQL condition agree on every combination.

shows answers access with the predicate and filters lists with the SQL; social filters the feed with the
SQL over its copy. Exhaustive over a small world: owners/viewers, every visibility, audience narrowing,
friendship and anonymity.
"""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, create_engine, exists, insert, select

from shared import visibility

PEOPLE = (1, 2, 3)
AUDIENCES: tuple[tuple[int, ...] | None, ...] = (None, (), (2,), (3,), (2, 3))


def test_predicate_basics() -> None:
    kw = {"owner_id": 1, "audience": None}
    assert not visibility.can_view(visibility="public", viewer_id=None, are_friends=True, **kw)  # anonymous
    assert visibility.can_view(visibility="private", viewer_id=1, are_friends=False, **kw)  # owner
    assert not visibility.can_view(visibility="private", viewer_id=2, are_friends=True, **kw)
    assert visibility.can_view(visibility="public", viewer_id=2, are_friends=False, **kw)
    assert visibility.can_view(visibility="friends", viewer_id=2, are_friends=True, **kw)
    assert not visibility.can_view(visibility="friends", viewer_id=2, are_friends=False, **kw)
    assert not visibility.can_view(visibility="friends", viewer_id=2, are_friends=True, owner_id=1, audience=[3])


@pytest.mark.parametrize("friends_as_column", [True, False])
def test_sql_condition_matches_the_predicate(friends_as_column: bool) -> None:
    md = MetaData()
    show = Table("show", md, Column("id", Integer, primary_key=True), Column("owner", Integer),
                 Column("visibility", String), Column("restricted", Boolean))
    audience = Table("audience", md, Column("show_id", Integer), Column("user_id", Integer))
    friend = Table("friend", md, Column("a", Integer), Column("b", Integer))
    engine = create_engine("sqlite://")
    md.create_all(engine)
    cases = list(itertools.product(PEOPLE, visibility.VISIBILITIES, AUDIENCES))
    friendships = {(1, 2), (2, 1), (2, 3), (3, 2)}
    with engine.begin() as conn:
        for sid, (owner, vis, aud) in enumerate(cases, start=1):
            conn.execute(insert(show).values(id=sid, owner=owner, visibility=vis, restricted=aud is not None))
            for uid in aud or ():
                conn.execute(insert(audience).values(show_id=sid, user_id=uid))
        for a, b in friendships:
            conn.execute(insert(friend).values(a=a, b=b))
    checked = 0
    with engine.connect() as conn:
        for viewer in (None, *PEOPLE):
            in_audience = exists().where(audience.c.show_id == show.c.id, audience.c.user_id == viewer)
            if friends_as_column:
                cond = visibility.visible_condition(
                    viewer_id=viewer, owner=show.c.owner, visibility=show.c.visibility,
                    restricted=show.c.restricted, in_audience=in_audience,
                    are_friends=exists().where(friend.c.a == show.c.owner, friend.c.b == viewer),
                )
                seen = set(conn.scalars(select(show.c.id).where(cond)))
            else:  # shows' list of one owner's shows: the friendship is a known boolean
                seen = set()
                for owner in PEOPLE:
                    cond = visibility.visible_condition(
                        viewer_id=viewer, owner=show.c.owner, visibility=show.c.visibility,
                        restricted=show.c.restricted, in_audience=in_audience,
                        are_friends=(owner, viewer) in friendships,
                    )
                    seen |= set(conn.scalars(select(show.c.id).where(show.c.owner == owner, cond)))
            expected = {
                sid for sid, (owner, vis, aud) in enumerate(cases, start=1)
                if visibility.can_view(owner_id=owner, visibility=vis, audience=aud, viewer_id=viewer,
                                       are_friends=(owner, viewer) in friendships)
            }
            assert seen == expected, (viewer, sorted(seen ^ expected))
            checked += len(cases)
    assert checked == 4 * len(cases)
