"""Share links: a show's owner makes an unguessable, revocable, optionally expiring public link to it.

social owns the links (next to the other ways people reach each other's shows) and reads the show itself
from shows' internal query at every view, so a public page always shows the show as it is now, and a
deleted show's links die with it (`show.deleted` removes them). Only the token's SHA-256 is stored: the
token is shown once, to the owner who made it.
"""

from __future__ import annotations

import hashlib
import html
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from shared.auth import Principal
from shared.db import iso, utcnow
from shared.errors import NotFound
from shared.internal import InternalClient
from social import repository as repo
from social.clients import ShowsClient
from social.exceptions import NotAllowed, ShowNotFound
from social.models import ShareLink

TOKEN_BYTES = 24  # 192 bits


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
            "created_at": iso(link.created_at), "expires_at": iso(link.expires_at)}


def _owned(shows: ShowsClient, session: Session, show_id: int, user_id: int) -> None:
    access = shows.access(show_id, user_id, session=session)
    if not access.can_view:
        raise ShowNotFound()
    if not access.can_edit:
        raise NotAllowed("Only the show's owner can share it.")


def create(*, session: Session, shows: ShowsClient, principal: Principal, show_id: int,
           expires_in_days: int | None, base_url: str) -> dict[str, Any]:
    """A new share link to the caller's own show: `{token, url, expires_at, ...}` (the token is shown once)."""
    _owned(shows, session, show_id, principal.user_id)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    link = repo.add_share_link(session, token_hash=token_hash(token), token_prefix=token[:6], show_id=show_id,
                               owner_id=principal.user_id, expires_at=expires)
    return {**_link_json(link), "token": token, "url": f"{base_url.rstrip('/')}/s/{token}"}


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


def public_show(*, session: Session, shows_internal: InternalClient, token: str) -> dict[str, Any]:
    """What a share link shows anyone: the show's artist, venue, date, setlist and the owner's name."""
    link = repo.share_link_by_hash(session, token_hash(token)) if len(token) <= 64 else None
    if link is None:
        raise ShareLinkNotFound()
    if _expired(link, utcnow()):
        repo.delete_share_links(session, link_id=link.id)  # nothing kept after it expires
        raise ShareLinkNotFound()
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
    }


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def render_page(data: dict[str, Any], url: str) -> str:
    """The public page of a shared show: every value escaped, Open Graph and Twitter card tags for previews."""
    show, owner = data["show"], data["owner"]["username"]
    title = show["name"] or f"{show['artist_name']} at {show['venue_name']}"
    when = f" on {show['date']}" if show.get("date") else ""
    description = f"{owner or 'Someone'} was at {show['artist_name']} at {show['venue_name']}{when}."
    songs = "".join(f"<li>{_e(s['title'])}</li>" for s in show["setlist"])
    setlist = f"<h2>Setlist</h2><ol>{songs}</ol>" if songs else ""
    meta = "".join(
        f'<meta property="{_e(k)}" content="{_e(v)}">'
        for k, v in (("og:type", "website"), ("og:site_name", "ShareMyShows"), ("og:title", title),
                     ("og:description", description), ("og:url", url))
    ) + "".join(
        f'<meta name="{_e(k)}" content="{_e(v)}">'
        for k, v in (("twitter:card", "summary"), ("twitter:title", title), ("twitter:description", description),
                     ("description", description), ("robots", "noindex"))
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} · ShareMyShows</title>{meta}</head><body><main>"
        f"<h1>{_e(title)}</h1><p>{_e(description)}</p>{setlist}"
        "<p><a href=\"/\">ShareMyShows</a></p></main></body></html>"
    )


NOT_FOUND_PAGE = ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Not found · ShareMyShows</title>'
                  '<meta name="robots" content="noindex"></head><body><h1>This link does not work</h1>'
                  "<p>It does not exist, was revoked or has expired.</p></body></html>")
