"""Share links: a show's owner makes an unguessable, revocable, optionally expiring public link to it.

social owns the links (next to the other ways people reach each other's shows) and reads the show itself
from shows' internal query at every view, so a public page always shows the show as it is now, and a
deleted show's links die with it (`show.deleted` removes them). Only the token's SHA-256 is stored: the
token is shown once, to the owner who made it.

A link may carry up to 12 of the owner's ready photos of the show, chosen by the owner (media checks them when
chosen and again at every view, so a deleted or moved photo drops out). Their thumbnails are reachable
anonymously only through the token, at `/api/public/shows/{token}/photos/{id}/{size}`, which social answers by
fetching the bytes from media's internal endpoint: never a guessable URL, never a photo that is not chosen,
404 once the link is revoked or expired.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from shared.auth import Principal
from shared.db import iso, utcnow
from shared.errors import NotFound, ServiceUnavailable, ValidationFailed
from shared.internal import InternalClient
from social import repository as repo
from social.clients import MediaClient, ShowsClient
from social.exceptions import NotAllowed, ShowNotFound
from social.models import ShareLink
from social.pages import esc, not_found_page, page

TOKEN_BYTES = 24  # 192 bits
PHOTO_SIZES = ("medium", "large")  # medium on the page and as og:image, large to open


class ShareLinkNotFound(NotFound):
    default_code = "share_link_not_found"
    default_message = "This link does not exist, was revoked or has expired."


def token_hash(token: str) -> str:
    """What is stored of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _expired(link: ShareLink, now: datetime) -> bool:
    return link.expires_at is not None and link.expires_at <= now


def _link_json(link: ShareLink) -> dict[str, Any]:
    return {"id": link.id, "show_id": link.show_id, "token_prefix": link.token_prefix,
            "created_at": iso(link.created_at), "expires_at": iso(link.expires_at),
            "photo_ids": list(link.photo_ids or [])}


class SharedPhotoNotFound(NotFound):
    default_code = "photo_not_found"
    default_message = "This photo is not on this link."


def owner_photos(media: MediaClient, *, show_id: int, owner_id: int, ids: list[int]) -> list[dict[str, Any]]:
    """Those of `ids` that are still the owner's ready photos of the show, in order (asked of media)."""
    if not ids:
        return []
    data = media.client.get_json(f"/internal/media/shows/{show_id}/owner-photos",
                                 params={"user_id": owner_id, "ids": ",".join(map(str, ids))})
    return list(data.get("photos") or [])


def _chosen(media: MediaClient, *, show_id: int, owner_id: int, photo_ids: list[int] | None) -> list[int] | None:
    """The chosen photo ids, each checked to be the owner's ready photo of the show (422 otherwise)."""
    if not photo_ids:
        return None
    ids = list(dict.fromkeys(photo_ids))
    found = {int(p["id"]) for p in owner_photos(media, show_id=show_id, owner_id=owner_id, ids=ids)}
    wrong = [i for i in ids if i not in found]
    if wrong:
        raise ValidationFailed(f"Not your ready photos of this show: {', '.join(map(str, wrong))}.",
                               field="photo_ids")
    return ids


def _owned(shows: ShowsClient, session: Session, show_id: int, user_id: int) -> None:
    access = shows.access(show_id, user_id, session=session)
    if not access.can_view:
        raise ShowNotFound()
    if not access.can_edit:
        raise NotAllowed("Only the show's owner can share it.")


def create(*, session: Session, shows: ShowsClient, media: MediaClient, principal: Principal, show_id: int,
           expires_in_days: int | None, photo_ids: list[int] | None, base_url: str) -> dict[str, Any]:
    """A new share link to the caller's own show: `{token, url, expires_at, ...}` (the token is shown once)."""
    _owned(shows, session, show_id, principal.user_id)
    chosen = _chosen(media, show_id=show_id, owner_id=principal.user_id, photo_ids=photo_ids)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    link = repo.add_share_link(session, token_hash=token_hash(token), token_prefix=token[:6], show_id=show_id,
                               owner_id=principal.user_id, expires_at=expires, photo_ids=chosen)
    return {**_link_json(link), "token": token, "url": f"{base_url.rstrip('/')}/s/{token}"}


def _own_live_link(session: Session, principal: Principal, token: str) -> ShareLink:
    link = repo.share_link_by_hash(session, token_hash(token))
    if link is None or link.owner_id != principal.user_id or _expired(link, utcnow()):
        raise ShareLinkNotFound()
    return link


def update(*, session: Session, media: MediaClient, principal: Principal, token: str,
           photo_ids: list[int]) -> dict[str, Any]:
    """Change the photos on one of the caller's live links (an empty list takes them all off)."""
    link = _own_live_link(session, principal, token)
    link.photo_ids = _chosen(media, show_id=link.show_id, owner_id=link.owner_id, photo_ids=photo_ids)
    session.flush()
    return _link_json(link)


def list_links(*, session: Session, shows: ShowsClient, principal: Principal, show_id: int) -> dict[str, Any]:
    """The live share links of the caller's own show (without tokens)."""
    _owned(shows, session, show_id, principal.user_id)
    now = utcnow()
    links = [link for link in repo.share_links_of_show(session, show_id) if not _expired(link, now)]
    return {"links": [_link_json(link) for link in links], "total": len(links)}


def revoke(*, session: Session, principal: Principal, token: str) -> None:
    """Revoke one of the caller's links (404 for anyone else's or an unknown token)."""
    link = repo.share_link_by_hash(session, token_hash(token))
    if link is None or link.owner_id != principal.user_id:
        raise ShareLinkNotFound()
    repo.delete_share_links(session, link_id=link.id)


def _live_link(session: Session, token: str) -> ShareLink:
    """The link behind a token while it lives (an expired one is deleted: nothing kept after it expires)."""
    link = repo.share_link_by_hash(session, token_hash(token)) if len(token) <= 64 else None
    if link is None:
        raise ShareLinkNotFound()
    if _expired(link, utcnow()):
        repo.delete_share_links(session, link_id=link.id)
        raise ShareLinkNotFound()
    return link


def _photos(media: MediaClient, link: ShareLink, token: str, base_url: str) -> list[dict[str, Any]]:
    """The chosen photos still valid, with their token-bound image URLs; none while media is down (the page
    still shows the rest)."""
    try:
        found = owner_photos(media, show_id=link.show_id, owner_id=link.owner_id, ids=list(link.photo_ids or []))
    except ServiceUnavailable:
        return []
    base = f"{base_url.rstrip('/')}/api/public/shows/{token}/photos"
    return [{"id": int(p["id"]), "url": f"{base}/{p['id']}/large", "thumbnail_url": f"{base}/{p['id']}/medium",
             "width": p.get("width"), "height": p.get("height")} for p in found]


def public_show(*, session: Session, shows_internal: InternalClient, media: MediaClient, token: str,
                base_url: str) -> dict[str, Any]:
    """What a share link shows anyone: the show's artist, venue, date, setlist, the owner's name and the photos
    they chose."""
    link = _live_link(session, token)
    try:
        info = shows_internal.get_json(f"/internal/shows/{link.show_id}")
    except NotFound:
        raise ShareLinkNotFound() from None
    if int(info.get("owner_id") or 0) != link.owner_id:
        raise ShareLinkNotFound()
    owner = repo.get_user(session, link.owner_id)
    return {
        "show": {
            "id": link.show_id,
            "name": str(info.get("show_name") or ""),
            "artist_name": str(info.get("artist_name") or ""),
            "venue_name": str(info.get("venue_name") or ""),
            "date": info.get("date"),
            "setlist": [{"position": int(s["position"]), "title": str(s["title"])} for s in info.get("setlist") or []],
        },
        "owner": {"username": owner.username if owner is not None and not owner.deleted else ""},
        "expires_at": iso(link.expires_at),
        "photos": _photos(media, link, token, base_url),
    }


def photo_bytes(*, session: Session, media: MediaClient, token: str, photo_id: int, size: str) -> tuple[bytes, str]:
    """(bytes, content type) of a chosen photo's thumbnail through a live link; 404 for anything else."""
    link = _live_link(session, token)
    if photo_id not in (link.photo_ids or []) or size not in PHOTO_SIZES:
        raise SharedPhotoNotFound()
    resp = media.client.request("GET", f"/internal/media/shows/{link.show_id}/owner-photos/{photo_id}/{size}",
                                params={"user_id": link.owner_id})
    if resp.status_code == 404:
        raise SharedPhotoNotFound()  # deleted, moved or no longer ready
    if resp.status_code != 200:
        raise ServiceUnavailable("The media service failed; try again shortly.", headers={"Retry-After": "2"})
    return resp.content, resp.headers.get("content-type", "application/octet-stream")


def _size_attrs(photo: dict[str, Any]) -> str:
    """width/height of the medium thumbnail (long edge ≤ 1024) so the page does not jump while images load."""
    w, h = photo.get("width"), photo.get("height")
    if not w or not h:
        return ""
    scale = min(1.0, 1024 / max(w, h))
    return f' width="{round(w * scale)}" height="{round(h * scale)}"'


def render_page(data: dict[str, Any], url: str) -> str:
    """The public page of a shared show: every value escaped, Open Graph and Twitter card tags for previews."""
    show, owner = data["show"], data["owner"]["username"]
    title = show["name"] or f"{show['artist_name']} at {show['venue_name']}"
    when = f" on {show['date']}" if show.get("date") else ""
    description = f"{owner or 'Someone'} was at {show['artist_name']} at {show['venue_name']}{when}."
    songs = "".join(f"<li>{esc(s['title'])}</li>" for s in show["setlist"])
    setlist = f"<h2>Setlist</h2><ol>{songs}</ol>" if songs else ""
    photos = data.get("photos") or []
    figures = "".join(
        f'<a href="{esc(p["url"])}"><img src="{esc(p["thumbnail_url"])}" alt="Photo {i} of {esc(title)}" '
        f'loading="lazy"{_size_attrs(p)}></a>' for i, p in enumerate(photos, 1))
    gallery = f'<h2>Photos</h2><div class="photos">{figures}</div>' if figures else ""
    image = [photos[0]["thumbnail_url"]] if photos else []
    return page(
        f"{title} · ShareMyShows",
        properties=[("og:type", "website"), ("og:site_name", "ShareMyShows"), ("og:title", title),
                    ("og:description", description), ("og:url", url), *(("og:image", v) for v in image)],
        names=[("twitter:card", "summary_large_image" if photos else "summary"), ("twitter:title", title),
               ("twitter:description", description), *(("twitter:image", v) for v in image),
               ("description", description), ("robots", "noindex")],
        body=f"<h1>{esc(title)}</h1><p>{esc(description)}</p>{setlist}{gallery}",
    )


NOT_FOUND_PAGE = not_found_page("This link does not work", "It does not exist, was revoked or has expired.")
