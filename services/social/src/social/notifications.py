"""In-app notifications: made by the event consumers, listed and marked read by the API, mailed as digests.

Privacy is checked twice: a notification is made only for someone who may see its show (and has not
blocked its actor), and the listing filters again with the same rule, so a show that was hidden or a
friendship that ended since takes its notifications out of sight.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from shared.db import after_commit, iso, utcnow
from social import repository as repo
from social.clients import ShowsClient
from social.exceptions import InvalidInput, ShowNotFound
from social.models import Notification, User

log = logging.getLogger("social.notifications")

# type -> in the email digest unless the person says otherwise
TYPES: dict[str, bool] = {
    "friend_request": True,
    "friend_accepted": True,
    "comment": True,
    "mention": True,
    "friend_checkin": False,
    "friend_logged": False,
    "media_ready": False,
    "media_failed": True,
}

# (recipient id, frame): hands a frame to the recipient's live sockets once the transaction committed
Live = Callable[[int, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class ShowInfo:
    """What a notification needs of a show: its owner, concert and name."""

    show_id: int
    owner_id: int
    concert_id: int
    name: str


def show_info(session: Session, shows: ShowsClient | None, show_id: int, viewer_id: int) -> ShowInfo | None:
    """The show's facts from the copy (or shows' answer while the copy has not arrived); None when gone."""
    ref = repo.get_show_ref(session, show_id)
    if ref is not None and ref.version > 0:
        return None if ref.deleted else ShowInfo(show_id, ref.owner_id, ref.concert_id, ref.show_name)
    if shows is None:
        return None
    try:
        access = shows.access(show_id, viewer_id, session=session)
    except ShowNotFound:
        return None
    return ShowInfo(show_id, access.owner_id, access.concert_id, getattr(access, "show_name", "") or "")


def can_see(session: Session, shows: ShowsClient | None, show_id: int, viewer_id: int) -> bool:
    """The shared visibility rule for one viewer: on the copy, or asked of shows while the copy lags."""
    ref = repo.get_show_ref(session, show_id)
    if ref is not None and ref.version > 0:
        return not ref.deleted and repo.show_visible_to(session, ref, viewer_id)
    if shows is None:
        return False  # cannot tell: say nothing rather than too much
    try:
        return shows.access(show_id, viewer_id, session=session).can_view
    except ShowNotFound:
        return False


def _user_json(user: User | None, user_id: int | None) -> dict[str, Any] | None:
    if user_id is None:
        return None
    if user is None or user.deleted:
        return {"id": user_id, "username": "deleted user"}
    return {"id": user.id, "username": user.username}


def serialize(n: Notification, actor: User | None) -> dict[str, Any]:
    """A notification as API JSON."""
    return {
        "id": n.id, "type": n.type, "actor": _user_json(actor, n.actor_id), "show_id": n.show_id,
        "concert_id": n.concert_id, "media_id": n.media_id, "text": n.text, "created_at": iso(n.created_at),
        "read_at": iso(n.read_at),
    }


def notify(session: Session, live: Live | None, *, user_id: int, type: str, key: str, actor_id: int | None = None,
           show_id: int | None = None, concert_id: int | None = None, media_id: int | None = None,
           text: str = "") -> Notification | None:
    """Make one notification (once per `key`), unless its actor is the recipient or blocked by them."""
    if actor_id is not None and (actor_id == user_id or repo.is_blocked(session, user_id, actor_id)):
        return None
    recipient = repo.get_user(session, user_id)
    if recipient is not None and recipient.deleted:
        return None
    n = repo.add_notification(session, user_id=user_id, type=type, dedupe_key=key, actor_id=actor_id,
                              show_id=show_id, concert_id=concert_id, media_id=media_id, text=text)
    if n is not None and live is not None:
        frame = {"type": "notification", "notification": serialize(
            n, repo.get_user(session, actor_id) if actor_id is not None else None)}
        after_commit(session, lambda: live(user_id, frame))
    return n


def _name(session: Session, user_id: int) -> str:
    user = repo.get_user(session, user_id)
    return user.username if user is not None and not user.deleted else "Someone"


# ---------------------------------------------------------------- what each event makes


def on_comment(session: Session, shows: ShowsClient | None, live: Live | None, comment_id: int) -> None:
    """The show's owner hears of a comment; people mentioned who may see the show hear of the mention."""
    from social.service import mention_candidates, resolve_mentions

    comment = repo.get_comment(session, comment_id)
    if comment is None or comment.user_id is None:
        return  # deleted before we got here: nothing to tell
    author = comment.user_id
    info = show_info(session, shows, comment.show_id, author)
    if info is None:
        return
    who = _name(session, author)
    where = f" on {info.name}" if info.name else ""
    on_photo = comment.photo_id is not None
    if info.owner_id != author:
        notify(session, live, user_id=info.owner_id, type="comment", key=f"comment:{comment.id}", actor_id=author,
               show_id=info.show_id, concert_id=info.concert_id, media_id=comment.photo_id,
               text=f"{who} commented on your {'photo' if on_photo else 'show'}{where}")
    names: set[str] = set()
    for cand in mention_candidates(comment.text):
        names.update((cand, cand.rstrip(".-")))
    for m in resolve_mentions(comment.text, repo.users_by_usernames(session, names)):
        uid = int(m["user_id"])
        if uid in (author, info.owner_id) or not can_see(session, shows, info.show_id, uid):
            continue
        notify(session, live, user_id=uid, type="mention", key=f"mention:{comment.id}", actor_id=author,
               show_id=info.show_id, concert_id=info.concert_id, media_id=comment.photo_id,
               text=f"{who} mentioned you in a comment{where}")


def on_friend_request(session: Session, live: Live | None, friendship_id: int) -> None:
    """The person asked hears of a request that is still pending."""
    row = repo.get_friendship(session, friendship_id)
    if row is None or row.status != "pending":
        return
    notify(session, live, user_id=row.friend_id, type="friend_request", key=f"friend_request:{row.id}",
           actor_id=row.user_id, text=f"{_name(session, row.user_id)} wants to be your friend")


def on_friend_accepted(session: Session, live: Live | None, requester: int, acceptor: int, version: int) -> None:
    """Whoever asked hears that the other accepted (if they are still friends)."""
    row = repo.friendship_between(session, requester, acceptor)
    if row is None or row.status != "accepted":
        return
    low, high = repo.pair(requester, acceptor)
    notify(session, live, user_id=requester, type="friend_accepted", key=f"friend_accepted:{low}:{high}:{version}",
           actor_id=acceptor, text=f"{_name(session, acceptor)} accepted your friend request")


def on_checkin(session: Session, shows: ShowsClient | None, live: Live | None, *, user_id: int, concert_id: int,
               show_id: int, active_since: datetime) -> None:
    """Friends checked in at the same concert hear that this person arrived (if they may see their show)."""
    here = repo.checked_in_at(session, concert_id, active_since)
    friends = set(repo.friend_ids(session, user_id))
    who = _name(session, user_id)
    for uid in sorted(here & friends):
        if can_see(session, shows, show_id, uid):
            notify(session, live, user_id=uid, type="friend_checkin", key=f"friend_checkin:{user_id}:{concert_id}",
                   actor_id=user_id, show_id=show_id, concert_id=concert_id, text=f"{who} is at this concert too")


def on_show_logged(session: Session, shows: ShowsClient | None, live: Live | None, *, show_id: int, owner_id: int,
                   concert_id: int, name: str) -> None:
    """Friends who logged the same concert hear that this person logged it too (if they may see the show)."""
    who: str | None = None  # looked up only for someone to tell
    for uid in repo.friends_who_logged(session, owner_id, concert_id):
        if can_see(session, shows, show_id, uid):
            who = who or _name(session, owner_id)
            notify(session, live, user_id=uid, type="friend_logged", key=f"friend_logged:{show_id}",
                   actor_id=owner_id, show_id=show_id, concert_id=concert_id,
                   text=f"{who} logged a concert you went to{f': {name}' if name else ''}")


def on_media(session: Session, live: Live | None, *, ready: bool, media_id: int, kind: str, show_id: int,
             owner_id: int, reason: str = "") -> None:
    """The uploader hears that their media is ready, or why it failed."""
    ref = repo.get_show_ref(session, show_id)
    if ref is not None and ref.deleted:
        return
    text = f"Your {kind} is ready" if ready else f"Your {kind} could not be processed{f': {reason}' if reason else ''}"
    notify(session, live, user_id=owner_id, type="media_ready" if ready else "media_failed",
           key=f"media:{media_id}", show_id=show_id, concert_id=ref.concert_id if ref else None, media_id=media_id,
           text=text)


# ---------------------------------------------------------------- the API


def list_notifications(*, session: Session, user_id: int, unread: bool | None, limit: int,
                       offset: int) -> dict[str, Any]:
    """A page of the caller's notifications that they may still see, newest first."""
    rows, total, unread_n = repo.notifications_page(session, user_id, repo.friend_ids(session, user_id),
                                                    repo.blocked_ids(session, user_id), unread=unread, limit=limit,
                                                    offset=offset)
    actors = repo.users_by_ids(session, (n.actor_id for n in rows if n.actor_id is not None))
    return {"notifications": [serialize(n, actors.get(n.actor_id) if n.actor_id else None) for n in rows],
            "total": total, "unread": unread_n}


def unread_count(*, session: Session, user_id: int) -> int:
    """How many visible notifications the caller has not read."""
    _, _, unread_n = repo.notifications_page(session, user_id, repo.friend_ids(session, user_id),
                                             repo.blocked_ids(session, user_id), unread=True, limit=1, offset=0)
    return unread_n


def mark_read(*, session: Session, user_id: int, ids: list[int] | None, all_: bool) -> dict[str, int]:
    """Mark the given notifications (or all) of the caller read."""
    if not all_ and not ids:
        raise InvalidInput('Give "ids" or "all": true.', field="ids")
    changed = repo.mark_read(session, user_id, None if all_ else list(ids or []))
    return {"marked": changed, "unread": unread_count(session=session, user_id=user_id)}


def preferences(*, session: Session, user_id: int) -> dict[str, Any]:
    """The caller's per-type email choices (every type, defaults filled in)."""
    stored = repo.email_prefs(session, user_id)
    return {"email": {t: stored.get(t, default) for t, default in TYPES.items()}}


def update_preferences(*, session: Session, user_id: int, email: dict[str, bool]) -> dict[str, Any]:
    """Change some per-type email choices (unknown types are a 422)."""
    unknown = sorted(set(email) - set(TYPES))
    if unknown:
        raise InvalidInput(f"Unknown notification type: {unknown[0]}.", field="email")
    for t, on in email.items():
        repo.set_email_pref(session, user_id, t, bool(on))
    return preferences(session=session, user_id=user_id)


# ---------------------------------------------------------------- unsubscribe links (no login)


def _link_key(secret: str) -> bytes:
    return hashlib.sha256(b"social-unsubscribe\x00" + secret.encode()).digest()


def unsubscribe_signature(secret: str, user_id: int) -> str:
    """The signature of a person's unsubscribe link (HMAC-SHA256, hex)."""
    return hmac.new(_link_key(secret), f"unsubscribe:{user_id}".encode(), hashlib.sha256).hexdigest()


def unsubscribe_link(base_url: str, secret: str, user_id: int) -> str:
    """The link in every digest that turns the person's email notifications off without signing in."""
    return f"{base_url.rstrip('/')}/api/public/unsubscribe?u={user_id}&s={unsubscribe_signature(secret, user_id)}"


def check_unsubscribe(secret: str, user_id: int, signature: str) -> bool:
    """Whether an unsubscribe link is genuine (constant-time)."""
    return hmac.compare_digest(unsubscribe_signature(secret, user_id), signature)


def unsubscribe(*, session: Session, user_id: int) -> None:
    """Turn every email notification type off for a person."""
    for t in TYPES:
        repo.set_email_pref(session, user_id, t, False)


# ---------------------------------------------------------------- digests


def digest_for(session: Session, user_id: int, *, now: datetime, interval_s: int) -> list[Notification] | None:
    """The notifications of one person's digest now (marked as considered), or None when it is not time."""
    state = repo.lock_digest_state(session, user_id)
    if state.last_sent_at is not None and now - state.last_sent_at < timedelta(seconds=interval_s):
        return None
    pending = repo.pending_digest(session, user_id)
    if not pending:
        return None
    prefs = preferences(session=session, user_id=user_id)["email"]
    friends, blocked = repo.friend_ids(session, user_id), repo.blocked_ids(session, user_id)
    mailable = [n for n in pending if prefs.get(n.type) and repo.notification_visible(session, n, friends, blocked)]
    repo.mark_emailed(session, [n.id for n in pending])  # those not mailable are never mailed later either
    if mailable:
        state.last_sent_at = now
    return mailable


def digest_mail(notifications: list[Notification], unsubscribe_url: str, base_url: str) -> dict[str, Any]:
    """The digest's subject and paragraphs (auth renders and escapes them)."""
    n = len(notifications)
    lines = [x.text for x in notifications[:20]]
    if n > 20:
        lines.append(f"… and {n - 20} more.")
    return {
        "subject": f"{n} new notification{'s' if n != 1 else ''} on ShareMyShows",
        "paragraphs": [f"Here is what happened since your last update ({n}):", *lines,
                       f"See them all: {base_url.rstrip('/')}/notifications",
                       f"To stop these emails: {unsubscribe_url}"],
        "link": unsubscribe_url,
        "link_label": "Unsubscribe from notification emails",
    }


def now() -> datetime:
    """The current time (a seam for tests)."""
    return utcnow()
