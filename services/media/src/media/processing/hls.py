"""The HLS ladder of a video (pure planning and command building; the runner is `transcode.run_ffmpeg`).

One ffmpeg process decodes the source once and `split`s it into one scaled H.264 encode per rung (360p always,
720p and 1080p when the source is at least that tall), keyframes forced every `SEGMENT_S` seconds on every rung
so segments align across renditions (players switch at any boundary), fMP4 (CMAF) segments, a master playlist,
and the audio encoded once as its own rendition group that every video variant references (as PeerTube does;
Immich's transcoder likewise builds its ladder from one input). The filter graph is built with `ffmpeg-python`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from media.processing.probe import ProbeResult
from media.processing.sniff import demuxer_for
from media.processing.transcode import AUDIO_BITRATE, MAX_OUTPUT_FPS, VIDEO_PRESET, _scaled, ffmpeg_exe

SEGMENT_S = 4
#: (name, short side, video bitrate cap bit/s)
LADDER: tuple[tuple[str, int, int], ...] = (("360p", 360, 900_000), ("720p", 720, 3_000_000),
                                            ("1080p", 1080, 6_000_000))
AUDIO_NAME = "audio"
MASTER = "master.m3u8"
CONTENT_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".m4s": "video/iso.segment", ".mp4": "video/mp4"}
# what may be asked for under /hls/: the master, a rendition's playlist, init segment or media segments
_FILE_RE = re.compile(r"^(master\.m3u8|(360p|720p|1080p|audio)/(index\.m3u8|init_[0-9]\.mp4|seg_[0-9]{5}\.m4s))$")


@dataclass(frozen=True, slots=True)
class Rung:
    """One video rendition of the ladder."""

    name: str
    width: int
    height: int
    bitrate: int


def plan_ladder(probe: ProbeResult) -> list[Rung]:
    """360p always (never upscaled), 720p and 1080p when the source's short side reaches them."""
    v = probe.video_stream
    if v is None:
        return []
    width, height = v.display_width, v.display_height
    short = min(width, height)
    rungs = []
    for name, target, bitrate in LADDER:
        if name != "360p" and short < target:
            continue
        w, h = _scaled(width, height, target)
        rungs.append(Rung(name, w, h, bitrate))
    return rungs


def ladder_cmd(src: Path, out_dir: Path, rungs: list[Rung], input_format: str, *, has_audio: bool,
               exe: str | None = None, segment_s: int = SEGMENT_S) -> list[str]:
    """argv writing `out_dir/master.m3u8` and `out_dir/<rung>/{index.m3u8,init_N.mp4,seg_NNNNN.m4s}`."""
    source = ffmpeg.input(f"file:{src}", f=demuxer_for(input_format), protocol_whitelist="file")
    split = source.video.filter_multi_output("split", len(rungs))
    streams = [
        split.stream(i).filter("scale", r.width, r.height, flags="bicubic").filter("setsar", 1)
        for i, r in enumerate(rungs)
    ]
    names = [f"v:{i},agroup:aud,name:{r.name}" if has_audio else f"v:{i},name:{r.name}" for i, r in enumerate(rungs)]
    options: dict[str, object] = {
        "c:v": "libx264", "preset": VIDEO_PRESET, "pix_fmt": "yuv420p", "profile:v": "high",
        "fpsmax": MAX_OUTPUT_FPS,
        # the same forced keyframes on every rung, and no extra ones: segment boundaries align
        "force_key_frames": f"expr:gte(t,n_forced*{segment_s})", "sc_threshold": 0,
        "map_metadata": -1, "map_chapters": -1, "sn": None, "dn": None,
        "f": "hls", "hls_time": segment_s, "hls_playlist_type": "vod", "hls_segment_type": "fmp4",
        "hls_flags": "independent_segments", "hls_fmp4_init_filename": "init.mp4",
        "hls_segment_filename": str(out_dir / "%v" / "seg_%05d.m4s"), "master_pl_name": MASTER,
    }
    for i, r in enumerate(rungs):
        options[f"b:v:{i}"] = r.bitrate
        options[f"maxrate:v:{i}"] = r.bitrate
        options[f"bufsize:v:{i}"] = 2 * r.bitrate
    if has_audio:
        streams.append(source["a:0"])
        names.insert(0, f"a:0,agroup:aud,name:{AUDIO_NAME}")  # audio once, shared by every video variant
        options.update({"c:a": "aac", "b:a": AUDIO_BITRATE, "ac": 2})
    options["var_stream_map"] = " ".join(names)
    out = ffmpeg.output(*streams, str(out_dir / "%v" / "index.m3u8"), **options)
    out = out.global_args("-hide_banner", "-nostdin", "-loglevel", "error", "-progress", "pipe:1", "-nostats")
    return list(out.overwrite_output().compile(cmd=ffmpeg_exe(exe)))


def ladder_files(out_dir: Path) -> list[Path]:
    """Every file of a finished ladder (the master last, so a reader never finds it before its parts)."""
    files = sorted(p for p in out_dir.rglob("*") if p.is_file() and p.name != MASTER)
    return [*files, out_dir / MASTER]


def valid_file(path: str) -> bool:
    """Whether `path` names a file a ladder can have (nothing else is ever read from storage)."""
    return bool(_FILE_RE.match(path))


def content_type(path: str) -> str:
    """The content type of a ladder file."""
    return CONTENT_TYPES[path[path.rindex("."):]]
