"""Property: any order and any duplication of a show's or a user's events, applied to social's copies, ends
in the owner's final state (visibility and audience of a show; a deleted show or account stays deleted).

The events go through social's real consumer path (dispatch, inbox, handlers, versioned writes); repeats
are redeliveries of the same envelope (dropped by the inbox) or re-publications under a new id.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from shared.db import make_engine, make_session_factory, run_migrations
from shared.events import (
    Event,
    EventEnvelope,
    ShowCreatedV1,
    ShowDeletedV1,
    ShowUpdatedV1,
    UserDeletedV1,
    UserRegisteredV1,
    make_envelope,
)
from shared.messaging import EventBus, EventConsumer
from social.config import SocialSettings
from social.consumers import make_subscriptions
from social.db import outbox
from social.models import ShowAudience, ShowRef, User

_ids = itertools.count(5000)  # a fresh aggregate per example: examples share one database

facts = st.fixed_dictionaries({
    "visibility": st.sampled_from(["private", "friends", "public"]),
    "visible_to": st.one_of(st.none(), st.lists(st.integers(1, 9), max_size=3, unique=True)),
})


@pytest.fixture(scope="module")
def consumer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventConsumer]:
    """social's real consumer on a migrated SQLite database (handle() only)."""
    path: Path = tmp_path_factory.mktemp("copies") / "social.db"
    run_migrations("social", f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    settings = SocialSettings(ENV="testing", VAR_DIR=str(path.parent / "var"), DATABASE_URL=f"sqlite:///{path}")
    yield EventConsumer(EventBus(settings), make_subscriptions(), make_session_factory(engine, outbox), outbox)
    engine.dispose()


@st.composite
def deliveries(draw: st.DrawFn, n: int) -> list[tuple[int, bool]]:
    """(event index, re-published under a new envelope id?): every event once, some again, in any order."""
    repeats = draw(st.lists(st.tuples(st.integers(0, n - 1), st.booleans()), max_size=2 * n))
    return draw(st.permutations([(i, False) for i in range(n)] + repeats))


def _deliver(consumer: EventConsumer, history: list[Event], order: list[tuple[int, bool]]) -> None:
    envelopes: dict[int, EventEnvelope] = {i: make_envelope(ev, "owner") for i, ev in enumerate(history)}
    for i, republished in order:
        consumer.handle(make_envelope(history[i], "owner") if republished else envelopes[i])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), versions=st.lists(facts, min_size=1, max_size=5), deleted=st.booleans())
def test_show_copy_converges_to_the_owners_last_visibility(consumer: EventConsumer, data: st.DataObject,
                                                           versions: list[dict[str, Any]], deleted: bool) -> None:
    show_id, owner = next(_ids), next(_ids)
    common = {"show_id": show_id, "user_id": owner, "concert_id": show_id, "artist_name": "Band",
              "venue_name": "Hall", "date": dt.date(2026, 6, 1)}
    history: list[Event] = [ShowCreatedV1(**common, **versions[0], aggregate_version=1)]
    history += [ShowUpdatedV1(**common, **f, aggregate_version=v) for v, f in enumerate(versions[1:], start=2)]
    if deleted:
        history.append(ShowDeletedV1(show_id=show_id, user_id=owner, concert_id=show_id,
                                     aggregate_version=len(versions) + 1))
    _deliver(consumer, history, data.draw(deliveries(len(history))))
    with consumer.session_factory() as s:
        ref = s.get(ShowRef, show_id)
        audience = set(s.scalars(select(ShowAudience.user_id).where(ShowAudience.show_id == show_id)))
    assert ref is not None and ref.version == len(history)
    if deleted:
        assert ref.deleted and audience == set()
    else:
        last = versions[-1]
        assert not ref.deleted and ref.visibility == last["visibility"]
        assert ref.restricted is (last["visible_to"] is not None)
        assert audience == set(last["visible_to"] or ())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), deleted=st.booleans())
def test_user_copy_converges_and_a_deleted_account_never_comes_back(consumer: EventConsumer, data: st.DataObject,
                                                                     deleted: bool) -> None:
    uid = next(_ids)
    history: list[Event] = [UserRegisteredV1(user_id=uid, username=f"fan{uid}", email=f"fan{uid}@example.test",
                                             aggregate_version=1)]
    if deleted:
        history.append(UserDeletedV1(user_id=uid, aggregate_version=2))
    _deliver(consumer, history, data.draw(deliveries(len(history))))
    with consumer.session_factory() as s:
        user = s.get(User, uid)
        assert user is not None and user.deleted is deleted
        assert user.email_lower == (None if deleted else f"fan{uid}@example.test")
