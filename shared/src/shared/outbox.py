"""Transactional outbox (events written with the change) and inbox (processed event ids)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from shared.db import UTCDateTime, after_commit, utcnow
from shared.events import Event, EventEnvelope, make_envelope

# Which fields of an event name the aggregate it is about, by the event type's family (`show.updated` -> show).
# The relay never lets one aggregate's events overtake each other (docs/architecture.md, "Event delivery").
_AGGREGATE_FIELDS: dict[str, tuple[str, ...]] = {
    "user": ("user_id",),
    "show": ("show_id",),
    "media": ("media_id",),
    "comment": ("comment_id",),
    "friendship": ("user_id", "friend_id"),  # an unordered pair
    "checkin": ("concert_id", "user_id"),
    "chat": ("concert_id",),
}


def aggregate_key(event_type: str, data: Mapping[str, Any]) -> str:
    """The ordering key of an event: `show:12`, `friendship:3:7`; the event type itself when unknown."""
    family = event_type.split(".", 1)[0]
    fields = _AGGREGATE_FIELDS.get(family)
    if not fields or any(data.get(f) is None for f in fields):
        return event_type  # conservative: every event of this type stays in order
    values = [str(data[f]) for f in fields]
    if family == "friendship":
        values.sort(key=lambda v: (len(v), v))  # numeric order of the two ids
    return f"{family}:{':'.join(values)}"[:100]


_LAST_CREATED = "shared_outbox_last_created_at"

# Worker tasks ride the same rows as events (one after-commit path): `task:<name>` rows, whose payload
# names the task, its arguments and its queue, are handed to the service's TaskSender by the relay.
TASK_PREFIX = "task:"
TaskSender = Callable[[str, list[Any], str], None]


def celery_task_sender(celery_app: Any) -> TaskSender:
    """A TaskSender publishing through a Celery app (`send_task`; raises when the broker refuses)."""

    def send(task: str, args: list[Any], queue: str) -> None:
        celery_app.send_task(task, args=args, queue=queue)

    return send


@dataclass
class Outbox:
    """A service's outbox/inbox models plus the signal that wakes its relay."""

    producer: str
    Event: Any
    Processed: Any
    wake: threading.Event = field(default_factory=threading.Event)

    def emit(self, session: Session, event: Event, correlation_id: str | None = None) -> EventEnvelope:
        """Add `event` to the outbox in the caller's transaction; the relay publishes it after commit."""
        if correlation_id is None:
            from shared.logging import request_id_var

            correlation_id = request_id_var.get()
        envelope = make_envelope(event, self.producer, correlation_id)
        created = self._created_at(session, envelope.occurred_at)
        payload = envelope.model_dump(mode="json")
        session.add(
            self.Event(
                id=str(envelope.id),
                type=envelope.type,
                version=envelope.version,
                payload=payload,
                aggregate=aggregate_key(envelope.type, payload["data"]),
                created_at=created,
            )
        )
        after_commit(session, self.wake.set)
        return envelope

    def enqueue_task(self, session: Session, task: str, args: list[Any], queue: str, *, key: str | None = None) -> None:
        """Queue a worker task in the caller's transaction: the relay hands it to the broker after commit, with
        the events' ordering (`key`, default one per task and arguments), retries and bookkeeping."""
        session.add(
            self.Event(
                id=str(uuid.uuid4()),
                type=f"{TASK_PREFIX}{task}"[:64],
                version=1,
                payload={"task": task, "args": args, "queue": queue},
                aggregate=(key or f"{TASK_PREFIX}{task}:{args}")[:100],
                created_at=self._created_at(session, utcnow()),
            )
        )
        after_commit(session, self.wake.set)

    @staticmethod
    def _created_at(session: Session, created: datetime) -> datetime:
        # Rows are relayed in created_at order: two rows of one transaction never share a timestamp.
        last: datetime | None = session.info.get(_LAST_CREATED)
        if last is not None and created <= last:
            created = last + timedelta(microseconds=1)
        session.info[_LAST_CREATED] = created
        return created


_registry: list[Outbox] = []


def make_outbox_models(base: type[DeclarativeBase], producer: str) -> Outbox:
    """Declare `outbox_event` and `processed_event` on a service's Base."""

    class OutboxEvent(base):  # type: ignore[misc,valid-type]
        __tablename__ = "outbox_event"
        id: Mapped[str] = mapped_column(String(36), primary_key=True)
        type: Mapped[str] = mapped_column(String(64))
        version: Mapped[int] = mapped_column(Integer, default=1)
        payload: Mapped[dict[str, Any]] = mapped_column(JSON)
        created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
        # set once the broker confirmed the message (or found no queue for it: see last_error)
        published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
        attempts: Mapped[int] = mapped_column(Integer, default=0)
        last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
        # events of one aggregate are published in order (shared.outbox.aggregate_key)
        aggregate: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
        # a row that failed is retried no earlier than this (its own exponential backoff)
        next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)

    class ProcessedEvent(base):  # type: ignore[misc,valid-type]
        __tablename__ = "processed_event"
        consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
        event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
        processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)

    outbox = Outbox(producer=producer, Event=OutboxEvent, Processed=ProcessedEvent)
    _registry.append(outbox)
    return outbox


def emit(session: Session, event: Event, correlation_id: str | None = None) -> EventEnvelope:
    """Add an event to the outbox of the service this session belongs to."""
    outbox: Outbox | None = session.info.get("outbox")
    if outbox is None:
        if len(_registry) != 1:
            raise RuntimeError("session has no outbox: build it with shared.db sessions from create_service_app")
        outbox = _registry[0]
    return outbox.emit(session, event, correlation_id)
