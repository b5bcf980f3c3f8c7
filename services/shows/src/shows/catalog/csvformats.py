"""History files: Concert Archives exports, setlist.fm-style lists and a generic CSV, read into one row shape."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field

FORMATS = ("concertarchives", "setlistfm", "generic")


@dataclass
class HistoryRow:
    """One concert of a history file (1-based `line` as in the file, header = 1)."""

    line: int
    date: dt.date | None
    artists: list[tuple[str, str]]  # (name, role), headliner first
    venue: str
    city: str = ""
    state: str = ""
    country: str = ""
    festival: str | None = None
    ticket_price: float | None = None
    currency: str | None = None
    seat: str | None = None
    notes: str = ""
    setlistfm_id: str | None = None
    problem: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


class FileProblem(ValueError):
    """The file cannot be read as the format it was sent as."""


_DATE_FORMATS = {
    "concertarchives": ("%m/%d/%Y", "%Y-%m-%d"),
    "setlistfm": ("%d-%m-%Y", "%Y-%m-%d"),
    "generic": ("%Y-%m-%d", "%d.%m.%Y", "%m/%d/%Y", "%d-%m-%Y"),
}


def parse_date(value: str, fmt: str) -> dt.date | None:
    """The first of the format's date layouts that reads `value`."""
    value = value.strip()
    for layout in _DATE_FORMATS[fmt]:
        try:
            return dt.datetime.strptime(value, layout).date()
        except ValueError:
            continue
    return None


def split_location(location: str) -> tuple[str, str, str]:
    """"City, ST, Country" / "City, Country" / "City"."""
    parts = [p.strip() for p in location.split(",") if p.strip()]
    if len(parts) >= 3:
        return parts[0], parts[1], ", ".join(parts[2:])
    if len(parts) == 2:
        return (parts[0], parts[1], "") if len(parts[1]) <= 3 and parts[1].isupper() else (parts[0], "", parts[1])
    return (parts[0], "", "") if parts else ("", "", "")


def _price(value: str) -> float | None:
    cleaned = re.sub(r"[^0-9.,]", "", value or "").replace(",", ".")
    try:
        return float(cleaned) if cleaned else None
    except ValueError:
        return None


def _names(value: str, sep: str) -> list[str]:
    return [n.strip() for n in re.split(sep, value or "") if n.strip()]


def read_rows(text: str, fmt: str, max_rows: int) -> list[HistoryRow]:
    """Every data row of the file; rows that cannot be used carry a `problem` (reported as skipped)."""
    if fmt not in FORMATS:
        raise FileProblem(f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if not reader.fieldnames:
        raise FileProblem("The file is empty.")
    headers = {h.strip().lower(): h for h in reader.fieldnames if h}
    need = {"concertarchives": ("start date", "bands seen", "venue"), "setlistfm": ("eventdate", "artist", "venue"),
            "generic": ("date", "artist", "venue")}[fmt]
    missing = [n for n in need if n not in headers]
    if missing:
        raise FileProblem(f"This is not a {fmt} file: it lacks the column(s) {', '.join(missing)}.")
    rows: list[HistoryRow] = []
    for index, raw in enumerate(reader, start=2):
        if len(rows) >= max_rows:
            raise FileProblem(f"The file has more than {max_rows} rows; split it.")
        cell = {k: (raw.get(orig) or "").strip() for k, orig in headers.items()}
        if not any(cell.values()):
            continue
        rows.append(_row(index, cell, fmt))
    return rows


def _row(line: int, c: dict[str, str], fmt: str) -> HistoryRow:
    if fmt == "concertarchives":
        bands = _names(c.get("bands seen", ""), r"\s*/\s*")
        city, state, country = split_location(c.get("location", ""))
        name = c.get("concert name", "")
        # the event's own name is a festival when it is not just the bill written out
        festival = name if name and len(bands) > 1 and bands[0].lower() not in name.lower() else None
        row = HistoryRow(line, parse_date(c.get("start date", ""), fmt),
                         [(b, "headliner" if i == 0 else "support") for i, b in enumerate(bands)],
                         c.get("venue", ""), city, state, country, festival=festival)
    elif fmt == "setlistfm":
        artist = c.get("artist", "")
        row = HistoryRow(line, parse_date(c.get("eventdate", ""), fmt), [(artist, "headliner")] if artist else [],
                         c.get("venue", ""), c.get("city", ""), c.get("state", ""), c.get("country", ""),
                         setlistfm_id=c.get("id") or None, festival=c.get("tour") or None)
        row.festival = None  # a tour is not a festival: kept in notes
        row.notes = f"Tour: {c['tour']}" if c.get("tour") else ""
    else:
        head = c.get("artist", "")
        acts = [(head, "headliner")] if head else []
        acts += [(n, "support") for n in _names(c.get("support", ""), r"\s*;\s*")]
        acts += [(n, "guest") for n in _names(c.get("guests", ""), r"\s*;\s*")]
        city, state, country = c.get("city", ""), c.get("state", ""), c.get("country", "")
        if not city and c.get("location"):
            city, state, country = split_location(c["location"])
        row = HistoryRow(line, parse_date(c.get("date", ""), fmt), acts, c.get("venue", ""), city, state, country,
                         festival=c.get("festival") or None, ticket_price=_price(c.get("ticket_price", "")),
                         currency=(c.get("currency") or "").upper()[:3] or None, seat=c.get("seat") or None,
                         notes=c.get("notes", ""), setlistfm_id=c.get("setlistfm_id") or None)
    if row.date is None:
        row.problem = "no readable date"
    elif not row.artists:
        row.problem = "no artist"
    elif not row.venue:
        row.problem = "no venue"
    elif row.currency and not re.fullmatch(r"[A-Z]{3}", row.currency):
        row.currency = None
    return row
