"""Handlers of other services' events, each declared with its event (idempotent; in the consumer's transaction)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from media import filing, service
from media import repository as repo
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
from shared.messaging import Subscriptions

log = logging.getLogger("media.consumers")


def _show_name(item: dict[str, Any]) -> str:
    if item.get("show_name"):
        return str(item["show_name"])
    artist, venue = item.get("artist_name") or "", item.get("venue_name") or ""
    if artist and venue:
        return f"{artist} at {venue}"
    return str(artist or venue)


def make_show_applier(storage_for: Callable[[], Storage]) -> Callable[[Session, dict[str, Any]], bool]:
    """`apply(session, item)`: shows' facts of a show at a version (an event's data or a snapshot item).

    A newer deletion purges the show's media and objects. The copy row is written (and so locked) first:
    an upload committing at the same moment locks it too, so it either lands before and is purged here,
    or finds the tombstone and is refused (media.service.register_upload).
    """

    def apply(session: Session, item: dict[str, Any]) -> bool:
        show_id = int(item["show_id"])
        deleted = bool(item.get("deleted"))
        changed = repo.apply_show_ref(
            session, show_id=show_id, version=int(item.get("aggregate_version") or 0), deleted=deleted,
            owner_id=int(item.get("user_id") or 0), show_name="" if deleted else _show_name(item),
            visibility=str(item.get("visibility") or "private"),
        )
        if changed and deleted:
            storage = storage_for()
            for media in repo.items_of_show(session, show_id):
                service.purge(session, storage, media)  # a storage outage raises: the event is retried
        return changed

    return apply


def make_subscriptions(storage_for: Callable[[], Storage]) -> Subscriptions:
    """The media service's event handlers; storage is looked up lazily (it is built with the app)."""
    subs = Subscriptions("media")
    apply_show = make_show_applier(storage_for)

    @subs.on(ShowCreatedV1, ShowUpdatedV1)
    def on_show_changed(session: Session, event: ShowCreatedV1 | ShowUpdatedV1, _: EventEnvelope) -> None:
        if apply_show(session, event.model_dump()):
            # a show logged (or re-dated) after its photos were uploaded: what was left unfiled is matched again
            filing.refile_unfiled(session, event.user_id)

    @subs.on(ShowDeletedV1)
    def on_show_deleted(session: Session, event: ShowDeletedV1, _: EventEnvelope) -> None:
        apply_show(session, {**event.model_dump(), "deleted": True})

    @subs.on(UserDeletedV1)
    def on_user_deleted(session: Session, event: UserDeletedV1, _: EventEnvelope) -> None:
        storage = storage_for()
        for item in repo.items_of_user(session, event.user_id):
            service.purge(session, storage, item)

    # photos count their comments; a comment on a show is not media's business
    @subs.on(CommentCreatedV1, CommentDeletedV1, when=lambda event: event.photo_id is not None)
    def on_comment(session: Session, event: CommentCreatedV1 | CommentDeletedV1, envelope: EventEnvelope) -> None:
        assert event.photo_id is not None
        repo.bump_comment_count(session, event.photo_id, 1 if envelope.type == "comment.created" else -1)

    return subs
