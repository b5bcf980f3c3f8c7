"""The bus: a kombu topic exchange, the outbox relay (confirmed publishes) and idempotent consumers."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from kombu import Connection, Exchange, Producer, Queue
from kombu.message import Message
from prometheus_client import Gauge, Histogram
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from shared.db import session_scope, utcnow
from shared.events import EVENT_TYPES, Event, EventEnvelope
from shared.outbox import Outbox
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
        "user.registered", "user.deleted", "show.created", "show.updated", "show.deleted",
        "media.ready", "media.deleted",
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

    def on(self, *events: type[Event]) -> Callable[[Handler], Handler]:
        """Decorator: `handler(session, event, envelope)` runs for each of these event classes."""

        def register(fn: Handler) -> Handler:
            for cls in events:
                key = (cls.type, cls.version)
                if EVENT_TYPES.get(key) is not cls:
                    raise SubscriptionError(f"{cls.__name__} is not a registered event (shared.events.EVENT_TYPES)")
                if key in self._handlers:
                    raise SubscriptionError(f"{self.service}: two handlers for {cls.type} v{cls.version}")
                self._handlers[key] = fn
            return fn

        return register

    @property
    def types(self) -> list[str]:
        """The routing keys (event types) this service consumes."""
        return sorted({t for t, _ in self._handlers})

    def handler_for(self, envelope: EventEnvelope) -> tuple[Handler, Event] | None:
        """The handler and typed payload of an envelope; None if the type is not subscribed."""
        fn = self._handlers.get((envelope.type, envelope.version))
        if fn is None:
            if envelope.type in self.types:
                raise UnknownEventVersion(f"{self.service} cannot read {envelope.type} v{envelope.version}")
            return None
        cls = EVENT_TYPES[(envelope.type, envelope.version)]
        return fn, cls.model_validate(envelope.data)

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
        if self.is_amqp:
            queues.append(Queue(f"{name}.dlq", exchange=self.dlx, routing_key=f"{name}.dlq", durable=True))
        return queues

    def declare_topology(self, conn: Connection, extra: dict[str, Iterable[str]] | None = None) -> None:
        """Declare the exchange and every consumer queue (idempotent)."""
        channel = conn.default_channel
        self.exchange(channel).declare()
        if self.is_amqp:
            self.dlx(channel).declare()
        topology = {k: list(v) for k, v in TOPOLOGY.items()}
        for svc, types in (extra or {}).items():
            topology.setdefault(svc, []).extend(types)
        for svc, types in topology.items():
            for q in self.queue(svc, types):
                q(channel).declare()

    def publish_envelopes(self, conn: Connection, envelopes: Iterable[dict[str, Any]]) -> None:
        """Publish envelopes with confirms (AMQP), persistent delivery and the event id as message id."""
        producer = Producer(conn.default_channel, exchange=self.exchange)
        for env in envelopes:
            producer.publish(
                json.dumps(env, default=str),
                routing_key=env["type"],
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
                message_id=str(env["id"]),
                headers={"event_type": env["type"], "event_version": env.get("version", 1)},
                retry=False,
            )


def drain_until_stopped(conn: Connection, stop: threading.Event, poll_s: float = 0.5) -> None:
    """Deliver messages to the connection's consumers until `stop` is set (idle timeouts are not errors)."""
    while not stop.is_set():
        try:
            conn.drain_events(timeout=poll_s)
        except TimeoutError:
            continue
        except OSError as exc:
            if "timed out" in str(exc):  # some transports raise a plain OSError on an idle timeout
                continue
            raise


class _StoppableThread(threading.Thread):
    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._stop_event = threading.Event()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop_event.set()
        self.join(timeout)


class OutboxRelay(_StoppableThread):
    """Publishes outbox rows in order, marking each published only after the broker confirmed it."""

    def __init__(
        self,
        bus: EventBus,
        session_factory: sessionmaker[Session],
        outbox: Outbox,
        *,
        poll_interval_s: float = 1.0,
        batch_size: int = 200,
        retention_s: float = 7 * 24 * 3600,
    ) -> None:
        super().__init__(name=f"outbox-relay-{outbox.producer}")
        self.bus = bus
        self.session_factory = session_factory
        self.outbox = outbox
        self.poll_interval_s = poll_interval_s
        self.batch_size = batch_size
        self.retention_s = retention_s
        self._conn: Connection | None = None
        self._declared = False
        self._last_prune = 0.0

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self.bus.connection()
            self._conn.ensure_connection(max_retries=1)
            self._declared = False
        if not self._declared:
            self.bus.declare_topology(self._conn)
            self._declared = True
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # already broken
                self._conn.release()
        self._conn = None

    def relay_once(self) -> int:
        """Publish one batch of pending rows; returns how many were published."""
        model = self.outbox.Event
        with session_scope(self.session_factory) as session:
            stmt = (
                select(model)
                .where(model.published_at.is_(None))
                .order_by(model.created_at, model.id)
                .limit(self.batch_size)
            )
            if session.get_bind().dialect.name == "postgresql":
                # Concurrent relays (replicas) each take different rows instead of double-publishing.
                stmt = stmt.with_for_update(skip_locked=True)
            rows = list(session.scalars(stmt))
            if not rows:
                return 0
            conn = self._connection()
            for row in rows:
                try:
                    self.bus.publish_envelopes(conn, [row.payload])
                except Exception as exc:
                    row.attempts += 1
                    row.last_error = str(exc)[:500]
                    self._drop_connection()
                    raise
                row.published_at = utcnow()
            return len(rows)

    def prune(self) -> None:
        """Delete rows published longer ago than the retention window."""
        from datetime import timedelta

        cutoff = utcnow() - timedelta(seconds=self.retention_s)
        with session_scope(self.session_factory) as session:
            session.execute(delete(self.outbox.Event).where(self.outbox.Event.published_at < cutoff))
            session.execute(delete(self.outbox.Processed).where(self.outbox.Processed.processed_at < cutoff))

    def run(self) -> None:
        backoff = 0.5
        while not self._stop_event.is_set():
            try:
                while self.relay_once() and not self._stop_event.is_set():
                    pass
                backoff = 0.5
                if time.monotonic() - self._last_prune > 3600:
                    self._last_prune = time.monotonic()
                    self.prune()
            except Exception as exc:
                log.warning("outbox relay (%s) failed, retrying in %.1fs: %s", self.outbox.producer, backoff, exc)
                self._stop_event.wait(backoff)
                backoff = min(backoff * 2, 15.0)
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
        self._failures: dict[str, int] = {}
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
        handler, event = found
        processed = self.outbox.Processed
        with session_scope(self.session_factory) as session:
            if session.get(processed, (self.service, str(envelope.id))) is not None:
                return False
            session.add(processed(consumer=self.service, event_id=str(envelope.id), processed_at=utcnow()))
            try:
                session.flush()
            except IntegrityError:  # another instance of this service took it concurrently
                session.rollback()
                return False
            handler(session, event, envelope)
        return True

    def lag_s(self) -> float:
        """Age of the oldest received-but-unapplied event (0 when none is pending)."""
        return max(0.0, time.time() - min(self._pending.values())) if self._pending else 0.0

    def _on_message(self, body: Any, message: Message) -> None:
        try:
            raw = json.loads(body) if isinstance(body, str | bytes) else body
            envelope = EventEnvelope.model_validate(raw)
        except Exception:
            log.error("dropping malformed event on %s: %r", self.service, str(body)[:200])
            message.reject(requeue=False)
            return
        key = str(envelope.id)
        self._pending.setdefault(key, envelope.occurred_at.timestamp())
        self._lag.set(self.lag_s())
        try:
            self.handle(envelope)
        except UnknownEventVersion as exc:
            # a newer producer's schema: keep it for a replay after this service is upgraded
            log.error("%s; sent to the dead-letter queue", exc)
            self._pending.pop(key, None)
            message.reject(requeue=False)
            return
        except Exception:
            count = self._failures.get(key, 0) + 1
            self._failures[key] = count
            log.exception("handler for %s failed (attempt %d)", envelope.type, count)
            if count >= self.max_local_retries:
                self._failures.pop(key, None)
                message.reject(requeue=False)  # to the dead-letter queue on RabbitMQ
            else:
                time.sleep(min(0.2 * 2**count, 5.0))
                message.requeue()
            self._pending.pop(key, None)
            return
        finally:
            self._lag.set(self.lag_s())
        self._failures.pop(key, None)
        occurred = self._pending.pop(key, None)
        if occurred is not None:
            self._delay.observe(max(0.0, time.time() - occurred))
        self._lag.set(self.lag_s())
        message.ack()

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
                    with conn.Consumer(consume_from, callbacks=[self._on_message], prefetch_count=16,
                                       accept=["json", "application/json"]):
                        self.ready.set()
                        backoff = 0.5
                        for hook in self.connected_hooks:
                            hook()
                        drain_until_stopped(conn, self._stop_event)
            except Exception as exc:
                log.warning("event consumer %s lost the bus, retrying in %.1fs: %s", self.service, backoff, exc)
                self._stop_event.wait(backoff)
                backoff = min(backoff * 2, 15.0)
