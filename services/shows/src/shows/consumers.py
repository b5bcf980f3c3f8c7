"""Handlers of other services' events: translate each into a service call (idempotent)."""

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
from shared.messaging import Handler
from shows import service


def on_user_registered(session: Session, envelope: EventEnvelope) -> None:
    """Keep the local user copy."""
    ev = UserRegisteredV1.model_validate(envelope.data)
    service.on_user_registered(session, user_id=ev.user_id, username=ev.username)


def on_user_deleted(session: Session, envelope: EventEnvelope) -> None:
    """Delete the user's shows (each emits show.deleted) and local copies."""
    ev = UserDeletedV1.model_validate(envelope.data)
    service.on_user_deleted(session, user_id=ev.user_id)


def on_friendship_accepted(session: Session, envelope: EventEnvelope) -> None:
    """Remember an accepted friendship."""
    ev = FriendshipAcceptedV1.model_validate(envelope.data)
    service.on_friendship(session, user_id=ev.user_id, friend_id=ev.friend_id, accepted=True)


def on_friendship_removed(session: Session, envelope: EventEnvelope) -> None:
    """Forget a friendship."""
    ev = FriendshipRemovedV1.model_validate(envelope.data)
    service.on_friendship(session, user_id=ev.user_id, friend_id=ev.friend_id, accepted=False)


def on_media_uploaded(session: Session, envelope: EventEnvelope) -> None:
    """Count a new photo, recording or video of a show."""
    ev = MediaUploadedV1.model_validate(envelope.data)
    service.on_counter(session, show_id=ev.show_id, kind=ev.kind, delta=1)


def on_media_deleted(session: Session, envelope: EventEnvelope) -> None:
    """Uncount a removed media item (never below zero)."""
    ev = MediaDeletedV1.model_validate(envelope.data)
    service.on_counter(session, show_id=ev.show_id, kind=ev.kind, delta=-1)


def on_comment_created(session: Session, envelope: EventEnvelope) -> None:
    """Count a comment on the show itself (photo comments are counted by media)."""
    ev = CommentCreatedV1.model_validate(envelope.data)
    if ev.photo_id is None:
        service.on_counter(session, show_id=ev.show_id, kind="comment", delta=1)


def on_comment_deleted(session: Session, envelope: EventEnvelope) -> None:
    """Uncount a removed show comment (never below zero)."""
    ev = CommentDeletedV1.model_validate(envelope.data)
    if ev.photo_id is None:
        service.on_counter(session, show_id=ev.show_id, kind="comment", delta=-1)


HANDLERS: dict[str, Handler] = {
    "user.registered": on_user_registered,
    "user.deleted": on_user_deleted,
    "friendship.accepted": on_friendship_accepted,
    "friendship.removed": on_friendship_removed,
    "media.uploaded": on_media_uploaded,
    "media.deleted": on_media_deleted,
    "comment.created": on_comment_created,
    "comment.deleted": on_comment_deleted,
}
