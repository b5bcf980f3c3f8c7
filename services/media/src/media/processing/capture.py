"""When and where a photo or video was taken: EXIF (photos) and QuickTime/MP4 container tags (videos).

Two clocks matter for filing (media.filing): the camera's wall clock (`local`, what EXIF `DateTimeOriginal`
holds) and the instant (`instant`, UTC) when the offset is known (EXIF `OffsetTimeOriginal`, Apple's
`com.apple.quicktime.creationdate`) or the container says UTC (QuickTime `creation_time`). The position
(EXIF GPS IFD, ISO 6709 `location`) is kept privately on the item: derivatives never carry it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

# EXIF tags (TIFF/EXIF 2.32)
TAG_DATETIME = 0x0132
TAG_EXIF_IFD = 0x8769
TAG_GPS_IFD = 0x8825
TAG_DATETIME_ORIGINAL = 0x9003
TAG_OFFSET_TIME = 0x9010
TAG_OFFSET_TIME_ORIGINAL = 0x9011
GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON = 1, 2, 3, 4

MIN_YEAR, MAX_YEAR = 1900, 2200
# QuickTime / MP4 keys PyAV exposes in `container.metadata` (and per stream)
APPLE_CREATIONDATE = "com.apple.quicktime.creationdate"
CREATION_TIME = "creation_time"
LOCATION_KEYS = ("com.apple.quicktime.location.ISO6709", "location", "location-eng")

_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
_ISO6709 = re.compile(r"^([+-]\d{1,3}(?:\.\d+)?)([+-]\d{1,3}(?:\.\d+)?)")


@dataclass(frozen=True, slots=True)
class Capture:
    """Capture facts: the wall clock (naive), the UTC instant, and the position (decimal degrees)."""

    local: datetime | None = None
    instant: datetime | None = None
    latitude: float | None = None
    longitude: float | None = None

    @property
    def taken_at(self) -> str | None:
        """The record's `taken_at`: the wall clock with its offset when known, else the UTC instant."""
        if self.local is not None:
            if self.instant is None:
                return self.local.isoformat()
            offset = self.local - self.instant.replace(tzinfo=None)
            return self.local.replace(tzinfo=timezone(offset)).isoformat()
        return self.instant.isoformat() if self.instant is not None else None

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly form (times as ISO 8601)."""
        return {"local": self.local.isoformat() if self.local else None,
                "instant": self.instant.isoformat() if self.instant else None,
                "latitude": self.latitude, "longitude": self.longitude}

    def facts(self) -> dict[str, Any]:
        """The item's columns these facts fill."""
        return {"taken_at": self.taken_at, "captured_local": self.local, "captured_at": self.instant,
                "latitude": self.latitude, "longitude": self.longitude}


def clean_text(value: object, limit: int = 40) -> str | None:
    """Printable, trimmed text from an EXIF or container tag value, or None."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    text = "".join(ch for ch in value if ch.isprintable()).strip().strip("\x00").strip()
    return text[:limit] or None


def parse_offset(value: object) -> timedelta | None:
    """`+02:00` / `-0500` as a timedelta (EXIF OffsetTime*, ISO 8601 suffixes); None if absent or absurd."""
    text = clean_text(value, 8)
    match = _OFFSET.match(text or "")
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    if delta > timedelta(hours=14) or int(minutes) >= 60:
        return None
    return -delta if sign == "-" else delta


def _plausible(dt: datetime) -> datetime | None:
    return dt if MIN_YEAR <= dt.year <= MAX_YEAR else None


def exif_datetime(value: object, offset: object = None) -> tuple[datetime | None, datetime | None]:
    """An EXIF `YYYY:MM:DD HH:MM:SS` with its optional offset → (wall clock, UTC instant or None)."""
    text = clean_text(value, 32)
    if not text:
        return None, None
    try:
        local = _plausible(datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S"))
    except ValueError:
        return None, None
    if local is None:
        return None, None
    delta = parse_offset(offset)
    return local, ((local - delta).replace(tzinfo=UTC) if delta is not None else None)


def _rational(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]  # IFDRational, int, float
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) else None


def _dms(value: object, ref: object, limit: float) -> float | None:
    """Degrees/minutes/seconds (three rationals) and N/S/E/W into signed decimal degrees."""
    if not isinstance(value, tuple | list) or len(value) != 3:
        return None
    parts = [_rational(v) for v in value]
    if any(p is None or p < 0 for p in parts):
        return None
    deg, minutes, seconds = parts  # type: ignore[misc]
    degrees = deg + minutes / 60 + seconds / 3600  # type: ignore[operator]
    if degrees > limit:
        return None
    return -degrees if (clean_text(ref, 2) or "").upper() in ("S", "W") else degrees


def _position(lat: float | None, lon: float | None) -> tuple[float | None, float | None]:
    if lat is None or lon is None or (lat == 0 and lon == 0):  # 0,0 is what broken GPS chips write
        return None, None
    return round(lat, 6), round(lon, 6)


def from_exif(exif: Mapping[int, Any], exif_ifd: Mapping[int, Any], gps_ifd: Mapping[int, Any]) -> Capture:
    """Capture facts of a photo from its IFD0, EXIF sub-IFD and GPS sub-IFD (garbage gives None fields)."""
    local, instant = exif_datetime(exif_ifd.get(TAG_DATETIME_ORIGINAL), exif_ifd.get(TAG_OFFSET_TIME_ORIGINAL))
    if local is None:  # the file's modification time: better than nothing (edited copies keep it)
        local, instant = exif_datetime(exif.get(TAG_DATETIME), exif_ifd.get(TAG_OFFSET_TIME))
    lat, lon = _position(_dms(gps_ifd.get(GPS_LAT), gps_ifd.get(GPS_LAT_REF), 90.0),
                         _dms(gps_ifd.get(GPS_LON), gps_ifd.get(GPS_LON_REF), 180.0))
    return Capture(local, instant, lat, lon)


def parse_iso6709(value: object) -> tuple[float | None, float | None]:
    """`+40.7505-073.9934+010.000/` (QuickTime/MP4 location) → (latitude, longitude)."""
    match = _ISO6709.match(clean_text(value, 64) or "")
    if match is None:
        return None, None
    lat, lon = float(match.group(1)), float(match.group(2))
    if abs(lat) > 90 or abs(lon) > 180:
        return None, None
    return _position(lat, lon)


def iso_datetime(value: object) -> tuple[datetime | None, datetime | None]:
    """An ISO 8601 time from a container tag → (wall clock if its offset is given, UTC instant if known).

    `2024-12-01T21:30:00-0500` (Apple's creationdate) gives both; `2024-12-02T02:30:00.000000Z`
    (QuickTime creation_time, always UTC) only the instant; a time with no zone at all is taken as UTC, as
    the QuickTime specification says of creation_time.
    """
    text = clean_text(value, 40)
    if not text:
        return None, None
    text = text.replace(" ", "T", 1)
    zone = timedelta(0)
    with_offset = False
    if text.endswith(("Z", "z")):
        text = text[:-1]
    else:
        match = re.search(r"[+-]\d{2}:?\d{2}$", text)
        if match is not None and "T" in text[: match.start()]:
            parsed = parse_offset(match.group(0))
            if parsed is None:
                return None, None
            zone, with_offset, text = parsed, True, text[: match.start()]
    try:
        local = datetime.fromisoformat(text[:26])
    except ValueError:
        return None, None
    local = _plausible(local.replace(microsecond=0, tzinfo=None))
    if local is None or local.year < 1971:  # 1904/1970 epochs: a camera with no clock set
        return None, None
    instant = (local - zone).replace(tzinfo=UTC)
    return (local if with_offset else None), instant


def from_tags(tags: Mapping[str, str]) -> Capture:
    """Capture facts of a video/audio file from its container (and streams') metadata tags."""
    local, instant = iso_datetime(tags.get(APPLE_CREATIONDATE))
    if instant is None:
        local, instant = iso_datetime(tags.get(CREATION_TIME))
    lat = lon = None
    for key in LOCATION_KEYS:
        lat, lon = parse_iso6709(tags.get(key))
        if lat is not None:
            break
    return Capture(local, instant, lat, lon)
