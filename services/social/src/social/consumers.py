"""Handlers of other services' events: keep local copies (users, shows, feed) and clean up deletions."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from shared.events import (
    CommentDeletedV1,
    EventEnvelope,
    FriendshipRemovedV1,
    MediaDeletedV1,
    MediaReadyV1,
    ShowCreatedV1,
    ShowDeletedV1,
    ShowUpdatedV1,
    UserDeletedV1,
    UserRegisteredV1,
    parse_event,
)
from shared.messaging import Handler
from shared.outbox import emit
from social import repository as repo
from social.models import ShowRef

OnShowChanged = Callable[[int], None]
# (deleted user, their former friends): live grants of theirs go
OnUserDeleted = Callable[[int, list[int]], None]


def on_user_registered(session: Session, envelope: EventEnvelope) -> None:
    """Keep a local user (username for display, lower-cased email for exact search)."""
    event = parse_event(envelope)
    if isinstance(event, UserRegisteredV1):
        repo.upsert_user(session, event.user_id, event.username, event.email)


def on_user_deleted(session: Session, envelope: EventEnvelope, notify: OnUserDeleted | None = None) -> None:
    """Remove a user's friendships, comments, chat messages, feed items and user row."""
    event = parse_event(envelope)
    if not isinstance(event, UserDeletedV1):
        return
    uid = event.user_id
    friends: list[int] = []
    for row in repo.delete_friendships_of(session, uid):
        if row.status == "accepted":
            emit(session, FriendshipRemovedV1(user_id=row.user_id, friend_id=row.friend_id))
            friends.append(row.friend_id if row.user_id == uid else row.user_id)
    if notify is not None:
        notify(uid, friends)
    for c in repo.delete_comments(session, user_id=uid):
        emit(session, CommentDeletedV1(comment_id=c.id, show_id=c.show_id, photo_id=c.photo_id, user_id=uid))
    repo.delete_chat(session, user_id=uid)
    repo.delete_feed_items(session, owner_id=uid)
    repo.delete_user(session, uid)


def _apply_show(session: Session, event: ShowCreatedV1 | ShowUpdatedV1) -> ShowRef:
    ref = repo.get_show_ref(session, event.show_id)
    if ref is None:
        ref = ShowRef(show_id=event.show_id)
        session.add(ref)
    ref.concert_id = event.concert_id
    ref.owner_id = event.user_id
    ref.visibility = event.visibility
    ref.restricted = event.visible_to is not None
    ref.show_name = event.show_name or (
        f"{event.artist_name} at {event.venue_name}" if event.artist_name else ""
    )
    ref.show_date = event.date
    session.flush()
    repo.set_audience(session, event.show_id, event.visible_to)
    return ref


def make_handlers(on_show_changed: OnShowChanged | None = None,
                  on_user_deleted_hook: OnUserDeleted | None = None) -> dict[str, Handler]:
    """The event handlers of the social service (the hooks drop cached access answers and live grants)."""

    def changed(show_id: int) -> None:
        if on_show_changed is not None:
            on_show_changed(show_id)

    def on_show_created(session: Session, envelope: EventEnvelope) -> None:
        event = parse_event(envelope)
        if not isinstance(event, ShowCreatedV1):
            return
        _apply_show(session, event)
        repo.upsert_feed_item(session, kind="show", show_id=event.show_id, media_id=0, owner_id=event.user_id,
                              media_kind=None, thumbnail_url=None, url=None, created_at=envelope.occurred_at)
        changed(event.show_id)

    def on_show_updated(session: Session, envelope: EventEnvelope) -> None:
        event = parse_event(envelope)
        if isinstance(event, ShowUpdatedV1):
            _apply_show(session, event)
            changed(event.show_id)

    def on_show_deleted(session: Session, envelope: EventEnvelope) -> None:
        event = parse_event(envelope)
        if not isinstance(event, ShowDeletedV1):
            return
        repo.delete_comments(session, show_id=event.show_id)
        repo.delete_feed_items(session, show_id=event.show_id)
        repo.delete_show_ref(session, event.show_id)
        session.flush()
        # chat belongs to the concert: it goes only with the concert's last show
        if not event.concert_has_other_shows and not repo.concert_has_shows(session, event.concert_id):
            repo.delete_chat(session, concert_id=event.concert_id)
        changed(event.show_id)

    def on_media_ready(session: Session, envelope: EventEnvelope) -> None:
        event = parse_event(envelope)
        if isinstance(event, MediaReadyV1):
            repo.upsert_feed_item(session, kind="media", show_id=event.show_id, media_id=event.media_id,
                                  owner_id=event.user_id, media_kind=event.kind, thumbnail_url=event.thumbnail_url,
                                  url=event.url, created_at=envelope.occurred_at)

    def on_media_deleted(session: Session, envelope: EventEnvelope) -> None:
        event = parse_event(envelope)
        if not isinstance(event, MediaDeletedV1):
            return
        repo.delete_feed_items(session, media_id=event.media_id)
        if event.kind == "photo":
            for c in repo.delete_comments(session, photo_id=event.media_id):
                emit(session, CommentDeletedV1(comment_id=c.id, show_id=c.show_id, photo_id=c.photo_id,
                                               user_id=c.user_id or 0))

    return {
        "user.registered": on_user_registered,
        "user.deleted": lambda session, envelope: on_user_deleted(session, envelope, on_user_deleted_hook),
        "show.created": on_show_created,
        "show.updated": on_show_updated,
        "show.deleted": on_show_deleted,
        "media.ready": on_media_ready,
        "media.deleted": on_media_deleted,
    }
