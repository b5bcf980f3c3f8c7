"""Outbox → relay → bus → idempotent consumer, on the filesystem transport and on real RabbitMQ."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared.db import make_base, make_engine, make_session_factory, session_scope
from shared.events import EventEnvelope, UserDeletedV1, UserRegisteredV1, make_envelope
from shared.messaging import EventBus, EventConsumer, OutboxRelay, Subscriptions
from shared.outbox import make_outbox_models
from shared.settings import BaseServiceSettings


class _Settings(BaseServiceSettings):
    service_name = "shows"  # consume as "shows" so the topology binds user.* events


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
    return outbox, Seen, factory, EventBus(settings)


@pytest.fixture(params=["filesystem", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest) -> str:
    if request.param == "filesystem":
        return ""
    return request.getfixturevalue("rabbit_url")


def test_outbox_relay_and_idempotent_consumer(tmp_path: Path, broker_url: str) -> None:
    outbox, Seen, factory, bus = _world(tmp_path, broker_url)

    subs = Subscriptions("shows")

    @subs.on(UserRegisteredV1)
    def on_registered(session: Session, event: UserRegisteredV1, env: EventEnvelope) -> None:
        session.add(Seen(event_type=env.type, user_id=event.user_id))

    consumer = EventConsumer(bus, subs, factory, outbox, topology={"shows": ["user.registered"]})
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
    outbox, Seen, factory, bus = _world(tmp_path, "")
    calls = {"n": 0}
    lock = threading.Lock()

    subs = Subscriptions("shows")

    @subs.on(UserDeletedV1)
    def flaky(session: Session, event: UserDeletedV1, env: EventEnvelope) -> None:
        with lock:
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("transient")
        session.add(Seen(event_type=env.type, user_id=event.user_id))

    consumer = EventConsumer(bus, subs, factory, outbox, topology={"shows": ["user.deleted"]})
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
    outbox, Seen, factory, bus = _world(tmp_path, "")
    subs = Subscriptions("shows")

    @subs.on(UserRegisteredV1, when=lambda event: event.user_id % 2 == 0)
    def on_registered(session: Session, event: UserRegisteredV1, env: EventEnvelope) -> None:
        session.add(Seen(event_type=env.type, user_id=event.user_id))

    consumer = EventConsumer(bus, subs, factory, outbox, topology={"shows": ["user.registered"]})
    envelopes = [make_envelope(UserRegisteredV1(user_id=i, username=f"u{i}"), "auth") for i in range(4)]
    assert [consumer.handle(e) for e in envelopes] == [True, False, True, False]
    assert [consumer.handle(e) for e in envelopes] == [False] * 4  # applied already, or still declined
    with factory() as s:
        assert sorted(s.scalars(select(Seen.user_id))) == [0, 2]
        assert sorted(s.scalars(select(outbox.Processed.event_id))) == sorted(str(envelopes[i].id) for i in (0, 2))
