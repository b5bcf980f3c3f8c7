"""Thin routes of issue 16: notifications (+ socket, preferences, unsubscribe), direct messages, blocking."""

from __future__ import annotations

import html
import re
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request, Response, WebSocket
from fastapi.responses import HTMLResponse

from shared.auth import CurrentUser
from shared.db import SessionDep, service_router
from shared.errors import ErrorBody
from shared.internal import require_internal
from shared.params import MAX_ID, Offset
from shared.ratelimit import enforce
from social import digest, locations, messages, notifications, profiles, share, webpush
from social.config import SocialSettings
from social.dependencies import (
    DmLimiter,
    Hub,
    Limit,
    Media,
    NotifyHub,
    Push,
    Settings,
    ShowId,
    Shows,
    UserId,
    Users,
)
from social.digest import link_secret
from social.notify_ws import NotificationSocket
from social.schemas import (
    BlockList,
    BlockState,
    ConversationList,
    DirectMessageRead,
    FriendLocationList,
    LocationRead,
    LocationUpdate,
    MarkConversationRead,
    MarkedRead,
    MessageCreate,
    MessagePage,
    NotificationList,
    NotificationPreferences,
    NotificationsRead,
    PresenceSettings,
    ProfileSettings,
    PublicProfile,
    PublicShow,
    PushKey,
    PushSubscriptionCreate,
    PushSubscriptionDelete,
    PushSubscriptionRead,
    ShareLinkCreate,
    ShareLinkCreated,
    ShareLinkList,
    ShareLinkRead,
    ShareLinkUpdate,
)

E = {"model": ErrorBody}
COMMON: dict[int | str, dict[str, Any]] = {401: E, 422: E}

router = service_router()

# ---------------------------------------------------------------- notifications


@router.get("/api/notifications", response_model=NotificationList, tags=["notifications"], responses=COMMON)
def list_notifications(user: CurrentUser, session: SessionDep,
                       unread: Annotated[bool | None, Query(description="only unread (true) or read (false)")] = None,
                       limit: Limit = 20, offset: Offset = 0) -> dict[str, Any]:
    """Your notifications, newest first (only what you may still see)."""
    return notifications.list_notifications(session=session, user_id=user.user_id, unread=unread, limit=limit,
                                            offset=offset)


@router.post("/api/notifications/read", response_model=MarkedRead, tags=["notifications"], responses=COMMON)
def read_notifications(body: NotificationsRead, user: CurrentUser, session: SessionDep) -> dict[str, int]:
    """Mark notifications read: `{"ids": [...]}` or `{"all": true}`."""
    return notifications.mark_read(session=session, user_id=user.user_id, ids=body.ids, all_=body.all)


@router.get("/api/notifications/preferences", response_model=NotificationPreferences, tags=["notifications"],
            responses=COMMON)
def get_preferences(user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """Which notification types go into your email digest."""
    return notifications.preferences(session=session, user_id=user.user_id)


@router.put("/api/notifications/preferences", response_model=NotificationPreferences, tags=["notifications"],
            responses=COMMON)
def put_preferences(body: NotificationPreferences, user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """Change which types go into your email digest (types you leave out keep their setting)."""
    return notifications.update_preferences(session=session, user_id=user.user_id, email=body.email)


@router.get("/api/notifications/push-key", response_model=PushKey, tags=["notifications"],
            responses={**COMMON, 404: E})
def push_key(user: CurrentUser, push: Push) -> dict[str, str]:
    """The VAPID public key to subscribe a browser with; 404 `push_disabled` when Web Push is not configured."""
    return webpush.key(push)


@router.post("/api/notifications/push-subscriptions", status_code=201, response_model=PushSubscriptionRead,
             tags=["notifications"], responses={**COMMON, 404: E})
def add_push_subscription(body: PushSubscriptionCreate, user: CurrentUser, session: SessionDep,
                          push: Push) -> dict[str, str]:
    """Send your notifications to this browser too (its PushSubscription JSON); 422 for an endpoint that is not
    a known push service, 404 `push_disabled` when Web Push is not configured."""
    return webpush.subscribe(session=session, sender=push, user_id=user.user_id, endpoint=body.endpoint,
                             p256dh=body.keys.p256dh, auth=body.keys.auth)


@router.delete("/api/notifications/push-subscriptions", status_code=204, tags=["notifications"],
               responses=COMMON)
def remove_push_subscription(body: PushSubscriptionDelete, user: CurrentUser, session: SessionDep) -> Response:
    """Stop pushing to a browser (idempotent)."""
    webpush.unsubscribe(session=session, user_id=user.user_id, endpoint=body.endpoint)
    return Response(status_code=204)


@router.websocket("/api/notifications/ws")
async def notifications_socket(websocket: WebSocket) -> None:
    """Live notifications and direct messages (JSON frames; see social.notify_ws)."""
    await NotificationSocket(websocket).run()


UNSUB_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="robots" content="noindex"></head><body><h1>{title}</h1><p>{text}</p>{form}</body></html>"""


def _unsub_page(title: str, text: str, form: str = "", status: int = 200) -> HTMLResponse:
    return HTMLResponse(UNSUB_PAGE.format(title=html.escape(title), text=html.escape(text), form=form),
                        status_code=status, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


UnsubUser = Annotated[int, Query(gt=0, le=MAX_ID)]
UnsubSig = Annotated[str, Query(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")]
HTML_404 = {404: {"content": {"text/html": {}}, "description": "The link is not valid"}}


@router.get("/api/public/unsubscribe", response_class=HTMLResponse, tags=["notifications"],
            responses={**HTML_404, 422: E})
def unsubscribe_page(u: UnsubUser, s: UnsubSig, settings: Settings) -> HTMLResponse:
    """The page behind a digest's unsubscribe link (no login): a button that turns the emails off.

    A GET changes nothing (mail scanners open links); the button POSTs to the same address."""
    if not notifications.check_unsubscribe(link_secret(settings), u, s):
        return _unsub_page("Link not valid", "This unsubscribe link is not valid.", status=404)
    action = html.escape(f"/api/public/unsubscribe?u={u}&s={s}", quote=True)
    form = f'<form method="post" action="{action}"><button type="submit">Stop notification emails</button></form>'
    return _unsub_page("Notification emails", "Stop all notification emails from ShareMyShows?", form)


@router.post("/api/public/unsubscribe", response_class=HTMLResponse, tags=["notifications"],
             responses={**HTML_404, 422: E})
def unsubscribe(u: UnsubUser, s: UnsubSig, settings: Settings, session: SessionDep) -> HTMLResponse:
    """Turn every notification email off for the link's person (no login; the link is signed)."""
    if not notifications.check_unsubscribe(link_secret(settings), u, s):
        return _unsub_page("Link not valid", "This unsubscribe link is not valid.", status=404)
    notifications.unsubscribe(session=session, user_id=u)
    return _unsub_page("Unsubscribed", "You will get no more notification emails. You can turn them back on in "
                       "your settings.")


# ---------------------------------------------------------------- direct messages

DM = {**COMMON, 403: E, 404: E}


@router.get("/api/messages", response_model=ConversationList, tags=["messages"], responses=COMMON)
def list_conversations(user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """Your conversations with the last message and how many messages to you are unread."""
    return messages.conversations(session=session, principal=user)


@router.get("/api/messages/{user_id}", response_model=MessagePage, tags=["messages"], responses={**COMMON, 404: E})
def conversation(user_id: UserId, user: CurrentUser, session: SessionDep, users: Users,
                 before: Annotated[int | None, Query(gt=0, le=MAX_ID)] = None,
                 limit: Annotated[int, Query(ge=1, le=100)] = 50) -> dict[str, Any]:
    """Your conversation with someone (history stays after unfriending); `before` pages backwards."""
    return messages.conversation(session=session, principal=user, users=users, other_id=user_id, before=before,
                                 limit=limit)


@router.post("/api/messages/{user_id}", status_code=201, response_model=DirectMessageRead, tags=["messages"],
             responses={**DM, 429: E})
def send_message(user_id: UserId, body: MessageCreate, user: CurrentUser, session: SessionDep, users: Users,
                 hub: NotifyHub, settings: Settings, limiter: DmLimiter) -> dict[str, Any]:
    """Message a friend (≤ 2000 characters); 403 `cannot_message` if you are not friends or a block stands."""
    enforce(limiter, f"dm:{user.user_id}", settings.dm_rate_limit, settings.dm_rate_window_s,
            "You are sending messages too fast; wait a moment.")
    return messages.send(session=session, principal=user, users=users, live=hub.publish, other_id=user_id,
                         text=body.text)


@router.post("/api/messages/{user_id}/read", tags=["messages"], responses={**COMMON, 404: E})
def read_conversation(user_id: UserId, body: MarkConversationRead, user: CurrentUser, session: SessionDep,
                      users: Users, hub: NotifyHub) -> dict[str, int]:
    """Mark messages from someone read (up to a message id, or all); the sender sees the read marker live."""
    return messages.mark_read(session=session, principal=user, users=users, live=hub.publish, other_id=user_id,
                              up_to=body.up_to)


# ---------------------------------------------------------------- blocking


@router.get("/api/users/blocked", response_model=BlockList, tags=["messages"], responses=COMMON)
def list_blocked(user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """The people you block."""
    return messages.blocked(session=session, principal=user)


@router.post("/api/users/{user_id}/block", response_model=BlockState, tags=["messages"],
             responses={**COMMON, 404: E})
def block_user(user_id: UserId, user: CurrentUser, session: SessionDep, users: Users) -> dict[str, Any]:
    """Block someone: no messages either way, no friend requests or mentions from them."""
    return messages.block(session=session, principal=user, users=users, other_id=user_id)


@router.delete("/api/users/{user_id}/block", response_model=BlockState, tags=["messages"], responses=COMMON)
def unblock_user(user_id: UserId, user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """Lift a block."""
    return messages.unblock(session=session, principal=user, other_id=user_id)



# ---------------------------------------------------------------- internal (never routed by the gateway)

internal_router = service_router(prefix="/internal", tags=["internal"], dependencies=[Depends(require_internal)],
                            include_in_schema=False)


@internal_router.post("/notifications/digest")
def run_digest(request: Request) -> dict[str, int]:
    """Run one digest pass now (operators; the e2e tests) instead of waiting for SOCIAL_DIGEST_POLL_S."""
    state = request.app.state
    return {"sent": digest.run_once(state.session_factory, state.auth_internal, state.settings)}


# ---------------------------------------------------------------- share links

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def _client_ip(request: Request) -> str:
    # the gateway puts the client address it determined first in X-Forwarded-For
    xff = request.headers.get("x-forwarded-for", "")
    return xff.split(",")[0].strip() or (request.client.host if request.client else "unknown")


def _public_limit(request: Request, settings: SocialSettings, what: str = "share") -> None:
    limit = settings.share_photo_rate_limit if what == "share-photo" else settings.share_rate_limit
    enforce(request.app.state.share_limiter, f"{what}:{_client_ip(request)}", limit,
            settings.share_rate_window_s, "Too many requests for shared pages; wait a moment.")


@router.post("/api/shows/{show_id}/share-links", status_code=201, response_model=ShareLinkCreated,
             tags=["share links"], responses={**COMMON, 403: E, 404: E, 503: E})
def create_share_link(show_id: ShowId, user: CurrentUser, session: SessionDep, shows: Shows, media: Media,
                      settings: Settings, body: ShareLinkCreate | None = None) -> dict[str, Any]:
    """Make a public link to your show (the token is shown only now; keep it to revoke the link), optionally
    with up to 12 of your ready photos of it (422 `validation_error` for any other photo)."""
    return share.create(session=session, shows=shows, media=media, principal=user, show_id=show_id,
                        expires_in_days=body.expires_in_days if body else None,
                        photo_ids=body.photo_ids if body else None, base_url=settings.public_base_url)


@router.put("/api/share-links/{token}", response_model=ShareLinkRead, tags=["share links"],
            responses={**COMMON, 404: E, 503: E})
def update_share_link(token: Annotated[str, Path(max_length=64)], body: ShareLinkUpdate, user: CurrentUser,
                      session: SessionDep, media: Media) -> dict[str, Any]:
    """Change the photos on one of your live links (422 for photos that are not your ready photos of the show)."""
    return share.update(session=session, media=media, principal=user, token=token, photo_ids=body.photo_ids)


@router.get("/api/shows/{show_id}/share-links", response_model=ShareLinkList, tags=["share links"],
            responses={**COMMON, 403: E, 404: E, 503: E})
def list_share_links(show_id: ShowId, user: CurrentUser, session: SessionDep, shows: Shows) -> dict[str, Any]:
    """The live share links of your show."""
    return share.list_links(session=session, shows=shows, principal=user, show_id=show_id)


@router.delete("/api/share-links/{token}", status_code=204, tags=["share links"], responses={**COMMON, 404: E})
def revoke_share_link(token: Annotated[str, Path(max_length=64)], user: CurrentUser, session: SessionDep) -> Response:
    """Revoke one of your share links: its page and JSON answer 404 from now on."""
    share.revoke(session=session, principal=user, token=token)
    return Response(status_code=204)


@router.get("/api/public/shows/{token}", response_model=PublicShow, tags=["share links"],
            responses={404: E, 429: E, 503: E})
def public_show(token: Annotated[str, Path(max_length=200)], request: Request, session: SessionDep,
                settings: Settings, shows: Shows, media: Media) -> dict[str, Any]:
    """A shared show as JSON, for anyone with the link (no login; 404 once revoked or expired; rate-limited)."""
    _public_limit(request, settings)
    if not TOKEN_RE.match(token):
        raise share.ShareLinkNotFound()
    return share.public_show(session=session, shows_internal=shows.client, media=media, token=token,
                             base_url=settings.public_base_url)


@router.get("/api/public/shows/{token}/photos/{photo_id}/{size}", tags=["share links"],
            responses={200: {"content": {"image/webp": {}}, "description": "The thumbnail"}, 404: E, 422: E,
                       429: E, 503: E})
def public_photo(token: Annotated[str, Path(max_length=200)], photo_id: Annotated[int, Path(gt=0, le=MAX_ID)],
                 size: Annotated[str, Path(pattern="^(medium|large)$")], request: Request, session: SessionDep,
                 settings: Settings, media: Media) -> Response:
    """A photo chosen for a share link (medium ≤ 1024 px, large ≤ 2048 px; no GPS or EXIF), for anyone with the
    link; 404 once the link is revoked or expired or the photo is deleted or taken off the link."""
    _public_limit(request, settings, "share-photo")
    if not TOKEN_RE.match(token):
        raise share.ShareLinkNotFound()
    content, media_type = share.photo_bytes(session=session, media=media, token=token, photo_id=photo_id, size=size)
    # private: no shared cache keeps serving it after the link is revoked
    return Response(content, media_type=media_type, headers={
        "Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"})


@router.get("/s/{token}", response_class=HTMLResponse, tags=["share links"],
            responses={404: {"content": {"text/html": {}}, "description": "Unknown, revoked or expired link"},
                       429: E, 503: E})
def public_page(token: Annotated[str, Path(max_length=200)], request: Request, session: SessionDep,
                settings: Settings, shows: Shows, media: Media) -> HTMLResponse:
    """The public page of a shared show, with Open Graph and Twitter card tags (no login)."""
    _public_limit(request, settings)
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}
    try:
        if not TOKEN_RE.match(token):
            raise share.ShareLinkNotFound()
        data = share.public_show(session=session, shows_internal=shows.client, media=media, token=token,
                                 base_url=settings.public_base_url)
    except share.ShareLinkNotFound:
        return HTMLResponse(share.NOT_FOUND_PAGE, status_code=404, headers=headers)
    url = f"{settings.public_base_url.rstrip('/')}/s/{token}"
    return HTMLResponse(share.render_page(data, url), headers=headers)


# ---------------------------------------------------------------- opt-in public profiles

PUBLIC_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
Username = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/api/users/me/profile-settings", response_model=ProfileSettings, tags=["profiles"],
            responses=COMMON)
def get_profile_settings(user: CurrentUser, session: SessionDep) -> dict[str, bool]:
    """Whether your profile is public."""
    return profiles.settings(session=session, user_id=user.user_id)


@router.put("/api/users/me/profile-settings", response_model=ProfileSettings, tags=["profiles"],
            responses=COMMON)
def put_profile_settings(body: ProfileSettings, user: CurrentUser, session: SessionDep) -> dict[str, bool]:
    """Make your profile public at /u/{username} (your public shows, their counts, top artists) or private."""
    return profiles.update_settings(session=session, user_id=user.user_id, public_profile=body.public_profile)


@router.get("/api/users/{username}/profile", response_model=PublicProfile, tags=["profiles"],
            responses={404: E, 422: E, 429: E, 503: E})
def public_profile(username: Username, request: Request, response: Response, session: SessionDep,
                   settings: Settings, shows: Shows) -> dict[str, Any]:
    """Someone's public profile, for anyone (no login; rate-limited); 404 `profile_not_found` alike for an
    unknown user and a profile that is off."""
    _public_limit(request, settings)
    response.headers.update(PUBLIC_HEADERS)
    return profiles.profile(session=session, shows_internal=shows.client, username=username)


@router.get("/u/{username}", response_class=HTMLResponse, tags=["profiles"],
            responses={404: {"content": {"text/html": {}}, "description": "Unknown user or private profile"},
                       429: E, 503: E})
def public_profile_page(username: Username, request: Request, session: SessionDep, settings: Settings,
                        shows: Shows) -> HTMLResponse:
    """Someone's public profile page with Open Graph and Twitter card tags (no login)."""
    _public_limit(request, settings)
    try:
        data = profiles.profile(session=session, shows_internal=shows.client, username=username)
    except profiles.ProfileNotFound:
        return HTMLResponse(profiles.NOT_FOUND_PAGE, status_code=404, headers=PUBLIC_HEADERS)
    url = f"{settings.public_base_url.rstrip('/')}/u/{data['user']['username']}"
    return HTMLResponse(profiles.render_page(data, url), headers=PUBLIC_HEADERS)


# ---------------------------------------------------------------- friends' positions at a concert

LOCATION_RULE = (" Only accepted friends checked in to the same concert see a position; it expires at check-out "
                 "and at the latest 6 hours after the show's start (its date and local time, made UTC with "
                 "`utc_offset_minutes` or the position's longitude; without a time, 06:00 local the next "
                 "morning); 403 `not_checked_in` if you are not checked in, `location_sharing_over` after that.")


@router.put("/api/shows/{show_id}/location", response_model=LocationRead, tags=["locations"],
            responses={**COMMON, 403: E, 404: E, 503: E}, description="Share your position at the show's "
            "concert (off until you do)." + LOCATION_RULE)
def put_location(show_id: ShowId, body: LocationUpdate, user: CurrentUser, session: SessionDep, shows: Shows,
                 hub: Hub) -> dict[str, Any]:
    """Share or move your position at the concert."""
    return locations.share(session=session, shows=shows, principal=user, show_id=show_id, latitude=body.latitude,
                           longitude=body.longitude, accuracy_m=body.accuracy_m, precision=body.precision,
                           push=hub.publish_location, utc_offset_minutes=body.utc_offset_minutes)


@router.delete("/api/shows/{show_id}/location", status_code=204, tags=["locations"],
               responses={**COMMON, 404: E, 503: E})
def delete_location(show_id: ShowId, user: CurrentUser, session: SessionDep, shows: Shows, hub: Hub) -> Response:
    """Stop sharing your position at the concert (the position is deleted)."""
    locations.stop(session=session, shows=shows, principal=user, show_id=show_id, push=hub.publish_location)
    return Response(status_code=204)


@router.get("/api/shows/{show_id}/friends-locations", response_model=FriendLocationList, tags=["locations"],
            responses={**COMMON, 403: E, 404: E, 503: E}, description="Positions your friends share at the "
            "show's concert; you must be checked in too." + LOCATION_RULE)
def friends_locations(show_id: ShowId, user: CurrentUser, session: SessionDep, shows: Shows) -> dict[str, Any]:
    """Your friends' positions at the concert."""
    return locations.friends_locations(session=session, shows=shows, principal=user, show_id=show_id)


@router.get("/api/chat/presence", response_model=PresenceSettings, tags=["chat"], responses=COMMON)
def get_presence(user: CurrentUser, session: SessionDep) -> dict[str, bool]:
    """Whether you appear offline."""
    return locations.presence(session=session, user_id=user.user_id)


@router.put("/api/chat/presence", response_model=PresenceSettings, tags=["chat"], responses=COMMON)
def put_presence(body: PresenceSettings, user: CurrentUser, session: SessionDep) -> dict[str, bool]:
    """Appear offline: chat sockets you open from now on are left out of presence and active users."""
    return locations.set_presence(session=session, user_id=user.user_id, appear_offline=body.appear_offline)
