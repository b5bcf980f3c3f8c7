"""The bus: a kombu topic exchange, the outbox relay (confirmed publishes) and idempotent consumers."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, TypeVar

from kombu import Connection, Exchange, Producer, Queue
from kombu.message import Message
from prometheus_client import Gauge, Histogram
from sqlalchemy import and_, bindparam, delete, exists, func, or_, select, tuple_, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from shared import metrics
from shared.db import bound_values, insert_for, session_scope, try_transaction_lock, utcnow
from shared.events import EVENT_TYPES, Event, EventEnvelope
from shared.outbox import TASK_PREFIX, Outbox, TaskSender
from shared.settings import BaseServiceSettings

log = logging.getLogger("shared.messaging")

DLX_NAME = "sms.dlx"

# The bus topology: which service's queue is bound to which event types. Publishers declare these
# queues too, so an event emitted before its consumer ever started waits for it instead of being dropped
# as unroutable. Each service declares its subscriptions beside its handlers (`Subscriptions.on`); a
# consumer refuses to start when the two disagree (tests/unit check every service at build time too).
TOPOLOGY: dict[str, list[str]] = {
    "shows": [
        "user.registered", "user.deleted", "friendship.accepted", "friendship.removed",
        "media.uploaded", "media.deleted", "comment.created", "comment.deleted",
    ],
    "media": ["show.created", "show.updated", "show.deleted", "user.deleted", "comment.created", "comment.deleted"],
    "social": [
        "user.registered", "user.updated", "user.deleted", "show.created", "show.updated", "show.deleted",
        "media.ready", "media.deleted",
        # notifications (issue 16): social reacts to its own comments and friend requests too
        "media.failed", "comment.created", "friendship.requested", "friendship.accepted",
        "checkin.created", "checkin.ended",
    ],
}

E = TypeVar("E", bound=Event)
Handler = Callable[[Session, Any, EventEnvelope], None]

COPY_LAG = Gauge(
    "sms_copy_lag_seconds",
    "Age of the oldest event this consumer has received but not applied yet (0 when idle)",
    ["service"],
)
APPLY_DELAY = Histogram(
    "sms_event_apply_delay_seconds",
    "From an event's occurrence to its application by this consumer",
    ["service"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)


class SubscriptionError(RuntimeError):
    """A service's subscriptions do not match the bus topology or name an unknown event."""


class UnknownEventVersion(RuntimeError):
    """An event of a subscribed type arrived with a schema version this service cannot read."""


class Subscriptions:
    """A service's event handlers, each declared with the event class (type and version) it handles."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._handlers: dict[tuple[str, int], Handler] = {}
        self._when: dict[tuple[str, int], Callable[[Any], bool]] = {}

    def on(self, *events: type[Event], when: Callable[[Any], bool] | None = None) -> Callable[[Handler], Handler]:
        """Decorator: `handler(session, event, envelope)` runs for each of these event classes.

        `when(event)` False: the event is acknowledged without opening a transaction, for handlers that have
        nothing to do with part of a type (media and a comment on a show rather than on a photo): applying
        nothing needs no record that it was applied.
        """

        def register(fn: Handler) -> Handler:
            for cls in events:
                key = (cls.type, cls.version)
                if EVENT_TYPES.get(key) is not cls:
                    raise SubscriptionError(f"{cls.__name__} is not a registered event (shared.events.EVENT_TYPES)")
                if key in self._handlers:
                    raise SubscriptionError(f"{self.service}: two handlers for {cls.type} v{cls.version}")
                self._handlers[key] = fn
                if when is not None:
                    self._when[key] = when
            return fn

        return register

    @property
    def types(self) -> list[str]:
        """The routing keys (event types) this service consumes."""
        return sorted({t for t, _ in self._handlers})

    def handler_for(self, envelope: EventEnvelope) -> tuple[Handler, Event] | None:
        """The handler and typed payload of an envelope; None if the type is not subscribed or the handler's
        `when` declines this event."""
        key = (envelope.type, envelope.version)
        fn = self._handlers.get(key)
        if fn is None:
            if envelope.type in self.types:
                raise UnknownEventVersion(f"{self.service} cannot read {envelope.type} v{envelope.version}")
            return None
        event = EVENT_TYPES[key].model_validate(envelope.data)
        when = self._when.get(key)
        if when is not None and not when(event):
            return None
        return fn, event

    def validate(self, topology: dict[str, list[str]] | None = None) -> None:
        """Refuse a mismatch between these handlers and the bus topology of this service."""
        declared = set((topology if topology is not None else TOPOLOGY).get(self.service, []))
        handled = set(self.types)
        if declared - handled:
            raise SubscriptionError(f"{self.service}: subscribed to {sorted(declared - handled)} with no handler")
        if handled - declared:
            raise SubscriptionError(
                f"{self.service}: handlers for {sorted(handled - declared)} are not in shared.messaging.TOPOLOGY"
            )


def queue_name(service: str) -> str:
    """The durable queue a service consumes its events from."""
    return f"sms.{service}.events"


def dead_letter_queue_name(service: str) -> str:
    """Where a service's events go when its consumer gives up on them (both transports)."""
    return f"{queue_name(service)}.dlq"


# Headers the broker (x-death, x-delivery-count) or our filesystem emulation adds to a failing message.
DEATH_HEADERS = ("x-death", "x-first-death-queue", "x-first-death-reason", "x-first-death-exchange",
                 "x-last-death-queue", "x-last-death-reason", "x-last-death-exchange", "x-delivery-count",
                 "x-last-error")


class Publisher:
    """Publishes envelopes on one connection: confirmed (AMQP), persistent, `mandatory`.

    `publish` returns False when no queue took the message. On RabbitMQ the broker returns it (basic.return
    arrives before the confirm); kombu's virtual transports ignore `mandatory`, so the route is looked up first.
    """

    def __init__(self, bus: EventBus, conn: Connection, confirm_timeout_s: float = 10.0) -> None:
        self.bus = bus
        self.channel = conn.default_channel
        self.confirm_timeout_s = confirm_timeout_s
        self._returned: set[str] = set()
        # only py-amqp channels deliver basic.return (virtual channels have no `events`)
        on_return = self._on_return if bus.is_amqp else None
        self.producer = Producer(self.channel, exchange=bus.exchange, on_return=on_return)

    def _on_return(self, exc: Exception, exchange: str, routing_key: str, message: Any) -> None:
        props = getattr(message, "properties", None) or {}
        self._returned.add(str(props.get("message_id", "")))

    def _routable(self, routing_key: str) -> bool:
        if self.bus.is_amqp:
            return True  # the broker tells (basic.return)
        name = self.bus.exchange.name
        channel: Any = self.channel
        return bool(channel.typeof(name).lookup(channel.get_table(name), name, routing_key, None))

    def publish(self, env: dict[str, Any]) -> bool:
        """Publish one envelope; True if at least one queue took it, False if it was unroutable."""
        message_id = str(env["id"])
        if not self._routable(env["type"]):
            return False
        self.producer.publish(
            json.dumps(env, default=str),
            routing_key=env["type"],
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
            mandatory=True,
            message_id=message_id,
            headers={"event_type": env["type"], "event_version": env.get("version", 1)},
            retry=False,
            confirm_timeout=self.confirm_timeout_s,
        )
        if message_id in self._returned:
            self._returned.discard(message_id)
            return False
        return True


class EventBus:
    """Connection details and topology of the domain-event bus."""

    def __init__(self, settings: BaseServiceSettings) -> None:
        self.settings = settings
        self.url = settings.bus_url
        self.transport_options = settings.kombu_transport_options()
        self.is_amqp = self.url.startswith(("amqp", "pyamqp"))
        self.exchange = Exchange(settings.bus_exchange, type="topic", durable=True)
        self.dlx = Exchange(DLX_NAME, type="direct", durable=True)

    def connection(self) -> Connection:
        """A new kombu connection."""
        return Connection(self.url, transport_options=self.transport_options, heartbeat=30)

    def queue(self, service: str, types: Iterable[str]) -> list[Queue]:
        """The consumer queue of `service`, bound once per event type (plus its dead-letter queue)."""
        name = queue_name(service)
        args: dict[str, Any] = {}
        if self.is_amqp:
            args = {
                "x-queue-type": "quorum",
                "x-delivery-limit": 10,
                "x-dead-letter-exchange": DLX_NAME,
                "x-dead-letter-routing-key": f"{name}.dlq",
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            }
        from kombu import binding

        bindings = [binding(self.exchange, routing_key=t) for t in sorted(set(types))]
        queues = [Queue(name, bindings=bindings, durable=True, queue_arguments=args or None)]
        # RabbitMQ dead-letters into it (x-dead-letter-*); on the filesystem transport the consumer does.
        queues.append(self.dead_letter_queue(service))
        return queues

    def dead_letter_queue(self, service: str) -> Queue:
        """The dead-letter queue of a service's consumer queue."""
        name = dead_letter_queue_name(service)
        return Queue(name, exchange=self.dlx, routing_key=name, durable=True)

    def declare_topology(self, conn: Connection, extra: dict[str, Iterable[str]] | None = None) -> None:
        """Declare the exchange and every consumer queue (idempotent)."""
        channel = conn.default_channel
        self.exchange(channel).declare()
        self.dlx(channel).declare()
        topology = {k: list(v) for k, v in TOPOLOGY.items()}
        for svc, types in (extra or {}).items():
            topology.setdefault(svc, []).extend(types)
        for svc, types in topology.items():
            for q in self.queue(svc, types):
                q(channel).declare()

    def publish_envelopes(self, conn: Connection, envelopes: Iterable[dict[str, Any]]) -> None:
        """Publish envelopes with confirms (AMQP), persistent delivery and the event id as message id."""
        publisher = Publisher(self, conn)
        for env in envelopes:
            publisher.publish(env)

    def send_to_queue(self, channel: Any, queue: str, message: Message, headers: dict[str, Any]) -> None:
        """Put a copy of a consumed message straight into one queue (the default exchange routes by name)."""
        props = message.properties or {}
        Producer(channel).publish(
            message.body,
            exchange="",
            routing_key=queue,
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            delivery_mode=2,
            message_id=props.get("message_id"),
            headers=headers,
            retry=False,
        )


def drain_once(conn: Connection, timeout: float) -> bool:
    """Deliver what arrives within `timeout` to the connection's consumers; False if nothing did."""
    try:
        conn.drain_events(timeout=timeout)
    except TimeoutError:
        return False
    except OSError as exc:
        if "timed out" in str(exc):  # some transports raise a plain OSError on an idle timeout
            return False
        raise
    return True


def drain_until_stopped(conn: Connection, stop: threading.Event, poll_s: float = 0.5,
                        after: Callable[[], None] | None = None, more: Callable[[], bool] | None = None) -> None:
    """Deliver messages to the connection's consumers until `stop` is set (idle timeouts are not errors).

    With `after`: once a message has arrived, what is already waiting is delivered too, without waiting, while
    `more()` says there is room for it; then `after()` runs (a consumer applies what it collected at once).
    """
    while not stop.is_set():
        if not drain_once(conn, poll_s):
            continue
        if after is None:
            continue
        while (more is None or more()) and drain_once(conn, 0):
            pass
        after()


class _StoppableThread(threading.Thread):
    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._stop_event = threading.Event()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop_event.set()
        self.join(timeout)


class OutboxRelay(_StoppableThread):
    """Publishes outbox rows in order, marking each published only after the broker confirmed it.

    Each row's outcome is committed with the batch: a publish that fails mid-batch keeps the rows confirmed
    before it (they are never published again) and records its own attempts, last error and next attempt.
    A failing row backs off on its own (1 s, 2 s, 4 s ... up to `max_backoff_s`) and holds back only the
    later rows of its aggregate (`OutboxEvent.aggregate`), so one aggregate's events never overtake each
    other while the others flow. One relay per service publishes at a time (a database lock), so replicas
    cannot reorder an aggregate either. A row no queue takes (no subscriber) is counted and marked relayed.
    """

    def __init__(
        self,
        bus: EventBus,
        session_factory: sessionmaker[Session],
        outbox: Outbox,
        *,
        poll_interval_s: float = 1.0,
        batch_size: int = 200,
        retention_s: float | None = None,
        max_backoff_s: float | None = None,
        prune_interval_s: float = 3600.0,
        task_sender: TaskSender | None = None,
    ) -> None:
        super().__init__(name=f"outbox-relay-{outbox.producer}")
        self.task_sender = task_sender  # where `task:` rows go (the service's Celery app)
        self.bus = bus
        self.session_factory = session_factory
        self.outbox = outbox
        self.poll_interval_s = poll_interval_s
        self.batch_size = batch_size
        self._due: Any = None
        self._mark_relayed: Any = None
        self._mark_failed: Any = None
        self.retention_s = bus.settings.bus_retention_s if retention_s is None else retention_s
        self.max_backoff_s = bus.settings.bus_relay_max_backoff_s if max_backoff_s is None else max_backoff_s
        self.prune_interval_s = prune_interval_s
        self._conn: Connection | None = None
        self._publisher: Publisher | None = None
        self._last_prune = 0.0
        self._last_gauge = 0.0
        self._warned_unroutable: set[str] = set()
        self.contended = False  # the last round found another relay of this service publishing

    def _connection(self) -> Publisher:
        if self._publisher is None:
            conn = self.bus.connection()
            try:
                conn.ensure_connection(max_retries=1)
                self.bus.declare_topology(conn)
            except Exception:
                with contextlib.suppress(Exception):
                    conn.release()
                raise
            self._conn, self._publisher = conn, Publisher(self.bus, conn)
        return self._publisher

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # already broken
                self._conn.release()
        self._conn = self._publisher = None

    def _backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.max_backoff_s, 2.0 ** max(0, attempts - 1)))

    def _due_rows(self, session: Session) -> list[Any]:
        """Unpublished rows in order, leaving out rows backing off and the later rows of their aggregates."""
        if self._due is None:  # built once: building it (an alias's column proxies) cost more than running it
            model = self.outbox.Event
            earlier = aliased(model)
            now = bindparam("now", type_=model.__table__.c.next_attempt_at.type)
            held_back = exists().where(
                earlier.published_at.is_(None),
                earlier.aggregate == model.aggregate,
                earlier.next_attempt_at > now,
                or_(earlier.created_at < model.created_at,
                    and_(earlier.created_at == model.created_at, earlier.id < model.id)),
            )
            # plain rows, not ORM objects: the outcome is written by the UPDATEs below, not by a flush
            self._due = (
                select(model.id, model.type, model.payload, model.attempts)
                .where(model.published_at.is_(None),
                       or_(model.next_attempt_at.is_(None), model.next_attempt_at <= now),
                       ~held_back)
                .order_by(model.created_at, model.id)
                .limit(self.batch_size)
            )
            table = model.__table__
            by_id = table.c.id == bindparam("v_id")
            self._mark_relayed = update(table).where(by_id).values(
                published_at=bindparam("v_at"), next_attempt_at=None, last_error=bindparam("v_error"))
            self._mark_failed = update(table).where(by_id).values(
                attempts=bindparam("v_attempts"), last_error=bindparam("v_error"),
                next_attempt_at=bindparam("v_next"))
        return list(session.execute(self._due, {"now": utcnow()}))

    def relay_once(self) -> int:
        """Publish one batch of due rows; returns how many were relayed (confirmed or found unroutable)."""
        producer = self.outbox.producer
        with session_scope(self.session_factory) as session:
            self.contended = not try_transaction_lock(session, f"outbox-relay:{producer}")
            if self.contended:
                return 0
            rows = self._due_rows(session)
            if not rows:
                return 0
            publisher = self._connection()  # broker unreachable: raise, nothing changes
            relayed: list[dict[str, Any]] = []
            for row in rows:
                try:
                    routed = self._send(publisher, row)
                except Exception as exc:
                    # Keep what was confirmed; this row alone backs off (and its aggregate waits behind it).
                    # The connection may be what failed: stop here, the next round starts on a fresh one.
                    attempts = row.attempts + 1
                    error = f"{type(exc).__name__}: {exc}"[:500]
                    backoff = self._backoff(attempts)
                    session.execute(self._mark_failed, {"v_id": row.id, "v_attempts": attempts, "v_error": error,
                                                        "v_next": utcnow() + backoff})
                    metrics.OUTBOX_PUBLISH_FAILURES.labels(producer, row.type).inc()
                    log.warning("outbox relay (%s): publishing %s %s failed (attempt %d, next in %.0fs): %s",
                                producer, row.type, row.id, attempts, backoff.total_seconds(), error)
                    self._drop_connection()
                    break
                if routed:
                    metrics.OUTBOX_PUBLISHED.labels(producer).inc()
                relayed.append({"v_id": row.id, "v_at": utcnow(), "v_error": None if routed else self._unroutable(row)})
            if relayed:
                session.execute(self._mark_relayed, relayed)
            return len(relayed)

    def _send(self, publisher: Publisher, row: Any) -> bool:
        if not row.type.startswith(TASK_PREFIX):
            return publisher.publish(row.payload)
        if self.task_sender is None:
            raise RuntimeError(f"no task sender in this process for {row.type}")
        payload = row.payload
        self.task_sender(payload["task"], list(payload["args"]), payload["queue"])
        return True

    def _unroutable(self, row: Any) -> str:
        """The reason recorded on a row no queue took (counted and logged)."""
        # Publishers declare every subscription (TOPOLOGY) before publishing, so a message no queue takes has
        # no subscriber by design (chat.message, session.revoked today): retrying cannot change that.
        # The row is marked relayed with the reason and deleted with the others after the retention window.
        metrics.OUTBOX_UNROUTABLE.labels(self.outbox.producer, row.type).inc()
        level = logging.DEBUG if row.type in self._warned_unroutable else logging.WARNING
        self._warned_unroutable.add(row.type)
        log.log(level, "outbox relay (%s): no queue took %s %s (no subscriber); counted in outbox_unroutable_total",
                self.outbox.producer, row.type, row.id)
        return f"unroutable: no queue is bound to {row.type}"

    def update_gauge(self) -> None:
        """Set outbox_oldest_pending_age_seconds from the oldest unpublished row."""
        model = self.outbox.Event
        with self.session_factory() as session:
            oldest = session.scalar(select(func.min(model.created_at)).where(model.published_at.is_(None)))
        age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        metrics.OUTBOX_OLDEST_PENDING.labels(self.outbox.producer).set(max(0.0, age))

    def prune(self, chunk: int = 5000) -> int:
        """Delete published rows and inbox ids older than the retention window, in chunks; returns how many."""
        cutoff = utcnow() - timedelta(seconds=self.retention_s)
        event, processed = self.outbox.Event, self.outbox.Processed
        removed = 0
        while True:
            with session_scope(self.session_factory) as session:
                ids = select(event.id).where(event.published_at < cutoff).limit(chunk).scalar_subquery()
                done: Any = session.execute(delete(event).where(event.id.in_(ids)))
                n = int(done.rowcount)
                pk = tuple_(processed.consumer, processed.event_id)
                keys = select(processed.consumer, processed.event_id).where(processed.processed_at < cutoff)
                done = session.execute(delete(processed).where(pk.in_(keys.limit(chunk))))
                n += int(done.rowcount)
            removed += n
            if n == 0 or self._stop_event.is_set():
                return removed

    def run(self) -> None:
        backoff = 0.5
        while not self._stop_event.is_set():
            try:
                # a short batch was everything due when it was read; rows committed since then set `wake`, so
                # asking again right away would only cost every event a second empty query
                while self.relay_once() >= self.batch_size and not self._stop_event.is_set():
                    pass
                backoff = 0.5
                now = time.monotonic()
                if now - self._last_gauge > 15:
                    self._last_gauge = now
                    self.update_gauge()
                if now - self._last_prune > self.prune_interval_s:
                    self._last_prune = now
                    self.prune()
            except Exception as exc:
                self._drop_connection()
                log.warning("outbox relay (%s) failed, retrying in %.1fs: %s", self.outbox.producer, backoff, exc)
                self._stop_event.wait(backoff)
                backoff = min(backoff * 2, 15.0)
                continue
            if self.contended:  # another replica is mid-batch: look again soon rather than after a full poll
                self._stop_event.wait(0.05)
                continue
            self.outbox.wake.wait(self.poll_interval_s)
            self.outbox.wake.clear()
        self._drop_connection()


class EventConsumer(_StoppableThread):
    """Consumes a service's queue; each event's effect and its inbox row commit together (exactly once)."""

    def __init__(
        self,
        bus: EventBus,
        subscriptions: Subscriptions,
        session_factory: sessionmaker[Session],
        outbox: Outbox,
        *,
        max_local_retries: int = 5,
        topology: dict[str, list[str]] | None = None,
        batch_max: int = 16,
    ) -> None:
        subscriptions.validate(topology)
        service = subscriptions.service
        super().__init__(name=f"event-consumer-{service}")
        self.bus = bus
        self.service = service
        self.subscriptions = subscriptions
        self.session_factory = session_factory
        self.outbox = outbox
        self.max_local_retries = max_local_retries
        # events already delivered when one arrives are applied in one transaction, up to this many (1: each
        # alone); the broker's prefetch window is as large, since a collected event is not acknowledged yet
        self.batch_max = max(1, batch_max)
        self._received: list[tuple[Any, Message]] = []
        self._failures: dict[str, int] = {}
        self._marks: dict[str, Any] = {}
        self._pending: dict[str, float] = {}  # event id -> occurred_at (epoch s) of events not applied yet
        self._lag = COPY_LAG.labels(service)
        self._delay = APPLY_DELAY.labels(service)
        self.ready = threading.Event()
        self.connected_hooks: list[Callable[[], None]] = []

    def handle(self, envelope: EventEnvelope) -> bool:
        """Apply one event unless this consumer already did; True if it ran now."""
        found = self.subscriptions.handler_for(envelope)
        if found is None:
            return False
        with session_scope(self.session_factory) as session:
            return self._apply(session, envelope, *found)

    def handle_batch(self, envelopes: list[EventEnvelope]) -> list[bool]:
        """Apply events in order in one transaction (each unless already applied); True for each that ran now.

        All or nothing: if one handler raises, none of them is applied and the exception propagates (the
        caller applies them one by one to find the failing one). Events a handler declines take no part.
        """
        with session_scope(self.session_factory) as session:
            applied = []
            for envelope in envelopes:
                found = self.subscriptions.handler_for(envelope)
                applied.append(found is not None and self._apply(session, envelope, *found))
            return applied

    def _apply(self, session: Session, envelope: EventEnvelope, handler: Handler, event: Event) -> bool:
        # one statement marks it ours or finds it applied: a concurrent instance's insert of the same event
        # blocks this one until it commits (then nothing is inserted) or rolls back (then it is); a second copy
        # of an event in the same batch finds the first's row
        mark = self._mark_statement(session.get_bind().dialect.name)
        if session.execute(mark, {"v_event_id": str(envelope.id), "v_processed_at": utcnow()}).rowcount == 0:
            return False
        handler(session, event, envelope)
        return True

    def _mark_statement(self, dialect: str) -> Any:
        """The inbox insert, built once per dialect (building it was a tenth of a no-op event's CPU)."""
        mark = self._marks.get(dialect)
        if mark is None:
            table = self.outbox.Processed.__table__
            mark = self._marks[dialect] = insert_for(dialect, table).values(
                consumer=self.service, **bound_values(table, ("event_id", "processed_at"))
            ).on_conflict_do_nothing(index_elements=["consumer", "event_id"])
        return mark

    def lag_s(self) -> float:
        """Age of the oldest received-but-unapplied event (0 when none is pending)."""
        return max(0.0, time.time() - min(self._pending.values())) if self._pending else 0.0

    def _collect(self, body: Any, message: Message) -> None:
        """The kombu callback: keep the message; `_apply_received` applies what arrived together."""
        self._received.append((body, message))

    def _has_room(self) -> bool:
        return len(self._received) < self.batch_max

    def _apply_received(self) -> None:
        """Apply the collected messages: together in one transaction, or one by one if that fails."""
        received, self._received = self._received, []
        batch: list[tuple[EventEnvelope, Message]] = []
        for body, message in received:
            envelope = self._parse(body, message)
            if envelope is not None:
                self._pending.setdefault(str(envelope.id), envelope.occurred_at.timestamp())
                batch.append((envelope, message))
        self._lag.set(self.lag_s())
        # an event that failed before is applied alone: it would likely fail the batch again
        together = [(e, m) for e, m in batch if not self._failed_before(e, m)]
        applied: set[int] = set()
        if len(together) > 1:
            try:
                self.handle_batch([envelope for envelope, _ in together])
            except Exception as exc:  # one of them fails (or a version is unknown): find it alone
                log.debug("%s: a batch of %d events failed (%s); applying them one by one",
                          self.service, len(together), exc)
            else:
                for envelope, message in together:
                    self._done(envelope, message)
                applied = {id(message) for _, message in together}
        for envelope, message in batch:
            if id(message) not in applied:
                self._on_envelope(envelope, message)

    def _failed_before(self, envelope: EventEnvelope, message: Message) -> bool:
        return str(envelope.id) in self._failures or bool((message.headers or {}).get("x-delivery-count"))

    def _parse(self, body: Any, message: Message) -> EventEnvelope | None:
        try:
            raw = json.loads(body) if isinstance(body, str | bytes) else body
            return EventEnvelope.model_validate(raw)
        except Exception as exc:
            log.error("dead-lettering malformed event on %s: %r", self.service, str(body)[:200])
            self._dead_letter(message, "malformed", exc)
            return None

    def _on_envelope(self, envelope: EventEnvelope, message: Message) -> None:
        key = str(envelope.id)
        try:
            self.handle(envelope)
        except UnknownEventVersion as exc:
            # a newer producer's schema: keep it for a replay after this service is upgraded
            self._pending.pop(key, None)
            self._dead_letter(message, envelope.type, exc)
            return
        except Exception as exc:
            self._pending.pop(key, None)
            self._on_failure(message, envelope, exc)
            return
        finally:
            self._lag.set(self.lag_s())
        self._done(envelope, message)

    def _done(self, envelope: EventEnvelope, message: Message) -> None:
        key = str(envelope.id)
        self._failures.pop(key, None)
        occurred = self._pending.pop(key, None)
        if occurred is not None:
            self._delay.observe(max(0.0, time.time() - occurred))
        self._lag.set(self.lag_s())
        message.ack()

    def _on_failure(self, message: Message, envelope: EventEnvelope, exc: Exception) -> None:
        """Retry a failing event a few times, then dead-letter it: the same on RabbitMQ and on the filesystem.

        The delivery count is the larger of this process's count and the message's `x-delivery-count` header
        (set by the quorum queue on RabbitMQ, by the copy we requeue on the filesystem transport), so the
        limit holds across consumer restarts and replicas. A consumer that crashes mid-event on RabbitMQ is
        caught by the queue's own x-delivery-limit (10).
        """
        key = str(envelope.id)
        prior = int((message.headers or {}).get("x-delivery-count") or 0)
        count = max(self._failures.get(key, 0), prior) + 1
        self._failures[key] = count
        log.exception("handler for %s failed (delivery %d of %d)", envelope.type, count, self.max_local_retries)
        if count >= self.max_local_retries:
            self._failures.pop(key, None)
            self._dead_letter(message, envelope.type, exc)
            return
        time.sleep(min(0.2 * 2**count, 5.0))
        if self.bus.is_amqp:
            message.requeue()
        else:
            # kombu's virtual requeue re-routes through the exchange (every subscriber would get it again) and
            # keeps no count: put a counted copy back into this queue only.
            headers = {**(message.headers or {}), "x-delivery-count": count}
            self.bus.send_to_queue(message.channel, queue_name(self.service), message, headers)
            message.ack()

    def _dead_letter(self, message: Message, event_type: str, exc: Exception) -> None:
        """Move a message to this service's dead-letter queue (RabbitMQ does it on reject)."""
        metrics.BUS_DEAD_LETTERED.labels(self.service, event_type).inc()
        if self.bus.is_amqp:
            message.reject(requeue=False)  # x-dead-letter-exchange -> <queue>.dlq, with x-death
            return
        info = message.delivery_info or {}
        source = queue_name(self.service)
        headers = {**(message.headers or {})}
        headers.update({
            # the shape of RabbitMQ's x-death, so operators and `python -m shared.deadletters` read both alike
            "x-death": [{"queue": source, "reason": "rejected", "count": 1, "time": utcnow().isoformat(),
                         "exchange": info.get("exchange", ""), "routing-keys": [info.get("routing_key", "")]}],
            "x-first-death-queue": source,
            "x-first-death-reason": "rejected",
            "x-last-error": f"{type(exc).__name__}: {exc}"[:1000],
        })
        self.bus.send_to_queue(message.channel, dead_letter_queue_name(self.service), message, headers)
        message.ack()
        log.error("dead-lettered %s on %s to %s", event_type, source, dead_letter_queue_name(self.service))

    def run(self) -> None:
        backoff = 0.5
        types = self.subscriptions.types
        queues = self.bus.queue(self.service, types)
        while not self._stop_event.is_set():
            try:
                with self.bus.connection() as conn:
                    conn.ensure_connection(max_retries=1)
                    self.bus.declare_topology(conn, {self.service: types})
                    consume_from = [q for q in queues if not q.name.endswith(".dlq")]
                    self._received = []  # unacknowledged on a lost connection: the broker delivers them again
                    with conn.Consumer(consume_from, callbacks=[self._collect], prefetch_count=max(16, self.batch_max),
                                       accept=["json", "application/json"]):
                        self.ready.set()
                        backoff = 0.5
                        for hook in self.connected_hooks:
                            hook()
                        drain_until_stopped(conn, self._stop_event, after=self._apply_received, more=self._has_room)
            except Exception as exc:
                log.warning("event consumer %s lost the bus, retrying in %.1fs: %s", self.service, backoff, exc)
                self._stop_event.wait(backoff)
                backoff = min(backoff * 2, 15.0)
