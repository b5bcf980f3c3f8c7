"""Check-ins: who is at a concert now (through a show they logged)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from shared.db import iso, utcnow
from shared.events import CheckinCreatedV1, CheckinEndedV1
from shared.outbox import emit
from shows import repository as repo
from shows.exceptions import CheckinClosed, NotAtConcert
from shows.models import CheckIn, Concert
from shows.service import Viewer, can_view, get_owned_show, get_viewable_show


def checkin_open(date: dt.date, now: dt.datetime, window_hours: float) -> bool:
    """True when `now` is within the concert date's UTC day widened by the window on both sides."""
    start = dt.datetime.combine(date, dt.time(0, 0), tzinfo=dt.UTC) - dt.timedelta(hours=window_hours)
    end = dt.datetime.combine(date + dt.timedelta(days=1), dt.time(0, 0), tzinfo=dt.UTC) + dt.timedelta(
        hours=window_hours
    )
    return start <= now <= end


def check_in(
    session: Session,
    *,
    viewer: Viewer,
    show_id: int,
    window_hours: float,
    ttl_hours: float,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Check in at the concert of one's own show; idempotent while the check-in is active."""
    now = now or utcnow()
    show = get_owned_show(session, show_id, viewer.id, for_update=True)
    concert = session.get(Concert, show.concert_id)
    assert concert is not None
    if not checkin_open(concert.date, now, window_hours):
        raise CheckinClosed()
    active = repo.active_checkin(session, viewer.id, show.concert_id, now - dt.timedelta(hours=ttl_hours))
    if active is not None:
        return {"message": "Already checked in", "checked_in_at": iso(active.checked_in_at)}
    checkin = CheckIn(user_id=viewer.id, concert_id=show.concert_id, show_id=show.id, checked_in_at=now)
    session.add(checkin)
    session.flush()
    emit(session, CheckinCreatedV1(user_id=viewer.id, concert_id=show.concert_id, show_id=show.id))
    return {"message": "Checked in successfully", "checked_in_at": iso(now)}


def check_out(
    session: Session, *, viewer: Viewer, show_id: int, ttl_hours: float, now: dt.datetime | None = None
) -> dict[str, Any]:
    """End one's check-in at the concert; idempotent when there is none."""
    now = now or utcnow()
    show = get_owned_show(session, show_id, viewer.id, for_update=True)
    active = repo.active_checkin(session, viewer.id, show.concert_id, now - dt.timedelta(hours=ttl_hours))
    if active is None:
        return {"message": "Not checked in", "checked_in_at": None}
    active.checked_out_at = now
    session.flush()
    emit(session, CheckinEndedV1(user_id=viewer.id, concert_id=show.concert_id, show_id=show.id))
    return {"message": "Checked out successfully", "checked_in_at": iso(active.checked_in_at)}


def active_users(
    session: Session, *, viewer: Viewer, show_id: int, ttl_hours: float, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Who is checked in at the show's concert now, as far as the viewer may see their shows."""
    now = now or utcnow()
    show = get_viewable_show(session, show_id, viewer.id)
    since = now - dt.timedelta(hours=ttl_hours)
    at_concert = repo.active_checkin(session, viewer.id, show.concert_id, since) is not None
    if not at_concert and repo.get_user_show_for_concert(session, viewer.id, show.concert_id) is None:
        # only people who were at (or logged) this concert see who is there
        raise NotAtConcert()
    users = []
    for checkin, their_show, username in repo.active_at_concert(session, show.concert_id, since):
        if checkin.user_id != viewer.id and not can_view(session, their_show, viewer.id):
            continue  # privacy: someone whose show the viewer may not see stays hidden
        users.append(
            {"user_id": checkin.user_id, "username": username or "", "checked_in_at": iso(checkin.checked_in_at)}
        )
    return {"users": users, "total": len(users)}
