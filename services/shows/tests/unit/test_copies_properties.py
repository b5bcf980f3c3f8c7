"""Property: any order and any duplication of an aggregate's events, applied to shows' copy, ends in the
owner's final state — for friendships (social's) and users (auth's).

Each example is one aggregate's history as its owner would write it (versions 1, 2, 3, ...), delivered
through the real consumer (dispatch, inbox, handler, versioned write) in an order hypothesis picks, with
every event at least once and some several times: redelivered with the same envelope id (the inbox drops
those) or re-published under a new id (a relay that crashed after publishing, an inbox pruned since).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from shared.db import make_engine, make_session_factory, run_migrations
from shared.events import (
    Event,
    EventEnvelope,
    FriendshipAcceptedV1,
    FriendshipRemovedV1,
    UserDeletedV1,
    UserRegisteredV1,
    make_envelope,
)
from shared.messaging import EventBus, EventConsumer
from shows import repository as repo
from shows.config import ShowsSettings
from shows.consumers import subscriptions
from shows.db import outbox

_ids = itertools.count(1000)  # a fresh aggregate per example: examples share one database


@pytest.fixture(scope="module")
def consumer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventConsumer]:
    """shows' real consumer on a migrated SQLite database (no bus connection: handle() only)."""
    path: Path = tmp_path_factory.mktemp("copies") / "shows.db"
    run_migrations("shows", f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    settings = ShowsSettings(ENV="testing", VAR_DIR=str(path.parent / "var"), DATABASE_URL=f"sqlite:///{path}")
    yield EventConsumer(EventBus(settings), subscriptions, make_session_factory(engine, outbox), outbox)
    engine.dispose()


@st.composite
def _deliveries(draw: st.DrawFn, history: list[Event]) -> list[tuple[int, bool]]:
    """(event index, re-published under a new envelope id?): every event once, some again, in any order."""
    n = len(history)
    repeats = draw(st.lists(st.tuples(st.integers(0, n - 1), st.booleans()), max_size=2 * n))
    return draw(st.permutations([(i, False) for i in range(n)] + repeats))


def _deliver(consumer: EventConsumer, history: list[Event], order: list[tuple[int, bool]]) -> None:
    envelopes: dict[int, EventEnvelope] = {i: make_envelope(ev, "owner") for i, ev in enumerate(history)}
    for i, republished in order:
        consumer.handle(make_envelope(history[i], "owner") if republished else envelopes[i])


def _friendship_history(changes: int) -> tuple[int, int, list[Event]]:
    a, b = next(_ids), next(_ids)
    events: list[Event] = []
    for v in range(1, changes + 1):  # accepted, removed, accepted, ... as social's pair versions go
        cls = FriendshipAcceptedV1 if v % 2 else FriendshipRemovedV1
        # either side may appear first in the event (requester or recipient)
        events.append(cls(user_id=a if v % 3 else b, friend_id=b if v % 3 else a, aggregate_version=v))
    return a, b, events


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), changes=st.integers(1, 6))
def test_friendship_copy_converges_to_socials_last_state(consumer: EventConsumer, data: st.DataObject,
                                                          changes: int) -> None:
    a, b, history = _friendship_history(changes)
    order = data.draw(_deliveries(history))
    _deliver(consumer, history, order)
    final_accepted = isinstance(history[-1], FriendshipAcceptedV1)
    factory: sessionmaker[Session] = consumer.session_factory
    with factory() as s:
        assert repo.is_friend(s, a, b) is final_accepted


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), deleted=st.booleans())
def test_user_copy_converges_and_a_deleted_account_never_comes_back(consumer: EventConsumer, data: st.DataObject,
                                                                     deleted: bool) -> None:
    uid = next(_ids)
    history: list[Event] = [UserRegisteredV1(user_id=uid, username=f"fan{uid}", aggregate_version=1)]
    if deleted:
        history.append(UserDeletedV1(user_id=uid, aggregate_version=2))
    _deliver(consumer, history, data.draw(_deliveries(history)))
    factory: sessionmaker[Session] = consumer.session_factory
    with factory() as s:
        user = repo.get_user(s, uid)
        assert user is not None and user.deleted is deleted
        assert repo.usernames(s, [uid]) == ({} if deleted else {uid: f"fan{uid}"})
