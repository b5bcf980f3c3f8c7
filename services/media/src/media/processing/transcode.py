"""FFmpeg command builders (pure) and a small runner with progress, timeout and sanitised errors."""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from media.processing.errors import MediaRejected, ProcessingTimeout
from media.processing.probe import ProbeResult
from media.processing.sniff import demuxer_for

#: Environment variable naming an ffmpeg binary to use instead of imageio-ffmpeg's (settings may pass it too).
FFMPEG_ENV = "MEDIA_FFMPEG_BINARY"
RUNGS: tuple[tuple[str, int], ...] = (("720p", 720), ("1080p", 1080))
#: Above these video bitrates (bit/s) an otherwise fit H.264 source is re-encoded rather than remuxed. Phones
#: record 1080p30 H.264 at 15-17 Mbit/s: under these caps their videos play from a remux within seconds (the
#: HLS ladder serves the bandwidth-friendly rungs).
REMUX_MAX_BITRATE: dict[str, int] = {"720p": 10_000_000, "1080p": 20_000_000}
REMUX_MAX_FPS = 60.0
REMUX_CONTAINERS = {"mov", "mp4", "matroska", "webm"}
REMUX_PIX_FMTS = {"yuv420p", "yuvj420p"}
MAX_OUTPUT_FPS = 60
MAX_OUTPUT_FRAMES = 36_000
VIDEO_CRF = 23
VIDEO_PRESET = "veryfast"
AUDIO_BITRATE = "128k"
POSTER_MAX = 1280
MAX_AAC_RATE = 48_000
#: VBV cap on top of CRF so dark, noisy concert footage cannot balloon (bit/s, with a 2x buffer).
VIDEO_MAXRATE: dict[str, int] = {"720p": 4_000_000, "1080p": 8_000_000}


def ffmpeg_exe(configured: str | None = None) -> str:
    """The ffmpeg binary: the configured path, else $MEDIA_FFMPEG_BINARY, else imageio-ffmpeg's bundled one."""
    if configured:
        return configured
    env = os.environ.get(FFMPEG_ENV)
    if env:
        return env
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True, slots=True)
class RenditionPlan:
    """One MP4 rendition to produce: output size (display orientation, even) and remux or re-encode."""

    name: str  # "720p" | "1080p"
    width: int
    height: int
    remux: bool
    has_audio: bool
    audio_copy: bool
    reason: str
    downmix: bool = False

    @property
    def filename(self) -> str:
        """Object/file name for this rendition."""
        return f"{self.name}.mp4"


def _even(value: float) -> int:
    """Round to the nearest even integer (>= 2), as libx264 with yuv420p requires."""
    return max(2, round(value / 2) * 2)


def _scaled(width: int, height: int, short_target: int) -> tuple[int, int]:
    """Scale (w, h) so that the short side is at most short_target, keeping aspect, even dims, never upscaling."""
    short = min(width, height)
    if short <= short_target:
        return _even(width) if width % 2 else width, _even(height) if height % 2 else height
    scale = short_target / short
    return _even(width * scale), _even(height * scale)


def split_plans(plans: list[RenditionPlan]) -> tuple[list[RenditionPlan], list[RenditionPlan]]:
    """(made before the video is ready, made after it with the HLS ladder).

    A source with a remuxed rung is playable as soon as that remux is stored: the encodes wait until after.
    """
    if any(p.remux for p in plans):
        return [p for p in plans if p.remux], [p for p in plans if not p.remux]
    return plans, []


def plan_video(probe: ProbeResult) -> list[RenditionPlan]:
    """Decide the renditions: 720p always (at most source size), 1080p when the source's short side exceeds 720."""
    v = probe.video_stream
    if v is None:
        raise MediaRejected("no video stream found")
    width, height = v.display_width, v.display_height
    short = min(width, height)
    audio = probe.audio_stream
    audio_ok = audio is None or (audio.codec == "aac" and audio.channels <= 2)
    video_ok = (
        v.codec == "h264"
        and (v.pix_fmt or "") in REMUX_PIX_FMTS
        and (v.fps is None or v.fps <= REMUX_MAX_FPS)
        and bool(probe.formats & REMUX_CONTAINERS)
        and width % 2 == 0
        and height % 2 == 0
    )
    bitrate = v.bit_rate or probe.bit_rate
    plans: list[RenditionPlan] = []
    for name, rung in RUNGS:
        if name != "720p" and short <= 720:
            continue
        target_w, target_h = _scaled(width, height, rung)
        fits = (target_w, target_h) == (width, height)
        sane = bitrate is not None and bitrate <= REMUX_MAX_BITRATE[name]
        remux = video_ok and audio_ok and fits and sane
        if remux:
            reason = "source is H.264/AAC within size and bitrate: remux with faststart"
        elif not fits:
            reason = f"downscale {width}x{height} -> {target_w}x{target_h}"
        elif not video_ok:
            reason = f"re-encode {v.codec}/{v.pix_fmt} to H.264"
        elif not audio_ok:
            reason = "re-encode audio to AAC"
        else:
            reason = "bitrate too high for the rung: re-encode"
        plans.append(
            RenditionPlan(
                name=name,
                width=target_w,
                height=target_h,
                remux=remux,
                has_audio=audio is not None,
                audio_copy=remux or (audio is not None and audio.codec == "aac" and audio.channels <= 2),
                reason=reason,
                downmix=audio is not None and audio.channels > 2,
            )
        )
    return plans


def _input_args(src: Path, input_format: str, exe: str | None) -> list[str]:
    """The common, hardened head of every command: forced demuxer, file protocol only, no stdin."""
    return [
        ffmpeg_exe(exe),
        "-hide_banner",
        "-nostdin",
        "-y",
        "-loglevel",
        "error",
        "-protocol_whitelist",
        "file",
        "-f",
        demuxer_for(input_format),
        "-i",
        f"file:{src}",
    ]


def _progress_args() -> list[str]:
    """Machine-readable progress on stdout."""
    return ["-progress", "pipe:1", "-nostats"]


def video_rendition_cmd(
    src: Path, dst: Path, plan: RenditionPlan, input_format: str, *, exe: str | None = None
) -> list[str]:
    """argv producing an H.264/AAC MP4 with +faststart (stream copy when plan.remux)."""
    cmd = _input_args(src, input_format, exe)
    cmd += ["-map", "0:v:0", "-map", "0:a:0?", "-map_metadata", "-1", "-map_chapters", "-1", "-sn", "-dn"]
    if plan.remux:
        cmd += ["-c", "copy", "-tag:v", "avc1"]
    else:
        cmd += [
            "-vf",
            f"scale={plan.width}:{plan.height}:flags=bicubic,setsar=1",
            "-c:v",
            "libx264",
            "-preset",
            VIDEO_PRESET,
            "-crf",
            str(VIDEO_CRF),
            "-pix_fmt",
            "yuv420p",
            "-profile:v",
            "high",
            "-maxrate",
            str(VIDEO_MAXRATE.get(plan.name, 8_000_000)),
            "-bufsize",
            str(2 * VIDEO_MAXRATE.get(plan.name, 8_000_000)),
            "-fpsmax",
            str(MAX_OUTPUT_FPS),
        ]
        if plan.audio_copy and not plan.downmix:
            cmd += ["-c:a", "copy"]
        else:
            cmd += ["-c:a", "aac", "-b:a", AUDIO_BITRATE]
            if plan.downmix:
                cmd += ["-ac", "2"]
    cmd += ["-frames:v", str(MAX_OUTPUT_FRAMES), "-max_muxing_queue_size", "1024"]
    cmd += ["-movflags", "+faststart", *_progress_args(), "-f", "mp4", f"file:{dst}"]
    return cmd


def poster_time(duration: float | None) -> float:
    """Where to grab the poster: 10% into the video, at most 30 s, 0 when the duration is unknown."""
    if not duration or duration <= 0:
        return 0.0
    return round(min(duration * 0.1, 30.0, max(0.0, duration - 0.1)), 3)


def poster_cmd(
    src: Path,
    dst: Path,
    input_format: str,
    at_seconds: float,
    *,
    max_size: int = POSTER_MAX,
    exe: str | None = None,
) -> list[str]:
    """argv writing one frame (JPEG, or WebP when dst ends in .webp) scaled to fit max_size, no metadata."""
    cmd = _input_args(src, input_format, exe)
    # Seek before -i (fast, keyframe-accurate then decode-accurate); the input options must precede -i.
    i = cmd.index("-i")
    cmd[i:i] = ["-ss", f"{max(0.0, at_seconds):.3f}"]
    scale = (
        f"scale=w='min({max_size},iw)':h='min({max_size},ih)':force_original_aspect_ratio=decrease:force_divisible_by=2"
    )
    cmd += ["-map", "0:v:0", "-map_metadata", "-1", "-an", "-sn", "-dn", "-vf", scale, "-frames:v", "1"]
    if dst.suffix.lower() == ".webp":
        cmd += ["-c:v", "libwebp", "-quality", "80", "-compression_level", "2"]
    else:
        cmd += ["-c:v", "mjpeg", "-q:v", "3", "-pix_fmt", "yuvj420p"]
    cmd += ["-f", "image2", "-update", "1", f"file:{dst}"]
    return cmd


def make_poster(
    src: Path,
    dst: Path,
    input_format: str,
    duration_s: float | None,
    *,
    timeout_s: float = 60.0,
    exe: str | None = None,
) -> Path:
    """Write a poster frame at poster_time(duration), falling back to the first frame; MediaRejected if none."""
    for at in dict.fromkeys((poster_time(duration_s), 0.0)):
        dst.unlink(missing_ok=True)
        run_ffmpeg(
            poster_cmd(src, dst, input_format, at, exe=exe), duration_s=None, on_progress=None, timeout_s=timeout_s
        )
        if dst.exists() and dst.stat().st_size > 0:
            return dst
    raise MediaRejected("no video frame could be decoded for the poster")


def audio_rendition_cmd(
    src: Path,
    dst: Path,
    input_format: str,
    *,
    bitrate: str = "192k",
    sample_rate: int | None = None,
    exe: str | None = None,
) -> list[str]:
    """argv producing a stereo AAC .m4a with +faststart and no metadata (resampled to 48 kHz above that)."""
    cmd = _input_args(src, input_format, exe)
    cmd += ["-map", "0:a:0", "-vn", "-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1"]
    cmd += ["-c:a", "aac", "-b:a", bitrate, "-ac", "2"]
    if sample_rate is not None and sample_rate > MAX_AAC_RATE:
        cmd += ["-ar", str(MAX_AAC_RATE)]
    cmd += ["-movflags", "+faststart", *_progress_args(), "-f", "mp4", f"file:{dst}"]
    return cmd


_PLAYABLE = {
    "mp3": {"mp3"},
    "aac": {"mov", "mp4", "m4a", "aac"},
    "opus": {"ogg", "webm", "matroska"},
}


def needs_audio_transcode(probe: ProbeResult) -> bool:
    """True unless the original is MP3, AAC in MP4/ADTS, or Opus in Ogg/WebM (which browsers play as is)."""
    a = probe.audio_stream
    if a is None:
        return True
    containers = _PLAYABLE.get(a.codec)
    return not (containers and probe.formats & containers)


def _sanitise(text: str, cmd: Sequence[str]) -> str:
    """Remove server paths from ffmpeg's messages (keep only file names)."""
    for arg in cmd:
        if arg.startswith("file:"):
            path = arg[5:]
            text = text.replace(arg, Path(path).name).replace(path, Path(path).name)
    return text


def _own_group_dying_with_parent() -> None:
    """In the ffmpeg child: its own process group (killed as one), and SIGKILL if the worker dies."""
    os.setsid()
    if sys.platform.startswith("linux"):
        import ctypes

        # PR_SET_PDEATHSIG: a worker killed by SIGKILL/OOM must not leave an orphan transcode behind
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)


def run_ffmpeg(
    cmd: Sequence[str],
    *,
    duration_s: float | None,
    on_progress: Callable[[float], None] | None,
    timeout_s: float,
) -> None:
    """Run ffmpeg; report 0-100 % from -progress; kill on timeout (ProcessingTimeout); MediaRejected on failure."""
    stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
    proc = subprocess.Popen(
        list(cmd),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        preexec_fn=_own_group_dying_with_parent,
    )
    timed_out = threading.Event()

    def _kill() -> None:
        """Kill ffmpeg's whole process group."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def _on_timeout() -> None:
        """Timer callback."""
        timed_out.set()
        _kill()

    def _drain_stderr() -> None:
        """Keep the last lines of stderr without letting the pipe fill up."""
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.strip():
                stderr_tail.append(line.rstrip())

    timer = threading.Timer(timeout_s, _on_timeout)
    timer.daemon = True
    reader = threading.Thread(target=_drain_stderr, daemon=True)
    reader.start()
    timer.start()
    last = -1.0
    total_us = duration_s * 1_000_000 if duration_s and duration_s > 0 else None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            key, _, value = line.strip().partition("=")
            if on_progress is None:
                continue
            if key in ("out_time_us", "out_time_ms") and total_us and value.lstrip("-").isdigit():
                # ffmpeg's out_time_ms is (historically) in microseconds too.
                pct = max(0.0, min(99.9, int(value) / total_us * 100))
                if pct > last:
                    last = pct
                    on_progress(round(pct, 1))
            elif key == "progress" and value == "end":
                last = 100.0
                on_progress(100.0)
        rc = proc.wait(timeout=max(1.0, timeout_s))
    except BaseException:
        _kill()
        proc.wait()
        raise
    finally:
        timer.cancel()
        reader.join(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    if timed_out.is_set():
        raise ProcessingTimeout(f"processing took longer than {timeout_s:g} s and was stopped")
    if rc != 0:
        tail = _sanitise(" | ".join(list(stderr_tail)[-5:]), cmd)[-500:]
        raise MediaRejected(f"media could not be converted: {tail or f'ffmpeg exited with {rc}'}")
