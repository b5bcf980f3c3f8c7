"""Which songs of a setlist a clip shows: its capture time against the concert's start and the songs' lengths.

Plain functions, no I/O. Times are local wall-clock times at the venue: a capture time with an offset
(EXIF `OffsetTimeOriginal`) keeps its wall clock; one in UTC (QuickTime `creation_time`) is taken as is,
since no service knows the venue's time zone yet. The schedule assumes the concert starts at the show's
time and plays the setlist in order, each song for its known length (the setlist's "m:ss", else the
recording's length) or `default_song_s`, with `gap_s` of changeover after each song.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

DEFAULT_SONG_S = 240  # a song of unknown length
CHANGEOVER_S = 20  # between two songs
MIN_SCORE = 0.1  # suggestions below this are not kept


@dataclass(frozen=True, slots=True)
class SetlistSong:
    """A song as shows serves it for timing (`duration_s` None when unknown)."""

    song_id: int
    position: int
    duration_s: int | None = None


@dataclass(frozen=True, slots=True)
class Slot:
    """When a song is expected to play, from the concert's start, and whether its length is known."""

    song_id: int
    begin_s: float
    end_s: float
    known: bool


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A song the clip likely shows, with where in the clip (seconds from its start)."""

    song_id: int
    score: float
    start_s: float
    end_s: float

    def as_json(self) -> dict[str, Any]:
        """The record's `song_suggestions` item."""
        return {"song_id": self.song_id, "score": self.score, "start_s": self.start_s, "end_s": self.end_s}


def wall_clock(value: str | None) -> datetime | None:
    """An ISO capture or start time as a naive local wall-clock time (its offset dropped); None if unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=None)


def schedule(songs: Sequence[SetlistSong], *, default_song_s: int = DEFAULT_SONG_S,
             gap_s: int = CHANGEOVER_S) -> list[Slot]:
    """Each song's expected slot in seconds from the start, in setlist order."""
    slots: list[Slot] = []
    at = 0.0
    for song in sorted(songs, key=lambda s: s.position):
        length = song.duration_s if song.duration_s and song.duration_s > 0 else default_song_s
        slots.append(Slot(song.song_id, at, at + length, song.duration_s is not None and song.duration_s > 0))
        at += length + gap_s
    return slots


def suggest(start: str | None, songs: Sequence[SetlistSong], taken_at: str | None, duration_s: float | None, *,
            default_song_s: int = DEFAULT_SONG_S, gap_s: int = CHANGEOVER_S,
            min_score: float = MIN_SCORE) -> list[Suggestion]:
    """Songs a clip taken at `taken_at` lasting `duration_s` overlaps, best first by position in the clip.

    The score is the share of the clip spent in the song (a clip shorter than a second counts as an instant),
    lowered by the share of songs before it whose length was guessed: every guess moves the slot.
    """
    begin, origin = wall_clock(taken_at), wall_clock(start)
    if begin is None or origin is None or not songs:
        return []
    offset = (begin - origin).total_seconds()
    length = max(0.0, float(duration_s or 0.0))
    clip_end = offset + max(length, 1.0)
    span = clip_end - offset
    out: list[Suggestion] = []
    slots = schedule(songs, default_song_s=default_song_s, gap_s=gap_s)
    for i, slot in enumerate(slots):
        lo, hi = max(offset, slot.begin_s), min(clip_end, slot.end_s)
        if hi <= lo:
            continue
        guessed = sum(1 for s in slots[:i + 1] if not s.known) / (i + 1)
        score = round((hi - lo) / span * (1.0 - 0.5 * guessed), 3)
        if score >= min_score:
            out.append(Suggestion(slot.song_id, score, round(min(lo - offset, length), 1),
                                  round(min(hi - offset, length), 1)))
    return out


def slot_in_clip(start: str | None, songs: Sequence[SetlistSong], taken_at: str | None, duration_s: float | None,
                 song_id: int) -> tuple[float | None, float | None]:
    """Where the schedule puts `song_id` within the clip (clamped to it), or (None, None) when it cannot tell."""
    for s in suggest(start, songs, taken_at, duration_s, min_score=0.0):
        if s.song_id == song_id:
            return s.start_s, s.end_s
    return None, None


def match_keys(songs: Iterable[dict[str, Any]]) -> dict[int, tuple[str, int]]:
    """song_id -> (song key, occurrence): the same song across attendees' setlists of one concert.

    Two people's setlists of a concert name the same song by its normalised title (`key`, shows' `song_key`);
    a song played twice (a reprise) is told apart by which occurrence of the key it is, in setlist order.
    """
    seen: dict[str, int] = {}
    out: dict[int, tuple[str, int]] = {}
    for song in sorted(songs, key=lambda s: s["position"]):
        key = song.get("key") or str(song.get("title", "")).strip().casefold()
        seen[key] = seen.get(key, 0) + 1
        out[int(song["song_id"])] = (key, seen[key])
    return out


def _vtt_time(seconds: float) -> str:
    ms = round(max(0.0, seconds) * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def chapters_vtt(chapters: Sequence[tuple[str, float | None]], duration_s: float) -> str:
    """A WebVTT chapters track from (title, start in clip seconds); songs without times share the clip evenly.

    Each chapter ends where the next begins, the last at the clip's end.
    """
    total = max(0.0, duration_s)
    if any(start is None for _t, start in chapters):  # no reliable times: split evenly, in the given order
        step = total / max(1, len(chapters))
        timed = [(title, i * step) for i, (title, _s) in enumerate(chapters)]
    else:
        timed = sorted(((t, float(s or 0.0)) for t, s in chapters), key=lambda c: c[1])
    lines = ["WEBVTT", ""]
    for i, (title, begin) in enumerate(timed):
        end = timed[i + 1][1] if i + 1 < len(timed) else total
        begin, end = min(begin, total), min(end, total)
        if end > begin:
            lines += [str(i + 1), f"{_vtt_time(begin)} --> {_vtt_time(end)}", title.replace("-->", "->"), ""]
    return "\n".join(lines)
