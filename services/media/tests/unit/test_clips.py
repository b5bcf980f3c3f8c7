"""Clip alignment against the setlist, song matching across setlists, chapters, album order and dedupe."""

from __future__ import annotations

from datetime import UTC, datetime

from media.album import album_order, capture_instant
from media.clips import SetlistSong, chapters_vtt, match_keys, schedule, suggest, wall_clock

START = "2024-06-01T20:00:00"
# three songs of 3:00, 4:00 and 2:30, with 20 s of changeover after each (the defaults below)
SONGS = [SetlistSong(11, 1, 180), SetlistSong(12, 2, 240), SetlistSong(13, 3, 150)]


def at(minutes: float, seconds: float = 0) -> str:
    """A local time `minutes:seconds` after the start."""
    total = int(minutes * 60 + seconds)
    return f"2024-06-01T{20 + total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def test_schedule_uses_durations_gap_and_default() -> None:
    slots = schedule([SetlistSong(1, 2, None), SetlistSong(2, 1, 100)], default_song_s=200, gap_s=10)
    assert [(s.song_id, s.begin_s, s.end_s, s.known) for s in slots] == [(2, 0, 100, True), (1, 110, 310, False)]


def test_clip_inside_one_song() -> None:
    # song 12 plays 3:20-7:20 after the start
    found = suggest(START, SONGS, at(4), 60)
    assert [(s.song_id, s.score, s.start_s, s.end_s) for s in found] == [(12, 1.0, 0.0, 60.0)]


def test_start_time_moves_the_schedule() -> None:
    assert [s.song_id for s in suggest("2024-06-01T20:05:00", SONGS, at(4), 30)] == []  # before the first song
    assert [s.song_id for s in suggest("2024-06-01T19:57:00", SONGS, at(4), 30)] == [12]
    assert [s.song_id for s in suggest(START, SONGS, at(0, 30), 30)] == [11]


def test_clip_spanning_two_songs_gives_both_with_offsets() -> None:
    # from 2:30 for 2:00: 30 s of song 11 (to 3:00), the gap, then song 12 from 3:20 (50 s into the clip)
    found = suggest(START, SONGS, at(2, 30), 120)
    assert [(s.song_id, s.start_s, s.end_s) for s in found] == [(11, 0.0, 30.0), (12, 50.0, 120.0)]
    assert found[1].score > found[0].score


def test_a_clip_in_the_changeover_or_after_the_set_has_no_song() -> None:
    assert suggest(START, SONGS, at(3, 5), 10) == []
    assert suggest(START, SONGS, at(30), 60) == []


def test_unknown_durations_use_the_default_and_lower_the_score() -> None:
    songs = [SetlistSong(1, 1, None), SetlistSong(2, 2, None)]
    found = suggest(START, songs, at(5), 30, default_song_s=240, gap_s=20)  # song 2 from 4:20
    assert [s.song_id for s in found] == [2]
    assert found[0].score == 0.5  # every length before it was guessed
    known = suggest(START, [SetlistSong(1, 1, 240), SetlistSong(2, 2, 240)], at(5), 30, gap_s=20)
    assert known[0].score == 1.0


def test_no_start_or_capture_time_no_suggestion() -> None:
    assert suggest(None, SONGS, at(4), 60) == []
    assert suggest(START, SONGS, None, 60) == []
    assert suggest(START, SONGS, "not a time", 60) == []
    assert suggest(START, [], at(4), 60) == []


def test_capture_times_keep_their_wall_clock() -> None:
    assert wall_clock("2024-06-01T20:04:00+02:00") == datetime(2024, 6, 1, 20, 4)
    assert wall_clock("2024-06-01T20:04:00Z") == datetime(2024, 6, 1, 20, 4)
    assert [s.song_id for s in suggest(START, SONGS, "2024-06-01T20:04:00+02:00", 30)] == [12]


def test_match_keys_tell_a_reprise_apart() -> None:
    songs = [{"song_id": 5, "position": 3, "key": "intro"}, {"song_id": 3, "position": 1, "key": "intro"},
             {"song_id": 4, "position": 2, "key": "505", "title": "505"}]
    assert match_keys(songs) == {3: ("intro", 1), 4: ("505", 1), 5: ("intro", 2)}


def test_chapters_vtt() -> None:
    text = chapters_vtt([("Do I Wanna Know?", 0.0), ("505", 50.0)], 120.0)
    assert text == ("WEBVTT\n\n1\n00:00:00.000 --> 00:00:50.000\nDo I Wanna Know?\n\n"
                    "2\n00:00:50.000 --> 00:02:00.000\n505\n")
    even = chapters_vtt([("A", None), ("B --> C", 10.0)], 60.0)
    assert "00:00:30.000 --> 00:01:00.000\nB -> C" in even


def test_album_order_by_capture_time_then_upload_each_file_once() -> None:
    t = datetime(2024, 6, 2, tzinfo=UTC)
    rows = [
        (1, "aaa", "2024-06-01T21:00:00+02:00", t),  # 19:00 UTC
        (2, "bbb", "2024-06-01T19:30:00Z", t),
        (3, "ccc", None, datetime(2024, 6, 2, 1, tzinfo=UTC)),
        (4, "aaa", "2024-06-01T21:00:00+02:00", t),  # the same file again: shown once (its first upload)
        (5, "ddd", None, datetime(2024, 6, 2, 0, 30, tzinfo=UTC)),
        (6, "eee", "2024-06-01T19:30:00Z", datetime(2024, 6, 1, 23, tzinfo=UTC)),  # same moment, earlier upload
    ]
    assert album_order(rows) == [1, 6, 2, 5, 3]
    assert capture_instant("garbage") is None

