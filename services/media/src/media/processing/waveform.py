"""Waveform peaks for the audio player, computed by streaming decode (bounded memory whatever the length)."""

from __future__ import annotations

from array import array
from pathlib import Path

import av

from media.processing.errors import MediaRejected
from media.processing.probe import forced_demuxer

_FULL_SCALE = 32768.0


class _PeakAccumulator:
    """Per-block peak tracker whose block size doubles whenever it holds too many blocks."""

    def __init__(self, points: int) -> None:
        """Start with 1-sample blocks; keep between 4x and 8x `points` blocks."""
        self.block = 1
        self.limit = max(8 * points, 16)
        self.blocks: list[int] = []
        self.peak = 0
        self.filled = 0

    def feed(self, samples: array) -> None:
        """Add a run of signed 16-bit samples."""
        pos, n = 0, len(samples)
        while pos < n:
            take = min(self.block - self.filled, n - pos)
            seg = samples[pos : pos + take]
            m = max(max(seg), -min(seg))
            if m > self.peak:
                self.peak = m
            self.filled += take
            pos += take
            if self.filled == self.block:
                self.blocks.append(self.peak)
                self.peak = 0
                self.filled = 0
                if len(self.blocks) >= self.limit:
                    b = self.blocks
                    self.blocks = [max(b[i], b[i + 1]) for i in range(0, len(b) - 1, 2)]
                    self.block *= 2

    def result(self, points: int) -> list[int]:
        """Exactly `points` bucket peaks (fewer only when there were fewer samples)."""
        blocks = self.blocks + ([self.peak] if self.filled else [])
        n = len(blocks)
        if n <= points:
            return blocks
        return [max(blocks[i * n // points : (i + 1) * n // points]) for i in range(points)]


def waveform_peaks(
    path: Path,
    *,
    points: int = 1000,
    input_format: str | None = None,
    normalize: bool = True,
) -> list[float]:
    """Decode the first audio stream and return `points` peak values in 0..1 (relative to the loudest peak)."""
    if points <= 0:
        raise ValueError("points must be positive")
    fmt = forced_demuxer(path, input_format)
    try:
        container = av.open(str(path), mode="r", format=fmt, options={"protocol_whitelist": "file"})
    except Exception as exc:
        raise MediaRejected(f"audio file is unreadable ({type(exc).__name__})") from None
    acc = _PeakAccumulator(points)
    try:
        if not container.streams.audio:
            raise MediaRejected("no audio stream found")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="mono")
        decoded_any = False
        for frame in container.decode(stream):
            decoded_any = True
            for out in resampler.resample(frame):
                acc.feed(array("h", bytes(out.planes[0])[: out.samples * 2]))
        for out in resampler.resample(None):
            acc.feed(array("h", bytes(out.planes[0])[: out.samples * 2]))
        if not decoded_any:
            raise MediaRejected("audio stream cannot be decoded")
    except MediaRejected:
        raise
    except av.error.InvalidDataError:
        if not acc.blocks:
            raise MediaRejected("audio data is corrupt") from None
        # A damaged tail: keep what decoded.
    except Exception as exc:
        raise MediaRejected(f"audio data is corrupt ({type(exc).__name__})") from None
    finally:
        container.close()
    peaks = acc.result(points)
    scale = (max(peaks) if normalize else _FULL_SCALE) or 1
    return [round(min(1.0, p / scale), 4) for p in peaks]
