"""Friends' positions at a concert: shared only with accepted friends checked in to the same concert.

The rules (issue 16): off by default (a person shares by PUT, stops by DELETE); only while checked in (shows'
access answer is the authority when sharing; the check-in copy fed by `checkin.*` decides who still counts
when reading); `approximate` is rounded to a grid of about 100 m and reports at least 100 m of accuracy.

A position expires at check-out and at the latest six hours after the show's start (`expiry`): the start is
the show's date and local `time` (asked of shows at each PUT, so an edited time counts at once). The local
time is turned into UTC with the sharer's UTC offset (`utc_offset_minutes`, which the phone at the venue
knows), or, without it, with the offset of the position's longitude (15° an hour: within an hour or two of the
legal zone). A show without a time ends at 06:00 local the morning after its date. A check-in lapses after six
hours in shows (a lapse is a check-out), so no position outlives its check-in either. Expired positions are
deleted, never kept. Live updates go to the friends' open chat sockets of that concert (kind `location`),
never to anyone else.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from shared.auth import Principal
from shared.db import after_commit, iso, utcnow
from shared.errors import Forbidden, NotFound
from social import repository as repo
from social.clients import ShowsClient, friends_now
from social.exceptions import ShowNotFound
from social.models import FriendLocation

TTL = timedelta(hours=6)  # after the show's start
CHECKIN_TTL = timedelta(hours=6)  # shows' checkin_ttl_hours: a check-in lapses then
NIGHT_ENDS = time(6, 0)  # a show without a time ends the morning after its date
GRID_M = 100.0
METERS_PER_DEGREE = 111_320.0

# (concert id, recipient ids, frame): hands a frame to those people's sockets in the concert's room
LocationPush = Callable[[int, list[int], dict[str, Any]], None]


class NotCheckedIn(Forbidden):
    default_code = "not_checked_in"
    default_message = "Check in to this concert first."


class SharingOver(Forbidden):
    default_code = "location_sharing_over"
    default_message = "Positions are shared until six hours after the show's start; this show is over."


def utc_offset(utc_offset_minutes: int | None, longitude: float) -> timedelta:
    """The sharer's offset from UTC: theirs when sent, else the position's solar one (15° of longitude an hour)."""
    if utc_offset_minutes is not None:
        return timedelta(minutes=utc_offset_minutes)
    return timedelta(hours=round(longitude / 15.0))


def _clock(value: str | None) -> time | None:
    """HH:MM as a time of day; None when absent or not a time (the show then counts as having none)."""
    try:
        hours, minutes = (int(x) for x in (value or "").split(":")[:2])
        return time(hours, minutes)
    except ValueError:
        return None


def expiry(*, day: date, start: str | None, offset: timedelta, checked_in_at: datetime) -> datetime:
    """When a position shared at a show expires (UTC): six hours after the show's start (local `start` HH:MM on
    `day`), or at 06:00 local the morning after `day` when the show has no time; never after its check-in lapses."""
    begins = _clock(start)
    if begins is not None:
        end_local = datetime.combine(day, begins) + TTL
    else:
        end_local = datetime.combine(day + timedelta(days=1), NIGHT_ENDS)
    end = (end_local - offset).replace(tzinfo=UTC)
    return min(end, checked_in_at + CHECKIN_TTL)


def approximate(latitude: float, longitude: float) -> tuple[float, float]:
    """The centre of the ≈100 m grid cell holding a point (cells narrow in longitude towards the poles)."""
    step_lat = GRID_M / METERS_PER_DEGREE
    lat = (math.floor(latitude / step_lat) + 0.5) * step_lat
    step_lon = GRID_M / (METERS_PER_DEGREE * max(math.cos(math.radians(lat)), 0.01))
    lon = (math.floor(longitude / step_lon) + 0.5) * step_lon
    return round(max(-90.0, min(90.0, lat)), 6), round(((lon + 180.0) % 360.0) - 180.0, 6)


def _at_concert(shows: ShowsClient, session: Session, show_id: int, user_id: int) -> tuple[int, int]:
    """(concert id, show id) when the user may see the show and is checked in to its concert (asked afresh:
    a cached answer could predate a check-out)."""
    shows.forget_user(user_id)
    access = shows.access(show_id, user_id, session=session)
    if not access.can_view:
        raise ShowNotFound()
    if not access.checked_in:
        raise NotCheckedIn()
    return access.concert_id, show_id


def _json(row: FriendLocation, username: str) -> dict[str, Any]:
    return {"user": {"id": row.user_id, "username": username}, "latitude": row.latitude,
            "longitude": row.longitude, "accuracy_m": row.accuracy_m, "updated_at": iso(row.updated_at),
            "expires_at": iso(row.expires_at)}


def recipients(session: Session, user_id: int, concert_id: int, now: datetime) -> list[int]:
    """Who may see a person's position now: accepted friends checked in to the same concert."""
    here = repo.checked_in_at(session, concert_id, now - CHECKIN_TTL)
    return sorted(uid for uid in here if uid != user_id and friends_now(session, user_id, uid))


def _show_start(shows: ShowsClient, show_id: int) -> tuple[date, str | None]:
    """The show's date and local start time (HH:MM or None), from shows (the owner may have just edited them)."""
    try:
        info = shows.client.get_json(f"/internal/shows/{show_id}")
    except NotFound:
        raise ShowNotFound() from None
    return date.fromisoformat(str(info["date"])), info.get("time") or None


def share(*, session: Session, shows: ShowsClient, principal: Principal, show_id: int, latitude: float,
          longitude: float, accuracy_m: float, precision: str, push: LocationPush | None,
          utc_offset_minutes: int | None = None) -> dict[str, Any]:
    """Share (or move) the caller's position at a concert they are checked in to."""
    concert_id, _ = _at_concert(shows, session, show_id, principal.user_id)
    day, start = _show_start(shows, show_id)
    now = utcnow()
    checkin = repo.checkin_of(session, principal.user_id, concert_id)
    # shows says checked in; without the copy yet (its event is on its way) the position waits unseen: readers
    # only get positions whose check-in copy is live, and the copy is never made here (a stale answer could
    # otherwise bring back a check-out)
    started = checkin.checked_in_at if checkin is not None else now
    if started + CHECKIN_TTL <= now:
        raise NotCheckedIn("Your check-in has expired; check in again.")
    expires = expiry(day=day, start=start, offset=utc_offset(utc_offset_minutes, longitude), checked_in_at=started)
    if expires <= now:
        raise SharingOver()
    if precision == "approximate":
        latitude, longitude = approximate(latitude, longitude)
        accuracy_m = max(accuracy_m, GRID_M)
    row = repo.upsert_location(session, user_id=principal.user_id, concert_id=concert_id, show_id=show_id,
                               latitude=latitude, longitude=longitude, accuracy_m=round(accuracy_m, 1),
                               precision=precision, expires_at=expires)
    data = _json(row, principal.username)
    if push is not None:
        to = recipients(session, principal.user_id, concert_id, now)
        after_commit(session, lambda: push(concert_id, to, {"type": "location", **data}))
    return {**data, "precision": precision}


def stop(*, session: Session, shows: ShowsClient, principal: Principal, show_id: int,
         push: LocationPush | None) -> None:
    """Stop sharing the caller's position at the show's concert (idempotent)."""
    access = shows.access(show_id, principal.user_id, session=session)
    if not access.can_view:
        raise ShowNotFound()
    if repo.delete_location(session, principal.user_id, access.concert_id) and push is not None:
        to = recipients(session, principal.user_id, access.concert_id, utcnow())
        frame = {"type": "location_removed", "user": {"id": principal.user_id, "username": principal.username}}
        after_commit(session, lambda: push(access.concert_id, to, frame))


def friends_locations(*, session: Session, shows: ShowsClient, principal: Principal, show_id: int) -> dict[str, Any]:
    """Positions of the caller's accepted friends checked in to the same concert (the caller must be too)."""
    concert_id, _ = _at_concert(shows, session, show_id, principal.user_id)
    now = utcnow()
    repo.purge_expired_locations(session, now)
    friends = repo.friend_ids(session, principal.user_id)
    rows = repo.friend_locations(session, concert_id, friends, now)
    names = repo.users_by_ids(session, (r.user_id for r in rows))
    return {"locations": [_json(r, names[r.user_id].username if r.user_id in names else "") for r in rows]}


def presence(*, session: Session, user_id: int) -> dict[str, bool]:
    """The caller's "appear offline" choice."""
    return {"appear_offline": repo.appear_offline(session, user_id)}


def set_presence(*, session: Session, user_id: int, appear_offline: bool) -> dict[str, bool]:
    """Appear offline (left out of chat presence and active users) or not."""
    repo.set_appear_offline(session, user_id, appear_offline)
    return {"appear_offline": appear_offline}
