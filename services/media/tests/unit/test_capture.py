"""Capture time and position: EXIF with and without offset, QuickTime creation_time, ISO 6709, garbage."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from media.processing import probe, process_photo
from media.processing.capture import Capture, exif_datetime, from_tags, iso_datetime, parse_iso6709


def _photo(path: Path, *, when: str | None, offset: str | None = None, gps: bool = True) -> Path:
    exif = Image.Exif()
    if when is not None:
        exif.get_ifd(0x8769)[0x9003] = when
    if offset is not None:
        exif.get_ifd(0x8769)[0x9011] = offset
    if gps:
        g = exif.get_ifd(0x8825)
        g[1], g[2], g[3], g[4] = "N", (40.0, 45.0, 1.8), "W", (73.0, 59.0, 36.24)
    Image.new("RGB", (64, 48), (200, 30, 30)).save(path, "JPEG", exif=exif)
    return path


def test_photo_with_offset_gives_wall_clock_instant_and_position(tmp_path: Path) -> None:
    src = _photo(tmp_path / "a.jpg", when="2024:12:01 23:45:10", offset="-05:00")
    r = process_photo(src, tmp_path / "out")
    cap = r.capture
    assert r.taken_at == "2024-12-01T23:45:10-05:00"
    assert cap.local == datetime(2024, 12, 1, 23, 45, 10)
    assert cap.instant == datetime(2024, 12, 2, 4, 45, 10, tzinfo=UTC)
    assert cap.latitude == pytest.approx(40.7505, abs=1e-4) and cap.longitude == pytest.approx(-73.9934, abs=1e-4)
    # the position stays with the item: no derivative carries it
    for f in r.files:
        with Image.open(f.path) as im:
            assert not im.getexif().get_ifd(0x8825)


def test_photo_without_offset_has_only_the_wall_clock(tmp_path: Path) -> None:
    src = _photo(tmp_path / "b.jpg", when="2024:12:02 01:10:00", gps=False)
    cap = process_photo(src, tmp_path / "out").capture
    assert cap == Capture(local=datetime(2024, 12, 2, 1, 10), instant=None, latitude=None, longitude=None)
    assert cap.taken_at == "2024-12-02T01:10:00"


def test_photo_without_exif_has_nothing(tmp_path: Path) -> None:
    src = tmp_path / "c.png"
    Image.new("RGB", (32, 32)).save(src, "PNG")
    assert process_photo(src, tmp_path / "out").capture == Capture()


@pytest.mark.parametrize(("value", "offset", "expected"), [
    ("2024:12:01 21:00:00", "+02:00", (datetime(2024, 12, 1, 21), datetime(2024, 12, 1, 19, tzinfo=UTC))),
    ("2024:12:01 21:00:00", "+99:00", (datetime(2024, 12, 1, 21), None)),  # absurd offset: wall clock only
    ("0000:00:00 00:00:00", None, (None, None)),
    ("garbage", "+01:00", (None, None)),
    (b"2024:12:01 21:00:00\x00", b"-0330", (datetime(2024, 12, 1, 21), datetime(2024, 12, 2, 0, 30, tzinfo=UTC))),
])
def test_exif_datetime(value: object, offset: object, expected: tuple[datetime | None, datetime | None]) -> None:
    assert exif_datetime(value, offset) == expected


def test_iso_datetime_and_6709() -> None:
    assert iso_datetime("2024-12-02T02:30:00.000000Z") == (None, datetime(2024, 12, 2, 2, 30, tzinfo=UTC))
    assert iso_datetime("2024-12-01T21:30:00-0500") == (datetime(2024, 12, 1, 21, 30),
                                                        datetime(2024, 12, 2, 2, 30, tzinfo=UTC))
    assert iso_datetime("1970-01-01T00:00:00Z") == (None, None)  # a camera whose clock was never set
    assert iso_datetime("yesterday") == (None, None)
    assert parse_iso6709("+40.7505-073.9934+010.000/") == (40.7505, -73.9934)
    assert parse_iso6709("+00.0000+000.0000/") == (None, None)
    assert parse_iso6709("+95.0+010.0/") == (None, None)
    tags = {"creation_time": "2024-12-02T02:30:00.000000Z", "com.apple.quicktime.creationdate":
            "2024-12-01T21:30:00-0500", "com.apple.quicktime.location.ISO6709": "+40.7505-073.9934+010.000/"}
    cap = from_tags(tags)
    assert cap.taken_at == "2024-12-01T21:30:00-05:00" and cap.latitude == 40.7505


def _video(ffmpeg: str, path: Path, *meta: str) -> Path:
    subprocess.run([ffmpeg, "-hide_banner", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10",
                    "-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", *meta, str(path)],
                   check=True, timeout=60)
    return path


def test_quicktime_creation_time_and_location(ffmpeg: str, tmp_path: Path) -> None:
    src = _video(ffmpeg, tmp_path / "v.mp4", "-metadata", "creation_time=2024-12-02T02:30:00Z",
                 "-metadata", "location=+40.7505-073.9934/")
    cap = probe(src).capture
    assert cap.local is None and cap.instant == datetime(2024, 12, 2, 2, 30, tzinfo=UTC)
    assert (cap.latitude, cap.longitude) == (40.7505, -73.9934)
    assert cap.taken_at == "2024-12-02T02:30:00+00:00"


def test_apple_creationdate_gives_the_wall_clock(ffmpeg: str, tmp_path: Path) -> None:
    src = _video(ffmpeg, tmp_path / "v.mov", "-movflags", "use_metadata_tags",
                 "-metadata", "com.apple.quicktime.creationdate=2024-12-01T21:30:00-0500",
                 "-metadata", "creation_time=2024-12-02T02:30:00Z")
    cap = probe(src).capture
    assert cap.local == datetime(2024, 12, 1, 21, 30) and cap.instant == datetime(2024, 12, 2, 2, 30, tzinfo=UTC)


def test_video_without_tags(ffmpeg: str, tmp_path: Path) -> None:
    assert probe(_video(ffmpeg, tmp_path / "n.mp4", "-map_metadata", "-1")).capture.instant is None
