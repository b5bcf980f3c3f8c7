"""Shows domain logic: creating, reading, changing and deleting shows, and who may see them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from shared import visibility
from shared.copies import SnapshotPage, merge_page
from shared.db import utcnow
from shared.events import ShowCreatedV1, ShowDeletedV1, ShowUpdatedV1
from shared.outbox import emit
from shared.users import UserDirectory, ensure_live_user
from shows import repository as repo
from shows.catalog import heard
from shows.catalog import lineup as catalog_lineup
from shows.exceptions import DuplicateShow, NotShowOwner, ShowNotFound
from shows.models import Artist, Concert, Show
from shows.normalize import normalize, parse_location
from shows.schemas import ShowCreate, ShowUpdate
from shows.serialize import show_json, show_name


@dataclass(frozen=True)
class Viewer:
    """Who is asking (id and the username from their token)."""

    id: int
    username: str = ""


def can_view(
    session: Session, show: Show | repo.ShowRow, viewer_id: int | None, *, are_friends: bool | None = None
) -> bool:
    """shared.visibility's rule; friendship from this service's copy unless the caller (social) knows it."""
    if are_friends is None:
        # ask the copy only when the answer depends on it
        needs = viewer_id is not None and viewer_id != show.user_id and show.visibility == "friends"
        are_friends = needs and repo.is_friend(session, show.user_id, viewer_id)  # type: ignore[arg-type]
    return visibility.can_view(
        owner_id=show.user_id,
        visibility=show.visibility,
        audience=show.visible_to,
        viewer_id=viewer_id,
        are_friends=are_friends,
    )


def get_viewable_show(session: Session, show_id: int, viewer_id: int, *, for_update: bool = False) -> Show:
    """The show if the viewer may see it; 404 otherwise (never reveal others' private shows)."""
    show = repo.get_show(session, show_id, for_update=for_update)
    if show is None or not can_view(session, show, viewer_id):
        raise ShowNotFound()
    return show


def get_owned_show(session: Session, show_id: int, viewer_id: int, *, for_update: bool = False) -> Show:
    """The show if the viewer owns it; 404 if they cannot see it, 403 if they can but do not own it."""
    show = get_viewable_show(session, show_id, viewer_id, for_update=for_update)
    if show.user_id != viewer_id:
        raise NotShowOwner()
    return show


def _resolve_concert(
    session: Session,
    *,
    artist_name: str,
    artist_mbid: str | None,
    venue_name: str,
    city: str,
    state: str,
    country: str,
    date: dt.date,
    artist: Artist | None = None,
) -> Concert:
    """The concert of the artist (`artist` when the caller found it already) at the venue on the date."""
    if artist is None:
        artist = repo.find_or_create_artist(session, artist_name, normalize(artist_name), artist_mbid or None)
    elif artist_mbid and not artist.mbid:
        artist.mbid = artist_mbid
    venue = repo.find_or_create_venue(
        session,
        name=venue_name,
        name_norm=normalize(venue_name),
        city=city,
        city_norm=normalize(city),
        state=state,
        country=country,
    )
    return repo.find_or_create_concert(session, artist.id, venue.id, date)


def _place(data: ShowCreate | ShowUpdate, fields: set[str]) -> tuple[str, str, str]:
    """City/state/country from `venue_location` and/or the explicit fields (explicit ones win)."""
    city, state, country = parse_location(data.venue_location) if "venue_location" in fields else ("", "", "")
    if "city" in fields and data.city is not None:
        city = data.city
    if "state" in fields and data.state is not None:
        state = data.state
    if "country" in fields and data.country is not None:
        country = data.country
    return city.strip()[:120], state.strip()[:120], country.strip()[:120]


def _facts(row: Any) -> dict[str, Any]:
    return {
        "aggregate_version": row.version,
        "show_id": row.id,
        "user_id": row.user_id,
        "concert_id": row.concert_id,
        "visibility": row.visibility,
        "visible_to": row.visible_to,
        "artist_name": row.artist_name,
        "venue_name": row.venue_name,
        "date": row.date,
        "show_name": show_name(row.artist_name, row.venue_name),
    }


def _row(session: Session, show_id: int) -> repo.ShowRow:
    row = repo.show_row(session, show_id)
    if row is None:  # pragma: no cover - only if deleted inside our own transaction
        raise ShowNotFound()
    return row


def apply_user_item(session: Session, item: dict[str, Any]) -> bool:
    """Apply one item of auth's user snapshot (or a user event's facts) to the copy."""
    return repo.apply_user(session, user_id=int(item["user_id"]), username=str(item.get("username") or ""),
                           version=int(item["version"]), deleted=bool(item.get("deleted")))


def require_user(session: Session, *, viewer: Viewer, users: UserDirectory) -> None:
    """The caller's account must exist (asked of auth if the copy has not heard of it); 401 otherwise."""
    ensure_live_user(session, viewer.id, get=repo.get_user, apply=apply_user_item, directory=users)


def create_show(session: Session, *, viewer: Viewer, data: ShowCreate, users: UserDirectory) -> dict[str, Any]:
    """Log a show: find or create artist, venue and concert; one show per person per concert."""
    require_user(session, viewer=viewer, users=users)
    fields = set(data.model_fields_set)
    city, state, country = _place(data, fields)
    # the artist the typed name resolves to (an alias finds its artist, which keeps one concert per act)
    found = catalog_lineup.find_artist(session, data.artist_name, data.artist_mbid)
    concert = _resolve_concert(
        session,
        artist_name=data.artist_name,
        artist_mbid=data.artist_mbid,
        venue_name=data.venue_name,
        city=city,
        state=state,
        country=country,
        date=data.date,
        artist=found,
    )
    concert_id = concert.id
    notes = data.notes or ""
    show = repo.insert_unless_present(session, Show, {
        "user_id": viewer.id,
        "concert_id": concert_id,
        "show_date": data.date,
        "time": data.time,
        "notes": notes,
        "notes_norm": normalize(notes),
        "rating": data.rating,
        "visibility": data.visibility or "friends",
        "visible_to": data.visible_to,
    }, ["user_id", "concert_id"])
    if show is None:  # one show per person per concert (logged before, or by a concurrent request)
        existing = repo.get_user_show_for_concert(session, viewer.id, concert_id)
        raise DuplicateShow(details=[{"field": "show_id", "message": str(existing.id)}] if existing else None)
    repo.set_audience(session, show.id, data.visible_to, new=True)
    catalog_lineup.apply_show_extras(session, show, data, fields, headliner_id=concert.artist_id, new=True)
    row = _row(session, show.id)
    emit(session, ShowCreatedV1(**_facts(row)))
    if "artists" in fields and data.artists is not None:
        lineup = catalog_lineup.lineups(session, [show.id]).get(show.id)
    else:  # the bill is its headliner alone
        a = session.get(Artist, concert.artist_id)  # in the session already: no query
        assert a is not None
        lineup = [catalog_lineup.act_json(a.id, a.name, a.mbid, a.image_url, a.disambiguation, "headliner", 1)]
    body = show_json(row, viewer.id, lineup)
    body["others_count"] = repo.count_concert_shows(session, concert_id, excluding_user=viewer.id)
    return body


def update_show(session: Session, *, viewer: Viewer, show_id: int, data: ShowUpdate) -> dict[str, Any]:
    """Change any of a show's fields (owner only); moving it to another concert re-resolves the concert."""
    show = get_owned_show(session, show_id, viewer.id, for_update=True)
    fields = set(data.model_fields_set)
    row = _row(session, show_id)
    songs_heard = heard.keys_of_shows(session, [show_id])
    if fields & {"artist_name", "venue_name", "venue_location", "city", "state", "country", "date", "artist_mbid"}:
        if fields & {"venue_location", "city", "state", "country"}:
            city, state, country = _place(data, fields)
        else:
            city, state, country = row.city, row.state, row.country
        date = data.date if "date" in fields and data.date else row.date
        concert_id = _resolve_concert(
            session,
            artist_name=data.artist_name if data.artist_name else row.artist_name,
            artist_mbid=data.artist_mbid,
            venue_name=data.venue_name if data.venue_name else row.venue_name,
            city=city,
            state=state,
            country=country,
            date=date,
        ).id
        if concert_id != show.concert_id:
            clash = repo.get_user_show_for_concert(session, viewer.id, concert_id)
            if clash is not None:
                raise DuplicateShow(details=[{"field": "show_id", "message": str(clash.id)}])
            show.concert_id = concert_id
        show.show_date = date
    if "time" in fields:
        show.time = data.time
    if "notes" in fields:
        show.notes = data.notes or ""
        show.notes_norm = normalize(show.notes)
    if "rating" in fields:
        show.rating = data.rating
    if "visibility" in fields and data.visibility is not None:
        show.visibility = data.visibility
    if "visible_to" in fields:
        show.visible_to = data.visible_to
        repo.set_audience(session, show.id, data.visible_to)
    catalog_lineup.apply_show_extras(session, show, data, fields)
    show.updated_at = utcnow()
    show.version = (show.version or 1) + 1  # the row is locked (for_update): versions follow commit order
    heard.refresh_shows(session, show.user_id, [show_id], songs_heard)
    session.flush()
    session.expire_all()
    row = _row(session, show_id)
    emit(session, ShowUpdatedV1(**_facts(row)))
    return show_json(row, viewer.id, catalog_lineup.lineups(session, [show_id]).get(show_id))


def delete_show_and_emit(session: Session, show: Show) -> None:
    """Delete a show here and tell media and social (show.deleted) in the same transaction."""
    concert_id, owner_id, sid = show.concert_id, show.user_id, show.id
    songs_heard = heard.keys_of_shows(session, [sid])
    version = repo.delete_show(session, show)
    heard.refresh(session, owner_id, songs_heard)
    others = repo.count_concert_shows(session, concert_id) > 0
    emit(session, ShowDeletedV1(show_id=sid, user_id=owner_id, concert_id=concert_id, concert_has_other_shows=others,
                                aggregate_version=version))


def delete_show(session: Session, *, viewer: Viewer, show_id: int) -> None:
    """Delete a show (owner only); its setlist and check-ins go with it."""
    delete_show_and_emit(session, get_owned_show(session, show_id, viewer.id, for_update=True))


def list_shows(
    session: Session,
    *,
    viewer: Viewer,
    owner_id: int | None,
    filters: repo.ShowFilters,
    sort: str | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """A page of the caller's (or someone else's visible) shows and the total."""
    owner = owner_id if owner_id is not None else viewer.id
    friends = None if owner == viewer.id else repo.is_friend(session, owner, viewer.id)
    ascending = sort == "date" if sort else filters.when == "upcoming"
    rows, total = repo.list_shows(
        session,
        owner_id=owner,
        viewer_id=viewer.id,
        friends=friends,
        filters=filters,
        ascending=ascending,
        limit=limit,
        offset=offset,
    )
    bills = catalog_lineup.lineups(session, [r.id for r in rows])
    return [show_json(r, viewer.id, bills.get(r.id)) for r in rows], total


def show_info(session: Session, *, show_id: int) -> dict[str, Any]:
    """Minimal facts of a show for other services."""
    row = repo.show_row(session, show_id)
    if row is None:
        raise ShowNotFound()
    facts = _facts(row)
    return {
        "show_id": facts["show_id"],
        "owner_id": facts["user_id"],
        "concert_id": facts["concert_id"],
        "visibility": facts["visibility"],
        "visible_to": facts["visible_to"],
        "show_name": facts["show_name"],
        "artist_name": facts["artist_name"],
        "venue_name": facts["venue_name"],
        "date": facts["date"],
        "time": row.time,  # local HH:MM or None: social's position expiry counts from the show's start
        # social's public share page shows the setlist (titles in order)
        "setlist": [{"position": song.position, "title": song.title} for song in repo.list_songs(session, show_id)],
    }


def shows_snapshot(session: Session, *, after: int, limit: int, since: dt.datetime | None) -> SnapshotPage:
    """A page of every show, live or deleted, with its version (media and social repair their copies)."""
    live, dead = repo.shows_snapshot(session, after=after, limit=limit, since=since)
    return merge_page(
        [{**_facts(r), "date": r.date.isoformat() if r.date else None, "deleted": False} for r in live],
        [{"aggregate_version": t.version, "show_id": t.id, "user_id": t.user_id, "concert_id": t.concert_id,
          "deleted": True} for t in dead],
        key="show_id",
        limit=limit,
    )


# ---------------------------------------------------------------- reactions to other services' events


def on_user(session: Session, item: dict[str, Any]) -> bool:
    """Apply auth's user at a version; a newer deletion also deletes the user's shows here. True if applied."""
    applied = apply_user_item(session, item)
    if applied and item.get("deleted"):
        user_id = int(item["user_id"])
        for sid in repo.user_show_ids(session, user_id):
            show = repo.get_show(session, sid, for_update=True)
            if show is not None:
                delete_show_and_emit(session, show)
        repo.delete_user_checkins(session, user_id)
        repo.drop_friendships_of(session, user_id)
    return applied


def on_friendship(session: Session, *, user_id: int, friend_id: int, version: int, accepted: bool) -> bool:
    """Apply social's state of a friendship at a version (ignored when older than the copy's)."""
    return repo.apply_friendship(session, user_id=user_id, friend_id=friend_id, version=version, accepted=accepted)


def apply_friendship_item(session: Session, item: dict[str, Any]) -> bool:
    """Apply one item of social's friendship snapshot."""
    return on_friendship(session, user_id=int(item["user_a"]), friend_id=int(item["user_b"]),
                         version=int(item["version"]), accepted=bool(item["accepted"]))


def on_counter(session: Session, *, show_id: int, kind: str, delta: int) -> None:
    """Adjust a show's media/comment counter (ignored for unknown shows)."""
    if kind in repo.COUNTER_FIELDS:
        repo.bump_counter(session, show_id, kind, delta)
