"""Probe audio/video files with PyAV (no ffprobe binary needed) and validate them against the limits."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from media.processing.capture import Capture, from_tags
from media.processing.errors import MediaRejected
from media.processing.sniff import DEMUXERS, sniff_file

MAX_VIDEO_WIDTH = 3840
MAX_VIDEO_HEIGHT = 2160
MAX_VIDEO_FPS = 120.0
MAX_VIDEO_FRAMES = 36_000
MAX_VIDEO_DURATION_S = 6 * 3600.0
MIN_AUDIO_RATE = 8_000
MAX_AUDIO_RATE = 384_000
MAX_AUDIO_DURATION_S = 6 * 3600.0

#: Never let a probed file pull in other files or URLs (HLS/concat/subfile references).
_OPEN_OPTIONS = {"protocol_whitelist": "file"}


@dataclass(frozen=True, slots=True)
class VideoStreamInfo:
    """One video stream."""

    index: int
    codec: str
    width: int
    height: int
    fps: float | None
    rotation: int  # clockwise degrees to apply for display: 0, 90, 180 or 270
    bit_rate: int | None
    pix_fmt: str | None
    profile: str | None
    frames: int | None
    duration: float | None
    decodable: bool

    @property
    def display_width(self) -> int:
        """Width once rotation is applied."""
        return self.height if self.rotation in (90, 270) else self.width

    @property
    def display_height(self) -> int:
        """Height once rotation is applied."""
        return self.width if self.rotation in (90, 270) else self.height


@dataclass(frozen=True, slots=True)
class AudioStreamInfo:
    """One audio stream."""

    index: int
    codec: str
    sample_rate: int
    channels: int
    bit_rate: int | None
    duration: float | None


@dataclass(slots=True)
class ProbeResult:
    """Container-level facts plus the usable streams (cover art excluded)."""

    format_name: str
    duration: float | None
    bit_rate: int | None
    size_bytes: int
    video: list[VideoStreamInfo] = field(default_factory=list)
    audio: list[AudioStreamInfo] = field(default_factory=list)
    capture: Capture = field(default_factory=Capture)  # creation time and position from the container's tags

    @property
    def video_stream(self) -> VideoStreamInfo | None:
        """The first video stream, if any."""
        return self.video[0] if self.video else None

    @property
    def audio_stream(self) -> AudioStreamInfo | None:
        """The first audio stream, if any."""
        return self.audio[0] if self.audio else None

    @property
    def formats(self) -> set[str]:
        """The demuxer's aliases, e.g. {'mov', 'mp4', 'm4a', ...} or {'matroska', 'webm'}."""
        return set(self.format_name.split(","))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {**asdict(self), "capture": self.capture.to_json()}


def _rate(value: Fraction | None) -> float | None:
    """A frame rate as float, None when unknown/absurd."""
    if not value:
        return None
    rate = float(value)
    return round(rate, 3) if rate > 0 else None


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    """Stream duration in seconds."""
    if value is None or time_base is None or value <= 0:
        return None
    return float(value * time_base)


def _first_frame_rotation(container: av.container.InputContainer, stream: Any) -> tuple[int, bool]:
    """Decode the first video frame: (display rotation from its display matrix, decodable?)."""
    try:
        for packet_count, packet in enumerate(container.demux(stream)):
            for frame in packet.decode():
                rotation = round(-float(getattr(frame, "rotation", 0) or 0)) % 360
                return (rotation if rotation in (0, 90, 180, 270) else 0), True
            if packet_count > 500:
                break
    except Exception:
        return 0, False
    return 0, False


def forced_demuxer(path: Path, container_format: str | None) -> str:
    """The demuxer to force: from the given format (sniffed name or demuxer), else sniffed from the bytes.

    Never lets FFmpeg auto-detect (which could pick HLS, concat, tty... and follow references).
    """
    if container_format is None:
        try:
            sniffed = sniff_file(path)
        except OSError:
            sniffed = None
        if sniffed is None or sniffed.format not in DEMUXERS:
            raise MediaRejected("not a supported audio or video format")
        container_format = sniffed.format
    demuxer = DEMUXERS.get(container_format, container_format)
    if demuxer not in set(DEMUXERS.values()):
        raise MediaRejected(f"unsupported container format: {container_format}")
    return demuxer


def probe(path: Path, *, container_format: str | None = None) -> ProbeResult:
    """Read container/stream facts with PyAV, demuxer always forced (given or sniffed); MediaRejected if unreadable."""
    try:
        size = path.stat().st_size
    except OSError:
        raise MediaRejected("file is missing") from None
    if size == 0:
        raise MediaRejected("file is empty")
    demuxer = forced_demuxer(path, container_format)
    try:
        container = av.open(str(path), mode="r", format=demuxer, options=_OPEN_OPTIONS)
    except Exception as exc:
        raise MediaRejected(f"media file is unreadable ({_short(exc)})") from None
    try:
        duration = container.duration / 1_000_000 if container.duration and container.duration > 0 else None
        videos: list[VideoStreamInfo] = []
        audios: list[AudioStreamInfo] = []
        for stream in container.streams:
            if stream.type == "video":
                if stream.disposition & av.stream.Disposition.attached_pic:
                    continue  # cover art in an audio file
                ctx = stream.codec_context
                videos.append(
                    VideoStreamInfo(
                        index=stream.index,
                        codec=_codec_name(ctx),
                        width=int(ctx.width or 0),
                        height=int(ctx.height or 0),
                        fps=_rate(stream.average_rate) or _rate(stream.guessed_rate),
                        rotation=0,
                        bit_rate=int(ctx.bit_rate) if ctx.bit_rate else None,
                        pix_fmt=ctx.pix_fmt,
                        profile=ctx.profile,
                        frames=int(stream.frames) if stream.frames else None,
                        duration=_seconds(stream.duration, stream.time_base),
                        decodable=False,
                    )
                )
            elif stream.type == "audio":
                ctx = stream.codec_context
                audios.append(
                    AudioStreamInfo(
                        index=stream.index,
                        codec=_codec_name(ctx),
                        sample_rate=int(ctx.sample_rate or 0),
                        channels=int(ctx.channels or 0),
                        bit_rate=int(ctx.bit_rate) if ctx.bit_rate else None,
                        duration=_seconds(stream.duration, stream.time_base),
                    )
                )
        if videos:
            first = videos[0]
            rotation, ok = _first_frame_rotation(container, container.streams[first.index])
            videos[0] = VideoStreamInfo(**{**asdict(first), "rotation": rotation, "decodable": ok})
        if duration is None:
            durations = [s.duration for s in [*videos, *audios] if s.duration]
            duration = max(durations) if durations else None
        bit_rate = int(container.bit_rate) if container.bit_rate else None
        if bit_rate is None and duration:
            bit_rate = int(size * 8 / duration)
        return ProbeResult(
            format_name=container.format.name,
            duration=duration,
            bit_rate=bit_rate,
            size_bytes=size,
            video=videos,
            audio=audios,
            capture=from_tags(_tags(container)),
        )
    except MediaRejected:
        raise
    except Exception as exc:
        raise MediaRejected(f"media file is unreadable ({_short(exc)})") from None
    finally:
        container.close()


def _tags(container: av.container.InputContainer) -> dict[str, str]:
    """The container's metadata, completed by its streams' (some muxers put creation_time on the tracks)."""
    tags: dict[str, str] = {}
    for stream in container.streams:
        for key, value in (stream.metadata or {}).items():
            tags.setdefault(key, value)
    tags.update(container.metadata or {})
    return tags


def _short(exc: BaseException) -> str:
    """A short description of a decoder error without file paths."""
    text = getattr(exc, "strerror", None) or type(exc).__name__
    return str(text)[:120]


def validate_video(
    p: ProbeResult,
    *,
    max_width: int = MAX_VIDEO_WIDTH,
    max_height: int = MAX_VIDEO_HEIGHT,
    max_fps: float = MAX_VIDEO_FPS,
    max_frames: int = MAX_VIDEO_FRAMES,
    max_duration_s: float = MAX_VIDEO_DURATION_S,
) -> VideoStreamInfo:
    """Return the main video stream or raise MediaRejected (no video, too large, too fast, too long)."""
    v = p.video_stream
    if v is None:
        raise MediaRejected("no video stream found")
    if v.width <= 0 or v.height <= 0:
        raise MediaRejected("video has no picture size")
    long_side, short_side = max(v.width, v.height), min(v.width, v.height)
    if long_side > max(max_width, max_height) or short_side > min(max_width, max_height):
        raise MediaRejected(f"video is too large: {v.width}x{v.height} (limit {max_width}x{max_height})")
    if v.fps is not None and v.fps > max_fps + 0.01:
        raise MediaRejected(f"video frame rate is too high: {v.fps:g} fps (limit {max_fps:g})")
    duration = p.duration or v.duration
    if duration is None or duration <= 0:
        raise MediaRejected("video duration is unknown")
    if duration > max_duration_s:
        raise MediaRejected(f"video is too long: {duration:.0f} s")
    frames = v.frames or (int(duration * v.fps) if v.fps else None)
    if frames is not None and frames > max_frames:
        raise MediaRejected(f"video has too many frames: {frames} (limit {max_frames})")
    if not v.decodable:
        raise MediaRejected("video stream cannot be decoded")
    return v


def validate_audio(
    p: ProbeResult,
    *,
    min_rate: int = MIN_AUDIO_RATE,
    max_rate: int = MAX_AUDIO_RATE,
    max_duration_s: float = MAX_AUDIO_DURATION_S,
) -> AudioStreamInfo:
    """Return the main audio stream or raise MediaRejected (no audio, absurd sample rate, too long)."""
    a = p.audio_stream
    if a is None:
        raise MediaRejected("no audio stream found")
    if not min_rate <= a.sample_rate <= max_rate:
        raise MediaRejected(f"unsupported audio sample rate: {a.sample_rate} Hz")
    if a.channels <= 0:
        raise MediaRejected("audio has no channels")
    duration = p.duration or a.duration
    if duration is None or duration <= 0:
        raise MediaRejected("audio duration is unknown")
    if duration > max_duration_s:
        raise MediaRejected(f"audio is too long: {duration / 3600:.1f} h (limit {max_duration_s / 3600:g} h)")
    return a


def _codec_name(ctx: Any) -> str:
    """Canonical codec name (mp3, not the decoder's 'mp3float')."""
    try:
        return str(ctx.codec.canonical_name)
    except Exception:
        return str(ctx.name or "unknown")
