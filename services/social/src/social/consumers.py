"""Handlers of other services' events, each declared with its event: versioned copies of users and shows
(order-proof, repaired by the reconciler with the same functions), the feed, and clean-up of deletions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from shared.db import after_commit
from shared.events import (
    CheckinCreatedV1,
    CheckinEndedV1,
    CommentCreatedV1,
    CommentDeletedV1,
    EventEnvelope,
    FriendshipAcceptedV1,
    FriendshipRequestedV1,
    MediaDeletedV1,
    MediaFailedV1,
    MediaReadyV1,
    ShowCreatedV1,
    ShowDeletedV1,
    ShowUpdatedV1,
    UserDeletedV1,
    UserRegisteredV1,
    UserUpdatedV1,
)
from shared.messaging import Subscriptions
from shared.outbox import emit
from social import locations, service
from social import notifications as notes
from social import repository as repo
from social.clients import ShowsClient
from social.models import ShowRef

# a check-in counts for this long (shows' SHOWS_CHECKIN_TTL_HOURS default) unless it ends first
CHECKIN_TTL = locations.CHECKIN_TTL

OnShowChanged = Callable[[int], None]
# (deleted user, their former friends): live grants of theirs go
OnUserDeleted = Callable[[int, list[int]], None]


def on_user(session: Session, item: dict[str, Any], notify: OnUserDeleted | None = None) -> bool:
    """Apply auth's user at a version; a newer deletion removes the user's friendships, comments, chat, feed
    (and `notify` takes their live grants away from open sockets)."""
    if not service.apply_user_item(session, item):
        return False
    if item.get("deleted"):
        uid = int(item["user_id"])
        friends: list[int] = []
        for row in repo.delete_friendships_of(session, uid):
            if row.status == "accepted":
                service.emit_removed(session, row.user_id, row.friend_id)
                friends.append(row.friend_id if row.user_id == uid else row.user_id)
        if notify is not None:
            notify(uid, friends)
        for c in repo.delete_comments(session, user_id=uid):
            emit(session, CommentDeletedV1(comment_id=c.id, show_id=c.show_id, photo_id=c.photo_id, user_id=uid))
        repo.delete_chat(session, user_id=uid)
        repo.delete_feed_items(session, owner_id=uid)
        repo.delete_search_setting(session, uid)
        repo.delete_notifications(session, user_id=uid, actor_id=uid)
        repo.delete_blocks_of(session, uid)
        repo.delete_direct_messages_of(session, uid)
        repo.delete_checkins_of(session, uid)
        repo.delete_share_links(session, owner_id=uid)
        repo.delete_location(session, uid)
        repo.delete_profile_setting(session, uid)
        repo.delete_push_subscriptions_of(session, uid)
    return True


def _show_name(item: dict[str, Any]) -> str:
    if item.get("show_name"):
        return str(item["show_name"])
    artist, venue = item.get("artist_name") or "", item.get("venue_name") or ""
    return f"{artist} at {venue}" if artist else ""


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def apply_show_item(session: Session, item: dict[str, Any]) -> bool:
    """Apply shows' facts of a show at a version (an event's data or a snapshot item); a newer deletion
    also removes the show's comments, feed items and, with the concert's last show, its chat."""
    show_id = int(item["show_id"])
    deleted = bool(item.get("deleted"))
    changed = repo.apply_show(
        session,
        show_id=show_id,
        version=int(item.get("aggregate_version") or 0),
        deleted=deleted,
        concert_id=int(item.get("concert_id") or 0),
        owner_id=int(item.get("user_id") or 0),
        visibility=str(item.get("visibility") or "private"),
        visible_to=item.get("visible_to"),
        show_name=_show_name(item),
        show_date=_date(item.get("date")),
    )
    if changed and deleted:
        repo.delete_comments(session, show_id=show_id)
        repo.delete_feed_items(session, show_id=show_id)
        repo.delete_notifications(session, show_id=show_id)
        repo.delete_share_links(session, show_id=show_id)
        session.flush()
        # chat belongs to the concert: it goes only with the concert's last show
        if not item.get("concert_has_other_shows") and not repo.concert_has_shows(session, int(item["concert_id"])):
            repo.delete_chat(session, concert_id=int(item["concert_id"]))
    return changed


def make_subscriptions(on_show_changed: OnShowChanged | None = None,
                       on_user_deleted_hook: OnUserDeleted | None = None, *, shows: ShowsClient | None = None,
                       live: notes.Live | None = None,
                       push_location: locations.LocationPush | None = None) -> Subscriptions:
    """The social service's event handlers (the hooks drop cached access answers and live grants; `shows`
    answers visibility while a show's copy lags; `live` pushes new notifications to open sockets)."""
    subs = Subscriptions("social")

    def changed(show_id: int) -> None:
        if on_show_changed is not None:
            on_show_changed(show_id)

    @subs.on(UserRegisteredV1, UserUpdatedV1)
    def on_user_facts(session: Session, ev: UserRegisteredV1 | UserUpdatedV1, _: EventEnvelope) -> None:
        on_user(session, {"user_id": ev.user_id, "username": ev.username, "email": ev.email,
                          "version": ev.aggregate_version, "deleted": False})

    @subs.on(UserDeletedV1)
    def on_user_deleted(session: Session, ev: UserDeletedV1, _: EventEnvelope) -> None:
        on_user(session, {"user_id": ev.user_id, "version": ev.aggregate_version, "deleted": True},
                on_user_deleted_hook)

    @subs.on(ShowCreatedV1)
    def on_show_created(session: Session, ev: ShowCreatedV1, envelope: EventEnvelope) -> None:
        applied = apply_show_item(session, ev.model_dump())
        if applied or repo.get_show_ref(session, ev.show_id) is not None:
            # the show is live here (this version or a newer one): it has its feed entry
            repo.upsert_feed_item(session, kind="show", show_id=ev.show_id, media_id=0, owner_id=ev.user_id,
                                  media_kind=None, thumbnail_url=None, url=None, created_at=envelope.occurred_at)
        if applied:
            notes.on_show_logged(session, shows, live, show_id=ev.show_id, owner_id=ev.user_id,
                                 concert_id=ev.concert_id, name=_show_name(ev.model_dump()))
        # no `changed()`: a new show takes no grant away, so no socket has to re-check (that notice went to every
        # instance for every show logged); the only cached answer about a show id not created yet is a
        # "not found" asked for by guessing it, gone within the access cache's 2 s

    @subs.on(ShowUpdatedV1)
    def on_show_updated(session: Session, ev: ShowUpdatedV1, _: EventEnvelope) -> None:
        apply_show_item(session, ev.model_dump())
        changed(ev.show_id)

    @subs.on(ShowDeletedV1)
    def on_show_deleted(session: Session, ev: ShowDeletedV1, _: EventEnvelope) -> None:
        apply_show_item(session, {**ev.model_dump(), "deleted": True})
        changed(ev.show_id)

    @subs.on(MediaReadyV1)
    def on_media_ready(session: Session, ev: MediaReadyV1, envelope: EventEnvelope) -> None:
        ref = session.get(ShowRef, ev.show_id)
        if ref is not None and ref.deleted:
            return  # the show is gone: no feed entry for its media
        repo.upsert_feed_item(session, kind="media", show_id=ev.show_id, media_id=ev.media_id, owner_id=ev.user_id,
                              media_kind=ev.kind, thumbnail_url=ev.thumbnail_url, url=ev.url,
                              created_at=envelope.occurred_at)
        notes.on_media(session, live, ready=True, media_id=ev.media_id, kind=ev.kind, show_id=ev.show_id,
                       owner_id=ev.user_id)

    @subs.on(MediaFailedV1)
    def on_media_failed(session: Session, ev: MediaFailedV1, _: EventEnvelope) -> None:
        notes.on_media(session, live, ready=False, media_id=ev.media_id, kind=ev.kind, show_id=ev.show_id,
                       owner_id=ev.user_id, reason=ev.reason)

    @subs.on(CommentCreatedV1)
    def on_comment_created(session: Session, ev: CommentCreatedV1, _: EventEnvelope) -> None:
        notes.on_comment(session, shows, live, ev.comment_id)

    @subs.on(FriendshipRequestedV1)
    def on_friendship_requested(session: Session, ev: FriendshipRequestedV1, _: EventEnvelope) -> None:
        notes.on_friend_request(session, live, ev.friendship_id)

    @subs.on(FriendshipAcceptedV1)
    def on_friendship_accepted(session: Session, ev: FriendshipAcceptedV1, _: EventEnvelope) -> None:
        notes.on_friend_accepted(session, live, ev.user_id, ev.friend_id, ev.aggregate_version)

    @subs.on(CheckinCreatedV1)
    def on_checkin_created(session: Session, ev: CheckinCreatedV1, envelope: EventEnvelope) -> None:
        at = envelope.occurred_at
        if at < notes.now() - CHECKIN_TTL:
            return  # a stale delivery of a check-in that has expired since
        repo.upsert_checkin(session, user_id=ev.user_id, concert_id=ev.concert_id, show_id=ev.show_id, at=at)
        notes.on_checkin(session, shows, live, user_id=ev.user_id, concert_id=ev.concert_id, show_id=ev.show_id,
                         active_since=notes.now() - CHECKIN_TTL)

    @subs.on(CheckinEndedV1)
    def on_checkin_ended(session: Session, ev: CheckinEndedV1, _: EventEnvelope) -> None:
        repo.end_checkin(session, user_id=ev.user_id, concert_id=ev.concert_id)
        if shows is not None:
            shows.forget_user(ev.user_id)  # a cached "checked in" must not outlive the check-out here
        if repo.delete_location(session, ev.user_id, ev.concert_id) and push_location is not None:
            # nobody sees a position after check-out: friends' maps drop it once this commits
            to = locations.recipients(session, ev.user_id, ev.concert_id, notes.now())
            frame = {"type": "location_removed", "user": {"id": ev.user_id}}
            after_commit(session, lambda: push_location(ev.concert_id, to, frame))

    @subs.on(MediaDeletedV1)
    def on_media_deleted(session: Session, ev: MediaDeletedV1, _: EventEnvelope) -> None:
        repo.delete_feed_items(session, media_id=ev.media_id)
        if ev.kind == "photo":
            for c in repo.delete_comments(session, photo_id=ev.media_id):
                emit(session, CommentDeletedV1(comment_id=c.id, show_id=c.show_id, photo_id=c.photo_id,
                                               user_id=c.user_id or 0))

    return subs
