"""The outbox relay's per-row outcomes, backoff, aggregate order, unroutable events and pruning; dead letters."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Queue, binding
from prometheus_client import REGISTRY
from sqlalchemy import Integer, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from shared import deadletters
from shared.db import make_base, make_engine, make_session_factory, session_scope, utcnow
from shared.events import (
    ChatMessageV1,
    EventEnvelope,
    FriendshipAcceptedV1,
    ShowDeletedV1,
    UserDeletedV1,
    UserRegisteredV1,
    make_envelope,
)
from shared.messaging import (
    EventBus,
    EventConsumer,
    OutboxRelay,
    Publisher,
    Subscriptions,
    dead_letter_queue_name,
    queue_name,
)
from shared.outbox import Outbox, aggregate_key, make_outbox_models
from shared.settings import BaseServiceSettings


class _Settings(BaseServiceSettings):
    service_name = "shows"


class World:
    """An outbox on SQLite and a bus (filesystem or RabbitMQ) with its own exchange."""

    def __init__(self, tmp_path: Path, broker_url: str) -> None:
        Base = make_base()
        self.outbox: Outbox = make_outbox_models(Base, "auth")

        class Applied(Base):  # type: ignore[misc,valid-type]
            __tablename__ = "applied"
            id: Mapped[int] = mapped_column(Integer, primary_key=True)
            user_id: Mapped[int] = mapped_column(Integer)

        self.Applied = Applied
        engine = make_engine(f"sqlite:///{tmp_path / 'svc.db'}")
        Base.metadata.create_all(engine)
        self.factory = make_session_factory(engine, self.outbox)
        self.settings = _Settings(VAR_DIR=str(tmp_path / "var"), BROKER_URL=broker_url,
                                  BUS_EXCHANGE=f"sms.events.{tmp_path.name}")
        self.bus = EventBus(self.settings)

    def emit(self, *events: Any) -> list[str]:
        with session_scope(self.factory) as s:
            return [str(self.outbox.emit(s, e).id) for e in events]

    def rows(self) -> dict[str, Any]:
        with self.factory() as s:
            return {r.id: r for r in s.scalars(select(self.outbox.Event))}

    def tap(self, conn: Connection) -> Queue:
        """A queue that gets every event of this world's exchange."""
        q = Queue(f"tap.{uuid.uuid4().hex[:8]}", bindings=[binding(self.bus.exchange, routing_key="#")],
                  durable=False, auto_delete=False)
        q(conn.default_channel).declare()
        return q

    @staticmethod
    def drain(conn: Connection, queue: Queue) -> list[dict[str, Any]]:
        got = []
        bound = queue(conn.default_channel)
        while (m := bound.get(no_ack=True, accept=["application/json"])) is not None:
            got.append(json.loads(m.body))
        return got


@pytest.fixture(params=["filesystem", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest) -> str:
    return "" if request.param == "filesystem" else request.getfixturevalue("rabbit_url")


class FlakyRelay(OutboxRelay):
    """A relay whose broker refuses the messages in `refuse` (a per-message failure, like a nack)."""

    refuse: set[str]

    def _connection(self) -> Publisher:
        publisher = super()._connection()
        if not getattr(publisher, "flaky", False):
            real = publisher.publish

            def publish(env: dict[str, Any]) -> bool:
                if str(env["id"]) in self.refuse:
                    raise ConnectionError("broker refused the message")
                return real(env)

            publisher.publish = publish  # type: ignore[method-assign]
            publisher.flaky = True  # type: ignore[attr-defined]
        return publisher


def _relay(world: World, refuse: set[str] = frozenset(), **kw: Any) -> FlakyRelay:  # type: ignore[assignment]
    relay = FlakyRelay(world.bus, world.factory, world.outbox, **kw)
    relay.refuse = set(refuse)
    return relay


def test_aggregate_keys_and_strict_order_within_a_transaction(tmp_path: Path) -> None:
    assert aggregate_key("show.updated", {"show_id": 12, "user_id": 3}) == "show:12"
    assert aggregate_key("friendship.accepted", {"user_id": 10, "friend_id": 9}) == "friendship:9:10"
    assert aggregate_key("friendship.removed", {"user_id": 9, "friend_id": 10}) == "friendship:9:10"
    assert aggregate_key("user.deleted", {"user_id": 5}) == "user:5"
    assert aggregate_key("thing.happened", {"x": 1}) == "thing.happened"
    world = World(tmp_path, "")
    ids = world.emit(*[UserRegisteredV1(user_id=i, username=f"u{i}") for i in range(50)])
    rows = world.rows()
    stamps = [rows[i].created_at for i in ids]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert rows[ids[3]].aggregate == "user:3"


def test_a_failing_row_keeps_the_confirmed_ones_and_records_its_attempts(tmp_path: Path) -> None:
    world = World(tmp_path, "")
    ids = world.emit(*[UserRegisteredV1(user_id=i, username=f"u{i}") for i in range(10)])
    relay = _relay(world, refuse={ids[5]}, max_backoff_s=0.2)
    with world.bus.connection() as conn:
        tap = world.tap(conn)
        assert relay.relay_once() == 5  # the five before the failure stay published
        rows = world.rows()
        assert all(rows[i].published_at is not None for i in ids[:5])
        failed = rows[ids[5]]
        assert failed.published_at is None and failed.attempts == 1
        assert failed.last_error == "ConnectionError: broker refused the message"
        assert failed.next_attempt_at is not None and failed.next_attempt_at > utcnow() - timedelta(seconds=1)
        # the others go on while that row backs off
        while relay.relay_once():
            pass
        assert sum(r.published_at is None for r in world.rows().values()) == 1
        time.sleep(0.3)
        assert relay.relay_once() == 0  # still refused: a second attempt, recorded
        assert world.rows()[ids[5]].attempts == 2
        relay.refuse.clear()
        time.sleep(0.3)
        assert relay.relay_once() == 1
        delivered = [m["id"] for m in world.drain(conn, tap)]
    relay._drop_connection()
    assert sorted(delivered) == sorted(ids)  # every event exactly once
    assert all(r.published_at is not None for r in world.rows().values())


def test_a_backing_off_row_holds_back_its_aggregate_only(tmp_path: Path, broker_url: str) -> None:
    world = World(tmp_path, broker_url)
    first, second, other = world.emit(UserRegisteredV1(user_id=1, username="a"), UserDeletedV1(user_id=1),
                                      UserRegisteredV1(user_id=2, username="b"))
    relay = _relay(world, refuse={first}, max_backoff_s=0.3)
    with world.bus.connection() as conn:
        tap = world.tap(conn)
        assert relay.relay_once() == 0
        assert relay.relay_once() == 1  # user 2's event passes; user 1's deletion waits behind its registration
        rows = world.rows()
        assert rows[other].published_at is not None
        assert rows[first].published_at is None and rows[second].published_at is None
        relay.refuse.clear()
        deadline = time.monotonic() + 5
        while any(r.published_at is None for r in world.rows().values()) and time.monotonic() < deadline:
            relay.relay_once()
            time.sleep(0.05)
        order = [(m["type"], m["data"]["user_id"]) for m in world.drain(conn, tap)]
    relay._drop_connection()
    assert order == [("user.registered", 2), ("user.registered", 1), ("user.deleted", 1)]


def test_worker_tasks_ride_the_outbox_after_commit_only_and_retry(tmp_path: Path) -> None:
    world = World(tmp_path, "")
    sent: list[tuple[str, list[Any], str]] = []
    down = {"yes": True}

    def sender(task: str, args: list[Any], queue: str) -> None:
        if down["yes"]:
            raise ConnectionError("broker away")
        sent.append((task, args, queue))

    with pytest.raises(RuntimeError), session_scope(world.factory) as s:  # rolled back: nothing is ever sent
        world.outbox.enqueue_task(s, "media.process_photo", [1], "images", key="media:1")
        raise RuntimeError("the upload failed")
    with session_scope(world.factory) as s:
        world.outbox.emit(s, UserRegisteredV1(user_id=7, username="u7"))
        world.outbox.enqueue_task(s, "media.process_photo", [2], "images", key="media:2")
        world.outbox.enqueue_task(s, "media.process_photo", [2], "images", key="media:2")
    relay = OutboxRelay(world.bus, world.factory, world.outbox, max_backoff_s=0.2, task_sender=sender)
    assert relay.relay_once() == 1  # the event goes; the task backs off with its reason
    task_rows = [r for r in world.rows().values() if r.type == "task:media.process_photo"]
    assert len(task_rows) == 2 and all(r.published_at is None for r in task_rows)
    assert {r.last_error for r in task_rows} == {"ConnectionError: broker away", None}  # the second waits behind
    down["yes"] = False
    deadline = time.monotonic() + 5
    while len(sent) < 2 and time.monotonic() < deadline:
        relay.relay_once()
        time.sleep(0.05)
    relay._drop_connection()
    assert sent == [("media.process_photo", [2], "images")] * 2
    assert all(r.published_at is not None for r in world.rows().values())
    # a relay without a sender never marks a task row sent
    with session_scope(world.factory) as s:
        world.outbox.enqueue_task(s, "shows.catalog.run_job", [3], "catalog")
    bare = OutboxRelay(world.bus, world.factory, world.outbox, max_backoff_s=0.2)
    assert bare.relay_once() == 0
    bare._drop_connection()
    row = next(r for r in world.rows().values() if r.type == "task:shows.catalog.run_job")
    assert row.published_at is None and "no task sender" in (row.last_error or "")


def test_unroutable_events_are_counted_and_not_retried(tmp_path: Path, broker_url: str) -> None:
    world = World(tmp_path, broker_url)
    labels = {"producer": "auth", "type": "chat.message"}
    before = REGISTRY.get_sample_value("outbox_unroutable_total", labels) or 0.0
    (unroutable, routable) = world.emit(ChatMessageV1(message_id=1, concert_id=2, user_id=1, username="u",
                                                      message="hi", created_at=utcnow()),
                                        ShowDeletedV1(show_id=3, user_id=1, concert_id=2))
    relay = OutboxRelay(world.bus, world.factory, world.outbox)
    assert relay.relay_once() == 2
    relay._drop_connection()
    rows = world.rows()
    assert rows[unroutable].published_at is not None and rows[unroutable].attempts == 0
    assert rows[unroutable].last_error == "unroutable: no queue is bound to chat.message"
    assert rows[routable].published_at is not None and rows[routable].last_error is None
    assert REGISTRY.get_sample_value("outbox_unroutable_total", labels) == before + 1
    assert relay.relay_once() == 0  # nothing left to retry
    if not broker_url:  # the filesystem bus wrote no message file for it
        messages = [p.read_text(errors="replace") for p in world.settings.bus_folder.glob("*.msg")]
        assert len(messages) == 2 and not any(unroutable in m for m in messages)  # show.deleted: media, social


def test_prune_deletes_what_is_past_retention_only(tmp_path: Path) -> None:
    world = World(tmp_path, "")
    old, recent, pending = world.emit(*[FriendshipAcceptedV1(user_id=1, friend_id=i) for i in (2, 3, 4)])
    long_ago = utcnow() - timedelta(days=30)
    with session_scope(world.factory) as s:
        rows = {r.id: r for r in s.scalars(select(world.outbox.Event))}
        rows[old].published_at = long_ago
        rows[recent].published_at = utcnow()
        rows[pending].created_at = long_ago  # unpublished: kept however old
        s.add(world.outbox.Processed(consumer="shows", event_id="a", processed_at=long_ago))
        s.add(world.outbox.Processed(consumer="shows", event_id="b", processed_at=utcnow()))
    relay = OutboxRelay(world.bus, world.factory, world.outbox, retention_s=7 * 24 * 3600)
    assert relay.prune(chunk=1) == 2
    assert set(world.rows()) == {recent, pending}
    with world.factory() as s:
        assert list(s.scalars(select(world.outbox.Processed.event_id))) == ["b"]


@pytest.fixture
def consumer_world(tmp_path: Path, broker_url: str) -> Iterator[tuple[World, str, dict[str, Any]]]:
    world = World(tmp_path, broker_url)
    service = f"t{uuid.uuid4().hex[:8]}"  # its own queues, also in the shared RabbitMQ vhost
    state: dict[str, Any] = {"calls": 0, "poison": True, "lock": threading.Lock()}

    subs = Subscriptions(service)

    @subs.on(UserDeletedV1)
    def on_deleted(session: Session, event: UserDeletedV1, _env: EventEnvelope) -> None:
        with state["lock"]:
            state["calls"] += 1
        if state["poison"] and event.user_id == 666:
            raise ValueError("cannot apply this one")
        session.add(world.Applied(user_id=event.user_id))

    consumer = EventConsumer(world.bus, subs, world.factory, world.outbox, topology={service: ["user.deleted"]})
    consumer.start()
    assert consumer.ready.wait(15)
    yield world, service, state
    consumer.stop()


def _applied(world: World) -> list[int]:
    with world.factory() as s:
        return sorted(s.scalars(select(world.Applied.user_id)))


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.1)


def test_a_poison_event_is_dead_lettered_after_the_delivery_limit_on_both_transports(
    consumer_world: tuple[World, str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="shared.messaging")
    world, service, state = consumer_world
    labels = {"service": service, "type": "user.deleted"}
    poison = make_envelope(UserDeletedV1(user_id=666), "auth")
    good = make_envelope(UserDeletedV1(user_id=7), "auth")
    with world.bus.connection() as conn:
        world.bus.publish_envelopes(conn, [poison.model_dump(mode="json"), good.model_dump(mode="json")])
    _wait(lambda: REGISTRY.get_sample_value("bus_dead_lettered_total", labels) == 1.0, 40, "dead-lettered")
    _wait(lambda: _applied(world) == [7], 10, "the good event behind it")
    time.sleep(1.5)
    # five deliveries of the poison event (not more); its handler may also have run once in a batch with the
    # good one, rolled back, before each was applied alone
    deliveries = [r.getMessage() for r in caplog.records if "handler for user.deleted failed" in r.getMessage()]
    assert deliveries == [f"handler for user.deleted failed (delivery {n} of 5)" for n in range(1, 6)]
    assert state["calls"] - 1 in (5, 6)  # the good event's one call, the poison's five (and that batch)
    letters = deadletters.run("list", [service], [], every=False, limit=100, settings=world.settings)
    assert [(x.event_id, x.type, x.reason) for x in letters] == [(str(poison.id), "user.deleted", "rejected")]
    assert letters[0].data == {"user_id": 666, "aggregate_version": 0}
    with world.bus.connection() as conn:  # listing put it back; the consumer queue itself is empty
        assert world.bus.dead_letter_queue(service)(conn.default_channel).queue_declare(passive=True).message_count == 1
        assert Queue(queue_name(service))(conn.default_channel).queue_declare(passive=True).message_count == 0
    # the command line shows it too (same environment as the services)
    monkeypatch.setenv("VAR_DIR", str(world.settings.var_dir))
    monkeypatch.setenv("BUS_EXCHANGE", world.settings.bus_exchange)
    monkeypatch.setenv("BROKER_URL", world.settings.broker_url)
    capsys.readouterr()
    with pytest.raises(SystemExit, match="2"):
        deadletters.main(["replay", "--service", "shows"])  # needs --id or --all
    run_args = ["list", "--json"]
    monkeypatch.setattr(deadletters, "TOPOLOGY", {service: ["user.deleted"]})
    assert deadletters.main(run_args) == 0
    (line,) = capsys.readouterr().out.strip().splitlines()
    assert json.loads(line)["event_id"] == str(poison.id)
    # fixed: replaying hands it to this consumer again, with a fresh delivery count
    state["poison"] = False
    replayed = deadletters.run("replay", [service], [str(poison.id)], every=False, limit=100, settings=world.settings)
    assert [x.event_id for x in replayed] == [str(poison.id)]
    _wait(lambda: _applied(world) == [7, 666], 15, "the replayed event applied")
    assert deadletters.run("list", [service], [], every=False, limit=100, settings=world.settings) == []
    assert dead_letter_queue_name(service) == f"sms.{service}.events.dlq"


def test_a_short_batch_is_not_asked_again_until_a_commit_wakes_the_relay(tmp_path: Path) -> None:
    world = World(tmp_path, "")
    asked: list[int] = []

    class Counting(OutboxRelay):
        def _due_rows(self, session: Session) -> list[Any]:
            rows = super()._due_rows(session)
            asked.append(len(rows))
            return rows

    def published() -> bool:
        return all(r.published_at is not None for r in world.rows().values())

    world.emit(*[UserRegisteredV1(user_id=i, username=f"u{i}") for i in range(3)])
    relay = Counting(world.bus, world.factory, world.outbox, batch_size=2, poll_interval_s=30.0)
    world.outbox.wake.clear()  # those commits came before the relay: it starts by looking anyway
    relay.start()
    try:
        _wait(published, 10, "the first three events")
        time.sleep(0.3)
        assert asked == [2, 1]  # a full batch is followed by another look; the short one is all that was due
        world.emit(UserRegisteredV1(user_id=9, username="u9"))  # its commit wakes the relay
        _wait(published, 10, "the fourth event")
        time.sleep(0.3)
        assert asked == [2, 1, 1]
    finally:
        relay.stop()
