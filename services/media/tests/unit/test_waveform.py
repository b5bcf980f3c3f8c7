"""Waveform peaks: shape, range, streaming accumulator bounds and bad input."""

from __future__ import annotations

from array import array
from pathlib import Path

import pytest

from media.processing import MediaRejected, waveform_peaks
from media.processing.waveform import _PeakAccumulator


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("tone.wav", "wav"),
        ("tone.mp3", "mp3"),
        ("tone.flac", "flac"),
        ("tone.opus", "opus"),
        ("tone_vorbis.ogg", "ogg"),
        ("audio_only.m4a", "m4a"),
        ("clip.webm", "webm"),
        ("1080p.mp4", None),
    ],
)
def test_thousand_points_in_range(av_files: dict[str, Path], name: str, fmt: str | None) -> None:
    peaks = waveform_peaks(av_files[name], input_format=fmt)
    assert len(peaks) == 1000
    assert all(0.0 <= p <= 1.0 for p in peaks)
    assert max(peaks) == 1.0
    assert sum(p > 0.5 for p in peaks) > 900  # a steady sine is loud everywhere


def test_shape_follows_the_signal(av_files: dict[str, Path]) -> None:
    peaks = waveform_peaks(av_files["half_silence.wav"], points=200, input_format="wav")
    assert len(peaks) == 200
    assert max(peaks[:95]) < 0.01  # first second is silent
    assert min(peaks[105:]) > 0.9  # second second is a loud sine


def test_absolute_scale(av_files: dict[str, Path]) -> None:
    peaks = waveform_peaks(av_files["half_silence.wav"], points=50, input_format="wav", normalize=False)
    assert 0.7 < max(peaks) < 0.9  # 0.8 full-scale sine


def test_fewer_points_when_fewer_samples(av_files: dict[str, Path]) -> None:
    peaks = waveform_peaks(av_files["tiny.wav"], points=1000, input_format="wav")
    assert len(peaks) == 80  # 10 ms at 8 kHz


def test_accumulator_memory_is_bounded() -> None:
    acc = _PeakAccumulator(1000)
    chunk = array("h", [i % 2000 - 1000 for i in range(4096)])
    for _ in range(2_500):  # ~10 M samples, streamed
        acc.feed(chunk)
        assert len(acc.blocks) < 8000
    result = acc.result(1000)
    assert len(result) == 1000 and set(result) == {1000}


def test_accumulator_exact_bucketing() -> None:
    acc = _PeakAccumulator(4)
    acc.feed(array("h", [1, -5, 3, 0, 2, 7, -9, 4]))
    assert acc.result(4) == [5, 3, 7, 9]
    assert acc.result(8) == [1, 5, 3, 0, 2, 7, 9, 4]


@pytest.mark.parametrize("name", ["empty.jpg", "text.jpg", "page.html"])
def test_bad_input(bad_photos: dict[str, Path], name: str) -> None:
    with pytest.raises(MediaRejected):
        waveform_peaks(bad_photos[name], input_format="mp3")
    with pytest.raises(MediaRejected):
        waveform_peaks(bad_photos[name])


def test_video_without_audio_and_truncated(av_files: dict[str, Path]) -> None:
    with pytest.raises(MediaRejected, match="no audio"):
        waveform_peaks(av_files["fast240.mp4"], input_format="mp4")
    with pytest.raises(MediaRejected):
        waveform_peaks(av_files["truncated.mp4"], input_format="mp4")
