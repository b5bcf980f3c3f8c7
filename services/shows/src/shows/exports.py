"""Pure renderers for the exports: CSV (csv module) and iCalendar (icalendar)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from typing import Any

from icalendar import Calendar, Event

CSV_COLUMNS = [
    "id",
    "date",
    "time",
    "artist",
    "venue",
    "city",
    "state",
    "country",
    "rating",
    "visibility",
    "notes",
    "song_count",
    "photo_count",
    "audio_count",
    "video_count",
    "comment_count",
]


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # spreadsheet formula injection: a leading =,+,-,@ would be evaluated by Excel/LibreOffice
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def shows_csv(shows: Iterable[dict[str, Any]]) -> str:
    """A CSV document with one row per show (quoted by the csv module)."""
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for s in shows:
        v = s["venue"]
        writer.writerow(
            [
                _cell(x)
                for x in (
                    s["id"],
                    s["date"],
                    s["time"],
                    s["artist_name"],
                    s["venue_name"],
                    v["city"],
                    v["state"],
                    v["country"],
                    s["rating"],
                    s["visibility"],
                    s["notes"],
                    s["song_count"],
                    s["photo_count"],
                    s["audio_count"],
                    s["video_count"],
                    s["comment_count"],
                )
            ]
        )
    return buf.getvalue()


def shows_ics(shows: Iterable[dict[str, Any]], now: dt.datetime | None = None) -> bytes:
    """An iCalendar document with one VEVENT per show (all-day, or timed when the show has a time)."""
    cal = Calendar()
    cal.add("prodid", "-//ShareMyShows//shows export//EN")
    cal.add("version", "2.0")
    stamp = now or dt.datetime.now(dt.UTC)
    for s in shows:
        ev = Event()
        ev.add("uid", f"show-{s['id']}@sharemyshows")
        ev.add("dtstamp", stamp)
        day: dt.date = s["date"]
        if s["time"]:
            hour, minute = (int(p) for p in s["time"].split(":"))
            # floating local time: the venue's zone is unknown, so no UTC conversion is pretended
            ev.add("dtstart", dt.datetime.combine(day, dt.time(hour, minute)))
        else:
            ev.add("dtstart", day)
        ev.add("summary", f"{s['artist_name']} at {s['venue_name']}")
        location = ", ".join(p for p in (s["venue_name"], s["venue_location"]) if p)
        ev.add("location", location)
        if s["notes"]:
            ev.add("description", s["notes"])
        cal.add_component(ev)
    return cal.to_ical()
