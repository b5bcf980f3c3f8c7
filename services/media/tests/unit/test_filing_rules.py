"""The matching rules of filing: same local day (after midnight too), venue radius, check-ins, ambiguity."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from media.filing_rules import Candidate, Facts, Rules, date_range, decide, distance_m

RULES = Rules(radius_m=1000, day_starts_hour=6, checkin_margin_s=3600)
MSG = (40.7505, -73.9934)  # Madison Square Garden
BARCLAYS = (40.6826, -73.9754)


def show(show_id: int, day: str, *, at: tuple[float, float] | None = None, start: str | None = "20:00",
         checkins: tuple[tuple[datetime, datetime], ...] = ()) -> Candidate:
    return Candidate(show_id=show_id, date=date.fromisoformat(day), time=time.fromisoformat(start) if start else None,
                     latitude=at[0] if at else None, longitude=at[1] if at else None, checkins=checkins)


def local(text: str, **kw: object) -> Facts:
    return Facts(local=datetime.fromisoformat(text), **kw)  # type: ignore[arg-type]


def test_same_local_day_is_filed_by_time() -> None:
    d = decide(local("2024-12-01T21:40:00"), [show(1, "2024-12-01"), show(2, "2024-12-05")], RULES)
    assert (d.show_id, d.filed_by, d.suggestions) == (1, "time", [])


def test_after_midnight_counts_for_the_day_before() -> None:
    shows = [show(1, "2024-12-01"), show(2, "2024-12-02")]
    assert decide(local("2024-12-02T01:30:00"), shows, RULES).show_id == 1
    assert decide(local("2024-12-02T06:30:00"), shows, RULES).show_id == 2  # the next morning is the next day


def test_other_day_or_no_time_is_left_unfiled_without_suggestions() -> None:
    assert decide(local("2024-12-03T21:00:00"), [show(1, "2024-12-01")], RULES).show_id is None
    d = decide(Facts(latitude=MSG[0], longitude=MSG[1]), [show(1, "2024-12-01", at=MSG)], RULES)
    assert (d.show_id, d.suggestions) == (None, [])


def test_radius_rules_a_venue_out_and_files_by_gps() -> None:
    assert 7000 < distance_m(*MSG, *BARCLAYS) < 9000
    facts = local("2024-12-01T21:00:00", latitude=40.7510, longitude=-73.9930)  # ~60 m from MSG
    two = [show(1, "2024-12-01", at=MSG), show(2, "2024-12-01", at=BARCLAYS)]
    d = decide(facts, two, RULES)
    assert (d.show_id, d.filed_by) == (1, "gps")
    far = local("2024-12-01T21:00:00", latitude=BARCLAYS[0] + 0.05, longitude=BARCLAYS[1])
    assert decide(far, [show(1, "2024-12-01", at=MSG)], RULES).show_id is None  # the right day, 5 km away


def test_two_shows_that_day_are_offered_best_first() -> None:
    facts = local("2024-12-01T21:00:00", latitude=MSG[0], longitude=MSG[1])
    d = decide(facts, [show(2, "2024-12-01"), show(1, "2024-12-01", at=MSG)], RULES)
    assert d.show_id is None
    assert d.suggestions == [{"show_id": 1, "score": 0.8, "reason": "gps+time"},
                             {"show_id": 2, "score": 0.5, "reason": "time"}]


def test_checkin_decides_between_two_shows_of_a_day() -> None:
    when = datetime(2024, 12, 2, 2, 10, tzinfo=UTC)  # 21:10 in New York
    window = ((datetime(2024, 12, 2, 1, 0, tzinfo=UTC), datetime(2024, 12, 2, 4, 0, tzinfo=UTC)),)
    facts = Facts(local=datetime(2024, 12, 1, 21, 10), instant=when)
    d = decide(facts, [show(1, "2024-12-01"), show(2, "2024-12-01", checkins=window)], RULES)
    assert (d.show_id, d.filed_by) == (2, "checkin")
    outside = Facts(local=datetime(2024, 12, 1, 18, 0), instant=datetime(2024, 12, 1, 23, 0, tzinfo=UTC))
    assert decide(outside, [show(1, "2024-12-01"), show(2, "2024-12-01", checkins=window)], RULES).show_id is None


def test_checkin_against_a_wrong_camera_clock_is_only_offered() -> None:
    window = ((datetime(2024, 12, 2, 1, 0, tzinfo=UTC), datetime(2024, 12, 2, 4, 0, tzinfo=UTC)),)
    facts = Facts(local=datetime(2024, 12, 5, 12, 0), instant=datetime(2024, 12, 2, 2, 0, tzinfo=UTC))
    d = decide(facts, [show(1, "2024-12-01", checkins=window)], RULES)
    assert d.show_id is None and d.suggestions == [{"show_id": 1, "score": 0.2, "reason": "checkin"}]


def test_a_utc_instant_alone_is_only_a_suggestion_unless_the_place_agrees() -> None:
    facts = Facts(instant=datetime(2024, 12, 2, 2, 30, tzinfo=UTC))
    d = decide(facts, [show(1, "2024-12-01", at=MSG)], RULES)
    assert d.show_id is None and d.suggestions == [{"show_id": 1, "score": 0.25, "reason": "time_utc"}]
    placed = Facts(instant=facts.instant, latitude=MSG[0], longitude=MSG[1])
    assert decide(placed, [show(1, "2024-12-01", at=MSG)], RULES).filed_by == "gps"


def test_date_range_spans_the_batch() -> None:
    items = [local("2024-12-02T01:00:00"), local("2024-06-10T22:00:00"), Facts(),
             Facts(instant=datetime(2025, 1, 1, 12, 0, tzinfo=UTC))]
    assert date_range(items, RULES) == (date(2024, 6, 10), date(2025, 1, 1))  # 02:00 on the 2nd at UTC+14
    assert date_range([Facts()], RULES) is None
