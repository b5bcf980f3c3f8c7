"""Filing candidates: a user's shows in a date range with what media's filing matches on (queries + shaping)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.db import iso
from shared.errors import ValidationFailed
from shows.models import CheckIn, Concert, Show, Venue

MAX_RANGE_DAYS = 3660  # a folder of ten years of photos is one call


def filing_candidates(session: Session, *, user_id: int, start: dt.date, end: dt.date,
                      checkin_ttl_hours: float) -> dict[str, Any]:
    """`{shows: [{show_id, concert_id, date, time, venue{latitude, longitude}, checkins: [{checked_in_at,
    checked_out_at}]}]}`: the user's shows dated `start`..`end`, two queries whatever their number.

    An open (or never closed) check-in ends `checkin_ttl_hours` after it began, as it does everywhere else.
    """
    if end < start:
        raise ValidationFailed("`to` is before `from`.", field="to")
    if (end - start).days > MAX_RANGE_DAYS:
        raise ValidationFailed(f"At most {MAX_RANGE_DAYS} days at a time.", field="to")
    rows = session.execute(
        select(Show.id, Show.concert_id, Show.show_date, Show.time, Venue.latitude, Venue.longitude)
        .join(Concert, Concert.id == Show.concert_id).join(Venue, Venue.id == Concert.venue_id)
        .where(Show.user_id == user_id, Show.show_date >= start, Show.show_date <= end)
        .order_by(Show.show_date, Show.id)
    ).all()
    checkins: dict[int, list[dict[str, str | None]]] = {}
    if rows:
        ttl = dt.timedelta(hours=checkin_ttl_hours)
        for show_id, since, until in session.execute(
            select(CheckIn.show_id, CheckIn.checked_in_at, CheckIn.checked_out_at)
            .where(CheckIn.user_id == user_id, CheckIn.show_id.in_([r.id for r in rows]))
            .order_by(CheckIn.checked_in_at)
        ):
            end_at = min(until, since + ttl) if until is not None else since + ttl
            checkins.setdefault(show_id, []).append({"checked_in_at": iso(since), "checked_out_at": iso(end_at)})
    return {"shows": [
        {"show_id": r.id, "concert_id": r.concert_id, "date": r.show_date.isoformat(), "time": r.time,
         "venue": {"latitude": r.latitude, "longitude": r.longitude}, "checkins": checkins.get(r.id, [])}
        for r in rows
    ]}
