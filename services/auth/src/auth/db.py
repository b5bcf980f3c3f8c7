"""The auth database: declarative base, outbox/inbox models and the request session."""

from __future__ import annotations

from shared.db import SessionDep, make_base
from shared.outbox import make_outbox_models

Base = make_base()
outbox = make_outbox_models(Base, "auth")
OutboxEvent = outbox.Event
ProcessedEvent = outbox.Processed

__all__ = ["Base", "OutboxEvent", "ProcessedEvent", "SessionDep", "outbox"]
