"""Transactional outbox (events written with the change) and inbox (processed event ids)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from shared.db import UTCDateTime, after_commit, utcnow
from shared.events import Event, EventEnvelope, make_envelope


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
        session.add(
            self.Event(
                id=str(envelope.id),
                type=envelope.type,
                version=envelope.version,
                payload=envelope.model_dump(mode="json"),
                created_at=envelope.occurred_at,
            )
        )
        after_commit(session, self.wake.set)
        return envelope


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
        published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
        attempts: Mapped[int] = mapped_column(Integer, default=0)
        last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

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
