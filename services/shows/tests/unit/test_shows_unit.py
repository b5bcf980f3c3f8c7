"""Pure logic: normalisation, locations, schemas, the check-in window and the exporters."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from icalendar import Calendar
from pydantic import ValidationError

from shows.exports import shows_csv, shows_ics
from shows.live import checkin_open
from shows.normalize import format_location, like_escape, normalize, parse_location
from shows.schemas import ShowCreate, ShowUpdate, SongCreate


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("Björk", "bjork"),
        ("  Sigur   Rós ", "sigur ros"),
        ("MOTÖRHEAD", "motorhead"),
        ("Straße", "strasse"),
        ("ﬁve", "five"),
        ("", ""),
        (None, ""),
    ],
)
def test_normalize(raw: str | None, norm: str) -> None:
    assert normalize(raw) == norm


@pytest.mark.parametrize(
    ("raw", "parts"),
    [
        ("New York, NY", ("New York", "NY", "")),
        ("London, UK", ("London", "UK", "")),
        ("Paris, France", ("Paris", "", "France")),
        ("Sydney, NSW, Australia", ("Sydney", "NSW", "Australia")),
        ("Reykjavik", ("Reykjavik", "", "")),
        ("", ("", "", "")),
        (" , ", ("", "", "")),
    ],
)
def test_parse_location(raw: str, parts: tuple[str, str, str]) -> None:
    assert parse_location(raw) == parts


def test_format_location_and_like_escape() -> None:
    assert format_location("New York", "NY", "USA") == "New York, NY"
    assert format_location("Paris", "", "France") == "Paris, France"
    assert format_location("", "", "") == ""
    assert like_escape("100%_\\") == "100\\%\\_\\\\"


def test_show_create_validation() -> None:
    ok = ShowCreate.model_validate(
        {"artist_name": " A ", "venue_name": "V", "date": "2024-02-29", "time": "8:05", "visible_to": [3, 1, 3]}
    )
    assert ok.artist_name == "A" and ok.time == "08:05" and ok.visible_to == [1, 3]
    for bad in (
        {"date": "2023-02-29"},
        {"date": "2024-1-1"},
        {"date": 1700000000},
        {"time": "20:60"},
        {"rating": 6},
        {"artist_name": "x" * 201},
        {"visibility": "all"},
    ):
        with pytest.raises(ValidationError):
            ShowCreate.model_validate({"artist_name": "A", "venue_name": "V", "date": "2024-01-01", **bad})
    with pytest.raises(ValidationError):
        ShowUpdate.model_validate({"artist_name": None})
    assert ShowUpdate.model_validate({"rating": None}).model_fields_set == {"rating"}


def test_song_create_needs_a_title() -> None:
    assert SongCreate.model_validate({"song_name": "X"}).song_title() == "X"
    assert SongCreate.model_validate({"title": "T", "song_name": "X"}).song_title() == "T"
    with pytest.raises(ValidationError):
        SongCreate.model_validate({"notes": "encore"})


def test_checkin_window() -> None:
    day = dt.date(2024, 6, 10)
    start = dt.datetime(2024, 6, 10, tzinfo=dt.UTC)
    assert checkin_open(day, start, 12)
    assert checkin_open(day, start - dt.timedelta(hours=12), 12)
    assert not checkin_open(day, start - dt.timedelta(hours=12, seconds=1), 12)
    assert checkin_open(day, start + dt.timedelta(hours=36), 12)
    assert not checkin_open(day, start + dt.timedelta(hours=36, seconds=1), 12)
    assert not checkin_open(day, start + dt.timedelta(hours=25), 0)


def _show(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": 1,
        "date": dt.date(2024, 1, 2),
        "time": "21:30",
        "artist_name": "A",
        "venue_name": "V",
        "venue_location": "City, ST",
        "venue": {"city": "City", "state": "ST", "country": ""},
        "rating": None,
        "visibility": "friends",
        "notes": "",
        "song_count": 0,
        "photo_count": 0,
        "audio_count": 0,
        "video_count": 0,
        "comment_count": 0,
    }
    base.update(kw)
    return base


def test_csv_quoting_and_injection() -> None:
    text = shows_csv([_show(notes='a, "b"\nc'), _show(id=2, artist_name="@SUM(A1)", notes="-1")])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["notes"] == 'a, "b"\nc' and rows[0]["time"] == "21:30"
    assert rows[1]["artist"] == "'@SUM(A1)" and rows[1]["notes"] == "'-1"


def test_ics_events() -> None:
    cal = Calendar.from_ical(shows_ics([_show(), _show(id=2, time=None)]))
    events = list(cal.walk("VEVENT"))
    assert [str(e["uid"]) for e in events] == ["show-1@sharemyshows", "show-2@sharemyshows"]
    assert events[0].decoded("dtstart") == dt.datetime(2024, 1, 2, 21, 30)
    assert events[1].decoded("dtstart") == dt.date(2024, 1, 2)
    assert str(events[0]["summary"]) == "A at V" and str(events[0]["location"]) == "V, City, ST"
