"""Which of the uploader's shows a library item belongs to: the matching rules of filing (pure functions).

Evidence for a show, per item:
- `time`: the camera's wall clock falls on the show's date; a capture before `day_starts_hour` (06:00) counts
  for the previous day (the concert ran past midnight).
- `time_utc`: only the UTC instant is known (a video's QuickTime creation_time): the show's date is one of the
  local days that instant can be anywhere on Earth (UTC-12..UTC+14). Weak on its own.
- `gps`: the item's position is within `radius_m` of the venue. Both positions known and farther apart rule the
  show out.
- `checkin`: the UTC instant falls in one of the user's check-ins at that show (± `checkin_margin_s`).
A wall clock on another day rules the show out, unless a check-in says otherwise (then it is only offered).

A sure match — one show left with consistent, strong evidence (`time`, `gps` or `checkin`), or, among several,
the only one the user was checked in to — is filed (`filed_by`: checkin > gps > time). Anything else is left in
the library with the shows that remain as suggestions, best first.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

EARTH_RADIUS_M = 6_371_000.0
WEIGHTS = {"time": 0.5, "time_utc": 0.25, "gps": 0.3, "checkin": 0.4}
STRONG = frozenset({"time", "gps", "checkin"})
# where on Earth a UTC instant can be local time
EARLIEST_ZONE, LATEST_ZONE = timedelta(hours=-12), timedelta(hours=14)
NEAR = timedelta(days=2)  # a check-in (opened on the show's day, lasting hours) is never farther from its date


@dataclass(frozen=True, slots=True)
class Rules:
    """Settings of the matching (MEDIA_FILING_*)."""

    radius_m: float = 1000.0
    day_starts_hour: int = 6
    checkin_margin_s: int = 3600


@dataclass(frozen=True, slots=True)
class Candidate:
    """One of the uploader's shows, as shows' filing-candidates endpoint describes it."""

    show_id: int
    date: date
    time: time | None = None
    latitude: float | None = None
    longitude: float | None = None
    checkins: tuple[tuple[datetime, datetime], ...] = ()  # (from, to) in UTC

    @classmethod
    def from_json(cls, data: dict[str, Any], *, checkin_hours: float = 8.0) -> Candidate:
        """Parse one entry of `GET /internal/users/{id}/filing-candidates` (an open check-in lasts `checkin_hours`)."""
        venue = data.get("venue") or {}
        windows = []
        for c in data.get("checkins") or []:
            start = datetime.fromisoformat(c["checked_in_at"])
            end = c.get("checked_out_at")
            windows.append((start, datetime.fromisoformat(end) if end else start + timedelta(hours=checkin_hours)))
        return cls(
            show_id=int(data["show_id"]), date=date.fromisoformat(data["date"]),
            time=time.fromisoformat(data["time"]) if data.get("time") else None,
            latitude=venue.get("latitude"), longitude=venue.get("longitude"), checkins=tuple(windows),
        )


@dataclass(frozen=True, slots=True)
class Facts:
    """What an item tells about its capture (media.processing.capture, as stored on the item)."""

    local: datetime | None = None  # wall clock, naive
    instant: datetime | None = None  # UTC, aware
    latitude: float | None = None
    longitude: float | None = None


@dataclass(slots=True)
class Decision:
    """The outcome for one item: filed into `show_id` (with `filed_by`), or suggestions."""

    show_id: int | None = None
    filed_by: str | None = None
    suggestions: list[dict[str, Any]] = field(default_factory=list)


def concert_day(local: datetime, rules: Rules) -> date:
    """The date of the concert a wall-clock time belongs to (before `day_starts_hour`: the day before)."""
    return (local - timedelta(hours=rules.day_starts_hour)).date()


def possible_days(facts: Facts, rules: Rules) -> tuple[date, date] | None:
    """The first and last concert day the item can belong to (None without a capture time)."""
    if facts.local is not None:
        day = concert_day(facts.local, rules)
        return day, day
    if facts.instant is not None:
        naive = facts.instant.replace(tzinfo=None)
        return concert_day(naive + EARLIEST_ZONE, rules), concert_day(naive + LATEST_ZONE, rules)
    return None


def date_range(items: Iterable[Facts], rules: Rules) -> tuple[date, date] | None:
    """The span of concert days a batch of items can belong to (one candidates query for all of them)."""
    spans = [s for s in (possible_days(f, rules) for f in items) if s is not None]
    if not spans:
        return None
    return min(s[0] for s in spans), max(s[1] for s in spans)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _evidence(facts: Facts, c: Candidate, rules: Rules,
              span: tuple[date, date] | None) -> tuple[list[str], bool] | None:
    """(reasons, consistent) for one show, or None when the show is ruled out."""
    reasons: list[str] = []
    consistent = True
    if None not in (facts.latitude, facts.longitude, c.latitude, c.longitude):
        if distance_m(facts.latitude, facts.longitude, c.latitude, c.longitude) > rules.radius_m:  # type: ignore[arg-type]
            return None  # somewhere else
        reasons.append("gps")
    margin = timedelta(seconds=rules.checkin_margin_s)
    checked_in = facts.instant is not None and any(
        start - margin <= facts.instant <= end + margin for start, end in c.checkins)
    if span is not None and span[0] <= c.date <= span[1]:
        reasons.append("time" if facts.local is not None else "time_utc")
    elif checked_in:
        consistent = False  # the camera's clock says another day: offer it, never file it
    else:
        return None
    if checked_in:
        reasons.append("checkin")
    return reasons, consistent


def _near(day: date, span: tuple[date, date], instant: datetime | None) -> bool:
    """Whether a show's date is close enough to matter: its day span, or (check-ins) the instant's date."""
    if span[0] - NEAR <= day <= span[1] + NEAR:
        return True
    return instant is not None and abs((instant.date() - day).days) <= NEAR.days


def _filed_by(reasons: Sequence[str]) -> str:
    return next(r for r in ("checkin", "gps", "time") if r in reasons)


def decide(facts: Facts, candidates: Sequence[Candidate], rules: Rules) -> Decision:
    """File the item into one show when the evidence is sure, otherwise suggest the shows that remain."""
    span = possible_days(facts, rules)
    if span is None:
        return Decision()
    scored: list[tuple[float, Candidate, list[str], bool]] = []
    for c in candidates:
        if not _near(c.date, span, facts.instant):
            continue  # cheap first cut: 500 photos against 200 shows is 100,000 pairs
        found = _evidence(facts, c, rules, span)
        if found is not None:
            reasons, consistent = found
            score = min(1.0, sum(WEIGHTS[r] for r in reasons)) * (1.0 if consistent else 0.5)
            scored.append((score, c, reasons, consistent))
    scored.sort(key=lambda s: (-s[0], s[1].show_id))
    sure = [s for s in scored if s[3] and STRONG & set(s[2])]
    if len(scored) == 1 and sure:
        return Decision(show_id=sure[0][1].show_id, filed_by=_filed_by(sure[0][2]))
    checked = [s for s in sure if "checkin" in s[2]]
    if len(checked) == 1:
        return Decision(show_id=checked[0][1].show_id, filed_by="checkin")
    return Decision(suggestions=[{"show_id": c.show_id, "score": round(score, 2), "reason": "+".join(reasons)}
                                 for score, c, reasons, _ in scored])
