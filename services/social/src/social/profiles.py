"""Opt-in public profiles (issue 16): `/u/{username}` and `GET /api/users/{username}/profile`.

Off by default; a person turns theirs on with `PUT /api/users/me/profile-settings`. social owns the choice (next
to the other privacy settings) and shows owns the data: at every view social asks shows' internal query for the
person's public shows, their counts and top artists, so a show made private leaves the profile at once. An
unknown user and a profile that is off answer the same 404, so the profile says nothing about who exists.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from shared.errors import NotFound
from shared.internal import InternalClient
from social import repository as repo
from social.pages import esc, not_found_page, page

MAX_USERNAME = 64


class ProfileNotFound(NotFound):
    default_code = "profile_not_found"
    default_message = "No public profile here."


def settings(*, session: Session, user_id: int) -> dict[str, bool]:
    """The caller's public profile choice."""
    return {"public_profile": repo.public_profile_on(session, user_id)}


def update_settings(*, session: Session, user_id: int, public_profile: bool) -> dict[str, bool]:
    """Turn the caller's public profile on or off."""
    repo.set_public_profile(session, user_id, public_profile)
    return {"public_profile": public_profile}


def profile(*, session: Session, shows_internal: InternalClient, username: str) -> dict[str, Any]:
    """A person's public profile; ProfileNotFound when they are unknown or have not opted in."""
    user = repo.user_by_username(session, username) if len(username) <= MAX_USERNAME else None
    if user is None or not repo.public_profile_on(session, user.id):
        raise ProfileNotFound()
    data = shows_internal.get_json(f"/internal/users/{user.id}/public-profile")
    return {"user": {"id": user.id, "username": user.username}, "shows": data["shows"], "counts": data["counts"],
            "top_artists": data["top_artists"]}


def render_page(data: dict[str, Any], url: str) -> str:
    """The public profile page: every value escaped, Open Graph and Twitter card tags for previews."""
    name, counts = data["user"]["username"], data["counts"]
    title = f"{name} on ShareMyShows"
    most = f"; most seen: {data['top_artists'][0]['artist']['name']}" if data["top_artists"] else ""
    description = f"{counts['shows']} public shows, {counts['artists']} artists, {counts['venues']} venues{most}."
    top = "".join(f"<li>{esc(t['artist']['name'])} ({t['shows']})</li>" for t in data["top_artists"])
    shows = "".join(f"<li><time>{esc(s['date'])}</time> {esc(s['artist']['name'])} at {esc(s['venue']['name'])}</li>"
                    for s in data["shows"])
    return page(
        title,
        properties=[("og:type", "profile"), ("og:site_name", "ShareMyShows"), ("og:title", title),
                    ("og:description", description), ("og:url", url), ("profile:username", name)],
        names=[("twitter:card", "summary"), ("twitter:title", title), ("twitter:description", description),
               ("description", description)],
        body=(f"<h1>{esc(name)}</h1><p>{esc(description)}</p>"
              + (f"<h2>Top artists</h2><ol>{top}</ol>" if top else "")
              + (f"<h2>Shows</h2><ul>{shows}</ul>" if shows else "<p>No public shows yet.</p>")),
    )


NOT_FOUND_PAGE = not_found_page("No public profile here", "This person does not exist or keeps their profile private.")
