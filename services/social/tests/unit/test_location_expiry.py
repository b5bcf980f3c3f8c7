"""The expiry rule of shared positions: six hours after the show's start (its local date and time made UTC
with the sharer's offset), 06:00 local the next morning for a show without a time, never after the check-in
lapses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from social.locations import expiry, utc_offset

DAY = date(2026, 6, 1)
UTC0 = timedelta(0)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, day, hour, minute, tzinfo=UTC)


def test_a_show_at_20_00_shared_at_23_00_expires_at_02_00() -> None:
    # checked in at 20:30, position shared at 23:00: the show's start decides, not the sharing or the check-in
    assert expiry(day=DAY, start="20:00", offset=UTC0, checked_in_at=at(1, 20, 30)) == at(2, 2)


def test_the_local_start_is_made_utc_with_the_offset() -> None:
    # 20:00 in New York in June (UTC-4) starts at 00:00 UTC: expires 06:00 UTC
    assert expiry(day=DAY, start="20:00", offset=timedelta(hours=-4), checked_in_at=at(2, 0, 30)) == at(2, 6)
    # 21:30 in Berlin in June (UTC+2) is 19:30 UTC: expires 01:30 UTC
    assert expiry(day=DAY, start="21:30", offset=timedelta(hours=2), checked_in_at=at(1, 19, 45)) == at(2, 1, 30)


def test_never_after_the_check_in_lapses() -> None:
    # checked in at 17:00 for a 20:00 show: the check-in lapses at 23:00, and the position with it
    assert expiry(day=DAY, start="20:00", offset=UTC0, checked_in_at=at(1, 17)) == at(1, 23)


def test_a_show_without_a_time_ends_at_06_00_local_the_next_morning() -> None:
    assert expiry(day=DAY, start=None, offset=UTC0, checked_in_at=at(2, 3)) == at(2, 6)
    assert expiry(day=DAY, start=None, offset=timedelta(hours=2), checked_in_at=at(2, 1)) == at(2, 4)
    # earlier in the evening the check-in's own six hours end it first
    assert expiry(day=DAY, start=None, offset=UTC0, checked_in_at=at(1, 19)) == at(2, 1)


@pytest.mark.parametrize("start", ["", "soon", "25:00", "8"])
def test_a_time_that_is_not_one_counts_as_none(start: str) -> None:
    assert expiry(day=DAY, start=start, offset=UTC0, checked_in_at=at(2, 3)) == at(2, 6)


def test_a_show_that_started_more_than_six_hours_ago_is_over() -> None:
    assert expiry(day=DAY, start="14:00", offset=UTC0, checked_in_at=at(1, 19)) == at(1, 20)


@pytest.mark.parametrize("minutes,longitude,hours", [(120, -74.0, 2), (-240, 2.0, -4), (None, -74.0, -5),
                                                     (None, 13.4, 1), (None, -0.1, 0), (None, 151.2, 10)])
def test_the_offset_is_the_sharers_or_else_the_longitudes(minutes: int | None, longitude: float,
                                                          hours: int) -> None:
    assert utc_offset(minutes, longitude) == timedelta(hours=hours)
