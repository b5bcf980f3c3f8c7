"""Handlers of other services' events, each declared with the event it handles (idempotent, order-proof)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from shared.events import (
    CommentCreatedV1,
    CommentDeletedV1,
    EventEnvelope,
    FriendshipAcceptedV1,
    FriendshipRemovedV1,
    MediaDeletedV1,
    MediaUploadedV1,
    UserDeletedV1,
    UserRegisteredV1,
)
from shared.messaging import Subscriptions
from shows import service

subscriptions = Subscriptions("shows")


@subscriptions.on(UserRegisteredV1)
def on_user_registered(session: Session, ev: UserRegisteredV1, _: EventEnvelope) -> None:
    """Keep the user copy (ignored if the copy already holds a newer version, e.g. the deletion)."""
    service.on_user(session, {"user_id": ev.user_id, "username": ev.username, "version": ev.aggregate_version,
                              "deleted": False})


@subscriptions.on(UserDeletedV1)
def on_user_deleted(session: Session, ev: UserDeletedV1, _: EventEnvelope) -> None:
    """Tombstone the user; delete their shows (each emits show.deleted) and check-ins."""
    service.on_user(session, {"user_id": ev.user_id, "version": ev.aggregate_version, "deleted": True})


@subscriptions.on(FriendshipAcceptedV1)
def on_friendship_accepted(session: Session, ev: FriendshipAcceptedV1, _: EventEnvelope) -> None:
    """An accepted friendship at the pair's version."""
    service.on_friendship(session, user_id=ev.user_id, friend_id=ev.friend_id, version=ev.aggregate_version,
                          accepted=True)


@subscriptions.on(FriendshipRemovedV1)
def on_friendship_removed(session: Session, ev: FriendshipRemovedV1, _: EventEnvelope) -> None:
    """A removed friendship at the pair's version (an older `accepted` can never bring it back)."""
    service.on_friendship(session, user_id=ev.user_id, friend_id=ev.friend_id, version=ev.aggregate_version,
                          accepted=False)


@subscriptions.on(MediaUploadedV1)
def on_media_uploaded(session: Session, ev: MediaUploadedV1, _: EventEnvelope) -> None:
    """Count a new photo, recording or video of a show."""
    service.on_counter(session, show_id=ev.show_id, kind=ev.kind, delta=1)


@subscriptions.on(MediaDeletedV1)
def on_media_deleted(session: Session, ev: MediaDeletedV1, _: EventEnvelope) -> None:
    """Uncount a removed media item (never below zero)."""
    service.on_counter(session, show_id=ev.show_id, kind=ev.kind, delta=-1)


@subscriptions.on(CommentCreatedV1)
def on_comment_created(session: Session, ev: CommentCreatedV1, _: EventEnvelope) -> None:
    """Count a comment on the show itself (photo comments are counted by media)."""
    if ev.photo_id is None:
        service.on_counter(session, show_id=ev.show_id, kind="comment", delta=1)


@subscriptions.on(CommentDeletedV1)
def on_comment_deleted(session: Session, ev: CommentDeletedV1, _: EventEnvelope) -> None:
    """Uncount a removed show comment (never below zero)."""
    if ev.photo_id is None:
        service.on_counter(session, show_id=ev.show_id, kind="comment", delta=-1)
