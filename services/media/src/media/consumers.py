"""Handlers of other services' events (idempotent; they run in the consumer's transaction)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.orm import Session

from media import repository as repo
from media import service
from media.storage import Storage
from shared.events import (
    CommentCreatedV1,
    CommentDeletedV1,
    EventEnvelope,
    ShowCreatedV1,
    ShowDeletedV1,
    ShowUpdatedV1,
    UserDeletedV1,
)
from shared.messaging import Handler

log = logging.getLogger("media.consumers")


def _show_name(event: ShowCreatedV1 | ShowUpdatedV1) -> str:
    if event.show_name:
        return event.show_name
    if event.artist_name and event.venue_name:
        return f"{event.artist_name} at {event.venue_name}"
    return event.artist_name or event.venue_name


def make_handlers(storage_for: Callable[[], Storage]) -> dict[str, Handler]:
    """The media service's event handlers; storage is looked up lazily (it is built with the app)."""

    def on_show_changed(session: Session, envelope: EventEnvelope) -> None:
        cls = ShowCreatedV1 if envelope.type == "show.created" else ShowUpdatedV1
        event = cls.model_validate(envelope.data)
        ref = repo.get_show_ref(session, event.show_id)
        if ref is not None and envelope.type == "show.created":
            return  # an update arrived first (or a replay): keep the newer facts
        repo.upsert_show_ref(session, show_id=event.show_id, owner_id=event.user_id, show_name=_show_name(event),
                             visibility=event.visibility)

    def on_show_deleted(session: Session, envelope: EventEnvelope) -> None:
        event = ShowDeletedV1.model_validate(envelope.data)
        storage = storage_for()
        for item in repo.items_of_show(session, event.show_id):
            service.purge(session, storage, item)  # a storage outage raises: the event is retried
        repo.delete_show_ref(session, event.show_id)

    def on_user_deleted(session: Session, envelope: EventEnvelope) -> None:
        event = UserDeletedV1.model_validate(envelope.data)
        storage = storage_for()
        for item in repo.items_of_user(session, event.user_id):
            service.purge(session, storage, item)

    def on_comment(session: Session, envelope: EventEnvelope) -> None:
        cls = CommentCreatedV1 if envelope.type == "comment.created" else CommentDeletedV1
        event = cls.model_validate(envelope.data)
        if event.photo_id is None:
            return
        repo.bump_comment_count(session, event.photo_id, 1 if envelope.type == "comment.created" else -1)

    return {
        "show.created": on_show_changed,
        "show.updated": on_show_changed,
        "show.deleted": on_show_deleted,
        "user.deleted": on_user_deleted,
        "comment.created": on_comment,
        "comment.deleted": on_comment,
    }
