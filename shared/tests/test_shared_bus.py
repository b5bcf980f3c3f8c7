"""Outbox → relay → bus → idempotent consumer, on the filesystem transport and on real RabbitMQ."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Integer, String, event, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared.db import make_base, make_engine, make_session_factory, session_scope
from shared.events import EventEnvelope, UserDeletedV1, UserRegisteredV1, make_envelope
from shared.messaging import EventBus, EventConsumer, OutboxRelay, Subscriptions
from shared.outbox import make_outbox_models
from shared.settings import BaseServiceSettings


class _Settings(BaseServiceSettings):
    service_name = "shows"


def _world(tmp_path: Path, broker_url: str):
    Base = make_base()
    outbox = make_outbox_models(Base, "auth")

    class Seen(Base):  # type: ignore[misc,valid-type]
        __tablename__ = "seen"
        id: Mapped[int] = mapped_column(Integer, primary_key=True)
        event_type: Mapped[str] = mapped_column(String(64))
        user_id: Mapped[int] = mapped_column(Integer)

    engine = make_engine(f"sqlite:///{tmp_path / 'svc.db'}")
    Base.metadata.create_all(engine)
    factory = make_session_factory(engine, outbox)
    # kombu keeps virtual-transport bindings per process, so each world gets its own exchange name
    settings = _Settings(
        VAR_DIR=str(tmp_path / "var"), BROKER_URL=broker_url, BUS_EXCHANGE=f"sms.events.{tmp_path.name}"
    )
    # its own consumer queue: the run's RabbitMQ vhost is shared by every test, and other tests publish user.*
    # events to sms.shows.events (bound to their own exchanges) that no one consumes
    return outbox, Seen, factory, EventBus(settings), f"t{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=["filesystem", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest) -> str:
    if request.param == "filesystem":
        return ""
    return request.getfixturevalue("rabbit_url")


def test_outbox_relay_and_idempotent_consumer(tmp_path: Path, broker_url: str) -> None:
    outbox, Seen, factory, bus, svc = _world(tmp_path, broker_url)

    subs = Subscriptions(svc)

    @subs.on(UserRegisteredV1)
    def on_registered(session: Session, event: UserRegisteredV1, env: EventEnvelope) -> None:
        session.add(Seen(event_type=env.type, user_id=event.user_id))

    consumer = EventConsumer(bus, subs, factory, outbox, topology={svc: ["user.registered"]})
    relay = OutboxRelay(bus, factory, outbox, poll_interval_s=0.1)
    consumer.start()
    assert consumer.ready.wait(15)
    relay.start()
    try:
        with session_scope(factory) as s:
            outbox.emit(s, UserRegisteredV1(user_id=1, username="a"))
            outbox.emit(s, UserRegisteredV1(user_id=2, username="b"))
        # a rolled-back transaction publishes nothing
        with pytest.raises(RuntimeError), session_scope(factory) as s:
            outbox.emit(s, UserRegisteredV1(user_id=3, username="c"))
            raise RuntimeError("rollback")
        # the same envelope delivered twice (a relay that crashed before marking it) applies once
        dup = make_envelope(UserRegisteredV1(user_id=4, username="d"), "auth")
        with bus.connection() as conn:
            bus.publish_envelopes(conn, [dup.model_dump(mode="json"), dup.model_dump(mode="json")])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with factory() as s:
                users = sorted(s.scalars(select(Seen.user_id)))
            if users == [1, 2, 4]:
                break
            time.sleep(0.1)
        time.sleep(0.5)
        with factory() as s:
            assert sorted(s.scalars(select(Seen.user_id))) == [1, 2, 4]
            assert all(r.published_at is not None for r in s.scalars(select(outbox.Event)))
    finally:
        relay.stop()
        consumer.stop()


def test_consumer_skips_unhandled_types_and_survives_handler_errors(tmp_path: Path) -> None:
    outbox, Seen, factory, bus, svc = _world(tmp_path, "")
    calls = {"n": 0}
    lock = threading.Lock()

    subs = Subscriptions(svc)

    @subs.on(UserDeletedV1)
    def flaky(session: Session, event: UserDeletedV1, env: EventEnvelope) -> None:
        with lock:
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("transient")
        session.add(Seen(event_type=env.type, user_id=event.user_id))

    consumer = EventConsumer(bus, subs, factory, outbox, topology={svc: ["user.deleted"]})
    consumer.start()
    assert consumer.ready.wait(15)
    try:
        with bus.connection() as conn:
            bus.publish_envelopes(conn, [make_envelope(UserDeletedV1(user_id=9), "auth").model_dump(mode="json")])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with factory() as s:
                if list(s.scalars(select(Seen.user_id))) == [9]:
                    break
            time.sleep(0.1)
        with factory() as s:
            assert list(s.scalars(select(Seen.user_id))) == [9]
        assert calls["n"] == 2
    finally:
        consumer.stop()


def test_an_event_the_handler_declines_is_acknowledged_without_a_transaction(tmp_path: Path) -> None:
    """`when` False (media and a comment on a show): nothing is applied and no inbox row is written; the
    events it accepts are applied once, as any other."""
    outbox, Seen, factory, bus, svc = _world(tmp_path, "")
    subs = Subscriptions(svc)

    @subs.on(UserRegisteredV1, when=lambda event: event.user_id % 2 == 0)
    def on_registered(session: Session, event: UserRegisteredV1, env: EventEnvelope) -> None:
        session.add(Seen(event_type=env.type, user_id=event.user_id))

    consumer = EventConsumer(bus, subs, factory, outbox, topology={svc: ["user.registered"]})
    envelopes = [make_envelope(UserRegisteredV1(user_id=i, username=f"u{i}"), "auth") for i in range(4)]
    assert [consumer.handle(e) for e in envelopes] == [True, False, True, False]
    assert [consumer.handle(e) for e in envelopes] == [False] * 4  # applied already, or still declined
    with factory() as s:
        assert sorted(s.scalars(select(Seen.user_id))) == [0, 2]
        assert sorted(s.scalars(select(outbox.Processed.event_id))) == sorted(str(envelopes[i].id) for i in (0, 2))


def test_events_waiting_together_are_applied_in_one_transaction_in_order(tmp_path: Path, broker_url: str) -> None:
    """A backlog is applied in batches (one transaction and one inbox commit for what arrived together), in
    delivery order; a second copy of an event in the same batch applies once; a handler failing on one event
    of a batch costs the others nothing: they are applied one by one and the failing one is retried."""
    outbox, Seen, factory, bus, svc = _world(tmp_path, broker_url)
    subs = Subscriptions(svc)
    commits: list[int] = []
    event.listen(factory, "after_commit", lambda session: commits.append(1))
    failed = {"n": 0}

    @subs.on(UserRegisteredV1)
    def on_registered(session: Session, event: UserRegisteredV1, env: EventEnvelope) -> None:
        if event.user_id == 13 and failed["n"] < 2:  # in the batch, then alone once
            failed["n"] += 1
            raise RuntimeError("transient")
        session.add(Seen(event_type=env.type, user_id=event.user_id))

    consumer = EventConsumer(bus, subs, factory, outbox, topology={svc: ["user.registered"]})
    envelopes = [make_envelope(UserRegisteredV1(user_id=i, username=f"u{i}"), "auth") for i in range(8)]
    bodies = [e.model_dump(mode="json") for e in envelopes]
    with bus.connection() as conn:
        bus.declare_topology(conn, {svc: ["user.registered"]})
        bus.publish_envelopes(conn, [*bodies, bodies[2]])  # the third event twice
    consumer.start()
    assert consumer.ready.wait(15)
    try:
        _wait_for(factory, Seen, list(range(8)))
        with factory() as s:
            assert sorted(s.scalars(select(Seen.user_id))) == list(range(8))
        assert _applied_order(factory, Seen) == list(range(8))
        assert len(commits) <= 2, f"8 waiting events took {len(commits)} transactions"

        # a batch with a failing event: the others are applied at once, the failing one after its retry
        more = [make_envelope(UserRegisteredV1(user_id=i, username=f"u{i}"), "auth") for i in range(10, 16)]
        consumer.stop()
        consumer = EventConsumer(bus, subs, factory, outbox, topology={svc: ["user.registered"]})
        with bus.connection() as conn:
            bus.publish_envelopes(conn, [e.model_dump(mode="json") for e in more])
        consumer.start()
        assert consumer.ready.wait(15)
        _wait_for(factory, Seen, [*range(8), *range(10, 16)])
        assert failed["n"] == 2
        assert _applied_order(factory, Seen)[8:] == [10, 11, 12, 14, 15, 13]  # a rolled-back batch leaves no row
    finally:
        consumer.stop()


def _wait_for(factory: Any, Seen: Any, expected: list[int]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with factory() as s:
            if sorted(s.scalars(select(Seen.user_id))) == expected:
                time.sleep(0.3)  # a late second copy would show now
                break
        time.sleep(0.05)
    with factory() as s:
        assert sorted(s.scalars(select(Seen.user_id))) == expected


def _applied_order(factory: Any, Seen: Any) -> list[int]:
    with factory() as s:
        return list(s.scalars(select(Seen.user_id).order_by(Seen.id)))
