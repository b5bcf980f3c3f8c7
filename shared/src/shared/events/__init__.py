"""Versioned event payloads and the envelope every event travels in.

Rules: additive-only within a version; a breaking change is a new V2 class, published alongside V1
while consumers migrate; consumers ignore unknown fields; an unknown (type, version) of a subscribed type
is dead-lettered for a replay after the consumer is upgraded.

Two different versions: `version` (the class attribute, the envelope's `version`) is the schema of the
payload; `aggregate_version` (a field of events about users, shows and friendships) is the owner's
per-aggregate counter, incremented in the transaction that wrote the event, so a copy applies an event
only when it is newer than what it holds (shared.copies).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.db import utcnow


class Event(BaseModel):
    """Base of every event payload; `type` is also the routing key."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    type: ClassVar[str]
    version: ClassVar[int] = 1


class EventEnvelope(BaseModel):
    """What goes on the bus: id for deduplication, type + version for dispatch, and the data."""

    model_config = ConfigDict(extra="ignore")
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    version: int = 1
    occurred_at: dt.datetime = Field(default_factory=utcnow)
    producer: str
    correlation_id: str | None = None
    data: dict[str, Any]


Visibility = Literal["private", "friends", "public"]
MediaKind = Literal["photo", "audio", "video"]


class Versioned(Event):
    """An event about an aggregate with copies elsewhere: carries the owner's version of it (0 = unknown)."""

    aggregate_version: int = 0


class UserRegisteredV1(Versioned):
    """A new account exists (email is for exact-match friend search only; never shown)."""

    type: ClassVar[str] = "user.registered"
    user_id: int
    username: str
    email: str | None = None


class UserUpdatedV1(Versioned):
    """An account's public facts changed (its email, after a confirmed change or its undoing)."""

    type: ClassVar[str] = "user.updated"
    user_id: int
    username: str
    email: str | None = None


class UserDeletedV1(Versioned):
    """An account was deleted; every service removes that user's data (a tombstone at this version)."""

    type: ClassVar[str] = "user.deleted"
    user_id: int


class _ShowFacts(Versioned):
    show_id: int
    user_id: int
    concert_id: int
    visibility: Visibility = "friends"
    visible_to: list[int] | None = None
    artist_name: str = ""
    venue_name: str = ""
    date: dt.date | None = None
    show_name: str = ""


class ShowCreatedV1(_ShowFacts):
    """A person logged a show."""

    type: ClassVar[str] = "show.created"


class ShowUpdatedV1(_ShowFacts):
    """A show's facts (visibility, names, date) changed."""

    type: ClassVar[str] = "show.updated"


class ShowDeletedV1(Versioned):
    """A show was deleted; its media, comments and (if last) chat go with it."""

    type: ClassVar[str] = "show.deleted"
    show_id: int
    user_id: int
    concert_id: int
    concert_has_other_shows: bool = False


class MediaUploadedV1(Event):
    """A media item was stored and queued for processing."""

    type: ClassVar[str] = "media.uploaded"
    media_id: int
    kind: MediaKind
    show_id: int
    user_id: int


class MediaReadyV1(Event):
    """A media item finished processing."""

    type: ClassVar[str] = "media.ready"
    media_id: int
    kind: MediaKind
    show_id: int
    user_id: int
    thumbnail_url: str | None = None
    url: str | None = None


class MediaFailedV1(Event):
    """A media item could not be processed (reason is human-readable)."""

    type: ClassVar[str] = "media.failed"
    media_id: int
    kind: MediaKind
    show_id: int
    user_id: int
    reason: str = ""


class MediaDeletedV1(Event):
    """A media item and its objects were removed."""

    type: ClassVar[str] = "media.deleted"
    media_id: int
    kind: MediaKind
    show_id: int
    user_id: int


class FriendshipAcceptedV1(Versioned):
    """Two people became friends (the version is the pair's, kept by social across unfriend/befriend)."""

    type: ClassVar[str] = "friendship.accepted"
    user_id: int
    friend_id: int


class FriendshipRequestedV1(Event):
    """Someone asked another person to be friends (`friendship_id` is the pending request)."""

    type: ClassVar[str] = "friendship.requested"
    friendship_id: int
    user_id: int  # who asked
    friend_id: int  # who was asked


class FriendshipRemovedV1(Versioned):
    """Two people are no longer friends."""

    type: ClassVar[str] = "friendship.removed"
    user_id: int
    friend_id: int


class CommentCreatedV1(Event):
    """A comment was posted on a show or a photo."""

    type: ClassVar[str] = "comment.created"
    comment_id: int
    show_id: int
    photo_id: int | None = None
    user_id: int


class CommentDeletedV1(Event):
    """A comment was removed."""

    type: ClassVar[str] = "comment.deleted"
    comment_id: int
    show_id: int
    photo_id: int | None = None
    user_id: int


class SessionRevokedV1(Event):
    """A session (its refresh family and every access token carrying its `sid`) was ended."""

    type: ClassVar[str] = "session.revoked"
    sid: str
    user_id: int
    reason: str = ""
    # after this instant no token of the session can still be valid: revocation lists may forget it
    expires_at: dt.datetime


class CheckinCreatedV1(Event):
    """Someone checked in at a concert."""

    type: ClassVar[str] = "checkin.created"
    user_id: int
    concert_id: int
    show_id: int


class CheckinEndedV1(Event):
    """Someone checked out (or their check-in expired)."""

    type: ClassVar[str] = "checkin.ended"
    user_id: int
    concert_id: int
    show_id: int


class ChatMessageV1(Event):
    """A chat message was posted in a concert's live chat."""

    type: ClassVar[str] = "chat.message"
    message_id: int
    concert_id: int
    user_id: int
    username: str
    message: str
    created_at: dt.datetime


EVENT_TYPES: dict[tuple[str, int], type[Event]] = {
    (cls.type, cls.version): cls
    for cls in (
        UserRegisteredV1,
        UserUpdatedV1,
        UserDeletedV1,
        ShowCreatedV1,
        ShowUpdatedV1,
        ShowDeletedV1,
        MediaUploadedV1,
        MediaReadyV1,
        MediaFailedV1,
        MediaDeletedV1,
        FriendshipRequestedV1,
        FriendshipAcceptedV1,
        FriendshipRemovedV1,
        CommentCreatedV1,
        CommentDeletedV1,
        SessionRevokedV1,
        CheckinCreatedV1,
        CheckinEndedV1,
        ChatMessageV1,
    )
}


def make_envelope(event: Event, producer: str, correlation_id: str | None = None) -> EventEnvelope:
    """Wrap a payload for the bus."""
    return EventEnvelope(
        type=event.type,
        version=event.version,
        producer=producer,
        correlation_id=correlation_id,
        data=event.model_dump(mode="json"),
    )


def parse_event(envelope: EventEnvelope) -> Event | None:
    """The typed payload of an envelope, or None for an unknown (type, version)."""
    cls = EVENT_TYPES.get((envelope.type, envelope.version))
    return cls.model_validate(envelope.data) if cls is not None else None
