"""The HLS ladder: rung planning, the one-decode command ffmpeg-python builds, and a real run on a short clip."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from media.processing import probe, run_ffmpeg
from media.processing.hls import (
    Rung,
    content_type,
    ladder_cmd,
    ladder_files,
    plan_ladder,
    valid_file,
)
from media.processing.probe import ProbeResult, VideoStreamInfo
from shared.testing.media import make_video


def _probe(width: int, height: int) -> ProbeResult:
    v = VideoStreamInfo(index=0, codec="h264", width=width, height=height, fps=30.0, rotation=0, bit_rate=None,
                        pix_fmt="yuv420p", profile=None, frames=None, duration=10.0, decodable=True)
    return ProbeResult(format_name="mov,mp4", duration=10.0, bit_rate=None, size_bytes=0, video=[v])


@pytest.mark.parametrize(("size", "expected"), [
    ((1920, 1080), [("360p", 640, 360), ("720p", 1280, 720), ("1080p", 1920, 1080)]),
    ((1280, 720), [("360p", 640, 360), ("720p", 1280, 720)]),
    ((640, 360), [("360p", 640, 360)]),
    ((320, 240), [("360p", 320, 240)]),  # never upscaled
    ((1080, 1920), [("360p", 360, 640), ("720p", 720, 1280), ("1080p", 1080, 1920)]),  # portrait phone video
])
def test_plan_ladder(size: tuple[int, int], expected: list[tuple[str, int, int]]) -> None:
    assert [(r.name, r.width, r.height) for r in plan_ladder(_probe(*size))] == expected


def test_ladder_cmd_is_one_decode_split_into_aligned_encodes(tmp_path: Path) -> None:
    rungs = [Rung("360p", 640, 360, 900_000), Rung("720p", 1280, 720, 3_000_000), Rung("1080p", 1920, 1080, 6_000_000)]
    cmd = ladder_cmd(tmp_path / "in.mov", tmp_path / "out", rungs, "mov", has_audio=True)
    assert cmd.count("-i") == 1 and cmd[cmd.index("-i") + 1] == f"file:{tmp_path / 'in.mov'}"
    assert cmd[cmd.index("-f") + 1] == "mov" and cmd[cmd.index("-protocol_whitelist") + 1] == "file"
    graph = cmd[cmd.index("-filter_complex") + 1]
    assert graph.count("split=3") == 1
    for r in rungs:
        assert f"scale={r.width}:{r.height}" in graph
    assert cmd[cmd.index("-force_key_frames") + 1] == "expr:gte(t,n_forced*4)"
    assert cmd[cmd.index("-sc_threshold") + 1] == "0"
    assert cmd[cmd.index("-hls_segment_type") + 1] == "fmp4" and cmd[cmd.index("-hls_time") + 1] == "4"
    assert cmd[cmd.index("-master_pl_name") + 1] == "master.m3u8"
    streams = cmd[cmd.index("-var_stream_map") + 1].split(" ")
    assert streams == ["a:0,agroup:aud,name:audio", "v:0,agroup:aud,name:360p", "v:1,agroup:aud,name:720p",
                       "v:2,agroup:aud,name:1080p"]  # audio once, referenced by each video variant
    assert cmd.count("-map") == 4 and cmd.count("0:a:0") == 1
    assert cmd[cmd.index("-b:v:2") + 1] == "6000000" and cmd[cmd.index("-maxrate:v:0") + 1] == "900000"
    assert "-progress" in cmd and str(tmp_path / "out" / "%v" / "index.m3u8") in cmd


def test_ladder_cmd_without_audio(tmp_path: Path) -> None:
    cmd = ladder_cmd(tmp_path / "in.mp4", tmp_path / "out", [Rung("360p", 640, 360, 900_000)], "mp4",
                     has_audio=False)
    assert cmd[cmd.index("-var_stream_map") + 1] == "v:0,name:360p"
    assert "-c:a" not in cmd and "0:a:0" not in cmd


def test_valid_files_and_types() -> None:
    for ok in ("master.m3u8", "720p/index.m3u8", "audio/init_0.mp4", "1080p/seg_00012.m4s"):
        assert valid_file(ok)
    for bad in ("../x", "720p/../../original.mp4", "original.mp4", "720p/seg_1.m4s", "4k/index.m3u8", ""):
        assert not valid_file(bad)
    assert content_type("master.m3u8") == "application/vnd.apple.mpegurl"
    assert content_type("720p/seg_00001.m4s") == "video/iso.segment"
    assert content_type("720p/init_2.mp4") == "video/mp4"


def _playlist(path: Path) -> tuple[list[str], list[str]]:
    lines = path.read_text().splitlines()
    durations = [line for line in lines if line.startswith("#EXTINF")]
    segments = [line for line in lines if line and not line.startswith("#")]
    return durations, segments


def test_ladder_from_a_short_clip(tmp_path: Path) -> None:
    src = make_video(tmp_path / "clip.mp4", seconds=9, width=1280, height=720, fps=25)
    info = probe(src, container_format="mp4")
    rungs = plan_ladder(info)
    out = tmp_path / "hls"
    progress: list[float] = []
    run_ffmpeg(ladder_cmd(src, out, rungs, "mp4", has_audio=True), duration_s=info.duration,
               on_progress=progress.append, timeout_s=300)
    assert progress and progress[-1] == 100.0
    master = (out / "master.m3u8").read_text()
    assert master.count("#EXT-X-STREAM-INF") == 3  # audio-only + 360p + 720p
    assert "RESOLUTION=640x360" in master and "RESOLUTION=1280x720" in master
    assert master.count("TYPE=AUDIO") == 1 and 'AUDIO="group_aud"' in master
    ladders = {r.name: _playlist(out / r.name / "index.m3u8") for r in rungs}
    durations = {name: d for name, (d, _) in ladders.items()}
    assert durations["360p"] == durations["720p"]  # segment boundaries align across rungs
    assert len(durations["720p"]) == 3 and all(d.startswith("#EXTINF:4.0") for d in durations["720p"][:2])
    files = ladder_files(out)
    assert files[-1].name == "master.m3u8" and all(valid_file(str(f.relative_to(out))) for f in files)
    for name, rung in (("360p", rungs[0]), ("720p", rungs[1])):
        init = next((out / name).glob("init_*.mp4"))
        for seg in ladders[name][1]:  # every segment starts on a keyframe and decodes after its init segment
            joined = tmp_path / f"{name}-{seg}.mp4"
            joined.write_bytes(init.read_bytes() + (out / name / seg).read_bytes())
            with av.open(str(joined)) as c:
                stream = c.streams.video[0]
                assert (stream.codec_context.width, stream.codec_context.height) == (rung.width, rung.height)
                first = next(c.demux(stream))
                assert first.is_keyframe
    audio_init = next((out / "audio").glob("init_*.mp4"))
    joined = tmp_path / "audio.mp4"
    joined.write_bytes(audio_init.read_bytes() + (out / "audio" / "seg_00000.m4s").read_bytes())
    with av.open(str(joined)) as c:
        assert c.streams.audio and not c.streams.video
