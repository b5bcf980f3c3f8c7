"""The auth database: declarative base, outbox/inbox models and the request session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from shared.db import make_base
from shared.outbox import make_outbox_models

Base = make_base()
outbox = make_outbox_models(Base, "auth")
OutboxEvent = outbox.Event
ProcessedEvent = outbox.Processed


def session_dependency(request: Request) -> Iterator[Session]:
    """One session per request: committed on success, rolled back on error.

    An error flagged `commit_changes` (failed-attempt counters, a revoked refresh family) is committed
    before it is rendered, so the security state it recorded survives the error response.
    """
    factory: sessionmaker[Session] = request.app.state.session_factory
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException as exc:
        if getattr(exc, "commit_changes", False):
            session.commit()
        else:
            session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(session_dependency, scope="function")]

__all__ = ["Base", "OutboxEvent", "ProcessedEvent", "SessionDep", "outbox"]
