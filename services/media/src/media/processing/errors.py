"""Errors raised by the pure media-processing layer."""

from __future__ import annotations


class MediaRejected(Exception):
    """The input is not acceptable media (corrupt, truncated, unsupported, too large, a bomb...).

    `reason` is a short human-readable sentence safe to show to the uploader; callers mark the item
    `failed` with it and must NOT retry (the same bytes will fail again).
    """

    def __init__(self, reason: str) -> None:
        """Store the human-readable reason."""
        super().__init__(reason)
        self.reason = reason


class ProcessingTimeout(MediaRejected):
    """A subprocess (ffmpeg) exceeded its wall-clock budget and was killed."""
