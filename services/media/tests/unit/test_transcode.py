"""ffmpeg command builders (argv hardening), rendition planning, the runner, and real renditions."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import av
import pytest
from PIL import Image

from media.processing import (
    MediaRejected,
    ProbeResult,
    ProcessingTimeout,
    RenditionPlan,
    audio_rendition_cmd,
    ffmpeg_exe,
    make_poster,
    needs_audio_transcode,
    plan_video,
    poster_cmd,
    poster_time,
    probe,
    run_ffmpeg,
    sniff_file,
    video_rendition_cmd,
)
from media.processing.transcode import FFMPEG_ENV


def _probe(path: Path) -> ProbeResult:
    sniffed = sniff_file(path)
    assert sniffed is not None
    return probe(path, container_format=sniffed.format)


def _fmt(path: Path) -> str:
    sniffed = sniff_file(path)
    assert sniffed is not None
    return sniffed.format


def _decoded(path: Path) -> tuple[str, str | None, int, int, float, int]:
    """(video codec, audio codec, width, height, duration, rotation) of an output, by decoding it with PyAV."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        a = c.streams.audio[0].codec_context.codec.canonical_name if c.streams.audio else None
        frames = 0
        rotation = 0
        for frame in c.decode(v):
            if frames == 0:
                rotation = int(frame.rotation or 0)
            frames += 1
        assert frames > 0
        meta = dict(c.metadata)
        assert "title" not in meta and "location" not in meta and "comment" not in meta
        return (
            v.codec_context.codec.canonical_name,
            a,
            v.codec_context.width,
            v.codec_context.height,
            c.duration / 1_000_000,
            rotation,
        )


def _faststart(path: Path) -> bool:
    raw = path.read_bytes()
    return 0 <= raw.find(b"moov") < raw.find(b"mdat")


def _assert_hardened(cmd: list[str], demuxer: str) -> None:
    i = cmd.index("-i")
    head = cmd[:i]
    assert head[head.index("-protocol_whitelist") + 1] == "file"
    assert head[head.index("-f") + 1] == demuxer  # forced input demuxer, before -i
    assert cmd[i + 1].startswith("file:")
    assert "-nostdin" in cmd
    assert cmd[cmd.index("-map_metadata") + 1] == "-1"


# ------------------------------------------------------------------------------------------ pure builders


def test_ffmpeg_exe_default_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FFMPEG_ENV, raising=False)
    assert Path(ffmpeg_exe()).exists()
    assert ffmpeg_exe("/opt/ff/ffmpeg") == "/opt/ff/ffmpeg"
    monkeypatch.setenv(FFMPEG_ENV, "/usr/bin/ffmpeg")
    assert ffmpeg_exe() == "/usr/bin/ffmpeg"


def test_video_cmd_reencode_flags(tmp_path: Path) -> None:
    plan = RenditionPlan("720p", 1280, 720, remux=False, has_audio=True, audio_copy=False, reason="x")
    cmd = video_rendition_cmd(tmp_path / "in.webm", tmp_path / "out.mp4", plan, "webm")
    _assert_hardened(cmd, "matroska")
    joined = " ".join(cmd)
    for flag in (
        "-c:v libx264",
        "-preset veryfast",
        "-crf 23",
        "-pix_fmt yuv420p",
        "-c:a aac",
        "-b:a 128k",
        "-movflags +faststart",
        "-progress pipe:1",
        "-nostats",
        "scale=1280:720",
        "-frames:v",
        "-maxrate 4000000",
        "-bufsize 8000000",
    ):
        assert flag in joined, flag
    assert cmd[-1] == f"file:{tmp_path / 'out.mp4'}" and cmd[-3:-1] == ["-f", "mp4"]


def test_video_cmd_remux_copies_streams(tmp_path: Path) -> None:
    plan = RenditionPlan("720p", 854, 480, remux=True, has_audio=True, audio_copy=True, reason="x")
    cmd = video_rendition_cmd(tmp_path / "in.mp4", tmp_path / "out.mp4", plan, "mp4")
    _assert_hardened(cmd, "mov")
    assert cmd[cmd.index("-c") + 1] == "copy" and "libx264" not in cmd and "-vf" not in cmd
    assert "+faststart" in cmd


@pytest.mark.parametrize(
    ("fmt", "demuxer"),
    [
        ("mp3", "mp3"),
        ("wav", "wav"),
        ("ogg", "ogg"),
        ("flac", "flac"),
        ("m4a", "mov"),
        ("aac", "aac"),
        ("webm", "matroska"),
    ],
)
def test_audio_cmd_flags(tmp_path: Path, fmt: str, demuxer: str) -> None:
    cmd = audio_rendition_cmd(tmp_path / "in", tmp_path / "out.m4a", fmt)
    _assert_hardened(cmd, demuxer)
    for flag in ("-vn", "-c:a", "aac", "+faststart"):
        assert flag in cmd
    assert "-ar" not in cmd and "-ar" not in audio_rendition_cmd(tmp_path / "i", tmp_path / "o", fmt, sample_rate=48000)
    hi = audio_rendition_cmd(tmp_path / "in", tmp_path / "out.m4a", fmt, sample_rate=192_000)
    assert hi[hi.index("-ar") + 1] == "48000"


def test_poster_cmd_flags(tmp_path: Path) -> None:
    cmd = poster_cmd(tmp_path / "in.avi", tmp_path / "poster.jpg", "avi", 1.5)
    _assert_hardened(cmd, "avi")
    assert cmd[cmd.index("-ss") + 1] == "1.500" and cmd.index("-ss") < cmd.index("-i")
    assert "-frames:v" in cmd and "-an" in cmd and "min(1280" in " ".join(cmd)
    webp = poster_cmd(tmp_path / "in.avi", tmp_path / "poster.webp", "avi", 0)
    assert "libwebp" in webp


def test_unknown_input_format_is_refused(tmp_path: Path) -> None:
    plan = RenditionPlan("720p", 1280, 720, remux=False, has_audio=True, audio_copy=False, reason="x")
    for bad in ("hls", "concat", "image2", "lavfi"):
        with pytest.raises(ValueError):
            video_rendition_cmd(tmp_path / "a", tmp_path / "b.mp4", plan, bad)


def test_poster_time() -> None:
    assert poster_time(None) == 0.0 and poster_time(0) == 0.0
    assert poster_time(10.0) == 1.0 and poster_time(3600.0) == 30.0
    assert poster_time(0.05) == 0.0


# --------------------------------------------------------------------------------------------- planning


def test_plan_1080p_source(av_files: dict[str, Path]) -> None:
    plans = plan_video(_probe(av_files["1080p.mp4"]))
    assert [(p.name, p.width, p.height) for p in plans] == [("720p", 1280, 720), ("1080p", 1920, 1080)]
    assert plans[0].remux is False  # needs a downscale
    assert plans[1].remux is True  # already H.264/AAC 1080p at a sane bitrate


def test_plan_480p_h264_is_a_remux_never_upscaled(av_files: dict[str, Path]) -> None:
    plans = plan_video(_probe(av_files["480p.mp4"]))
    assert len(plans) == 1
    assert (plans[0].name, plans[0].width, plans[0].height, plans[0].remux) == ("720p", 854, 480, True)


@pytest.mark.parametrize("name", ["clip.webm", "clip.avi", "fast240.mp4"])
def test_plan_reencodes_other_codecs(av_files: dict[str, Path], name: str) -> None:
    plans = plan_video(_probe(av_files[name]))
    assert len(plans) == 1 and not plans[0].remux and plans[0].name == "720p"


def test_plan_mkv_h264_aac_remuxes_into_mp4(av_files: dict[str, Path]) -> None:
    plans = plan_video(_probe(av_files["clip.mkv"]))
    assert plans[0].remux


def test_plan_portrait_uses_display_orientation(av_files: dict[str, Path]) -> None:
    (plan,) = plan_video(_probe(av_files["rotated.mp4"]))
    assert (plan.width, plan.height) == (240, 320)


def test_plan_high_bitrate_or_4k(av_files: dict[str, Path]) -> None:
    p = _probe(av_files["1080p.mp4"])
    v = p.video[0]
    from dataclasses import replace

    fat = replace(p, video=[replace(v, bit_rate=40_000_000)])
    assert not any(x.remux for x in plan_video(fat))
    uhd = replace(p, video=[replace(v, width=3840, height=2160)])
    assert [(x.name, x.width, x.height, x.remux) for x in plan_video(uhd)] == [
        ("720p", 1280, 720, False),
        ("1080p", 1920, 1080, False),
    ]
    portrait = replace(p, video=[replace(v, width=1080, height=1920)])
    assert [(x.width, x.height) for x in plan_video(portrait)] == [(720, 1280), (1080, 1920)]
    odd = replace(p, video=[replace(v, width=853, height=479)])
    (only,) = plan_video(odd)
    assert only.width % 2 == 0 and only.height % 2 == 0 and not only.remux
    with pytest.raises(MediaRejected):
        plan_video(replace(p, video=[]))


def test_needs_audio_transcode(av_files: dict[str, Path]) -> None:
    expected = {
        "tone.mp3": False,
        "audio_only.m4a": False,
        "tone.opus": False,
        "clip.webm": False,
        "tone.wav": True,
        "tone.flac": True,
        "tone_vorbis.ogg": True,
        "clip.avi": True,
    }
    assert {n: needs_audio_transcode(_probe(av_files[n])) for n in expected} == expected


# ------------------------------------------------------------------------------------------ real ffmpeg


def test_transcode_1080p_to_720p_with_progress(av_files: dict[str, Path], tmp_path: Path) -> None:
    src = av_files["1080p.mp4"]
    p = _probe(src)
    plan = plan_video(p)[0]
    dst = tmp_path / plan.filename
    progress: list[float] = []
    run_ffmpeg(
        video_rendition_cmd(src, dst, plan, _fmt(src)),
        duration_s=p.duration,
        on_progress=progress.append,
        timeout_s=120,
    )
    vcodec, acodec, w, h, duration, _rot = _decoded(dst)
    assert (vcodec, acodec, w, h) == ("h264", "aac", 1280, 720)
    assert duration == pytest.approx(3.0, abs=0.2)
    assert _faststart(dst)
    assert progress and progress[-1] == 100.0
    assert progress == sorted(progress) and len(set(progress)) == len(progress)
    assert all(0 <= x <= 100 for x in progress)


def test_remux_480p_is_fast_and_exact(av_files: dict[str, Path], tmp_path: Path) -> None:
    src = av_files["480p.mp4"]
    p = _probe(src)
    (plan,) = plan_video(p)
    assert plan.remux
    dst = tmp_path / "720p.mp4"
    started = time.perf_counter()
    run_ffmpeg(video_rendition_cmd(src, dst, plan, "mp4"), duration_s=p.duration, on_progress=None, timeout_s=60)
    assert time.perf_counter() - started < 3
    vcodec, acodec, w, h, duration, _rot = _decoded(dst)
    assert (vcodec, acodec, w, h) == ("h264", "aac", 854, 480)
    assert duration == pytest.approx(2.0, abs=0.2)
    assert _faststart(dst) and not _faststart(src)  # the source had moov at the end


@pytest.mark.parametrize(
    ("name", "size"), [("clip.webm", (320, 240)), ("clip.avi", (320, 240)), ("rotated.mp4", (240, 320))]
)
def test_reencode_other_containers(av_files: dict[str, Path], tmp_path: Path, name: str, size: tuple[int, int]) -> None:
    src = av_files[name]
    p = _probe(src)
    (plan,) = plan_video(p)
    dst = tmp_path / "out.mp4"
    run_ffmpeg(video_rendition_cmd(src, dst, plan, _fmt(src)), duration_s=p.duration, on_progress=None, timeout_s=60)
    vcodec, acodec, w, h, duration, rot = _decoded(dst)
    assert (vcodec, acodec) == ("h264", "aac")
    if plan.remux:  # rotation kept as metadata, pixels unchanged
        assert (h, w) == size and rot != 0
    else:
        assert (w, h) == size and rot == 0
    assert duration == pytest.approx(2.0, abs=0.2)


@pytest.mark.parametrize("suffix", [".jpg", ".webp"])
def test_poster(av_files: dict[str, Path], tmp_path: Path, suffix: str) -> None:
    src = av_files["1080p.mp4"]
    p = _probe(src)
    dst = tmp_path / f"poster{suffix}"
    run_ffmpeg(poster_cmd(src, dst, "mp4", poster_time(p.duration)), duration_s=None, on_progress=None, timeout_s=30)
    with Image.open(dst) as im:
        im.load()
        assert im.size == (1280, 720) and im.format in ("JPEG", "WEBP")
        assert len(im.getexif()) == 0


@pytest.mark.parametrize(
    ("name", "duration"), [("tone_vorbis.ogg", 3.0), ("tone.flac", 3.0), ("tone.wav", 3.0), ("clip.webm", 2.0)]
)
def test_audio_rendition(av_files: dict[str, Path], tmp_path: Path, name: str, duration: float) -> None:
    src = av_files[name]
    dst = tmp_path / "audio.m4a"
    progress: list[float] = []
    run_ffmpeg(audio_rendition_cmd(src, dst, _fmt(src)), duration_s=duration, on_progress=progress.append, timeout_s=60)
    out = probe(dst, container_format="m4a")
    assert out.video_stream is None and out.audio_stream is not None
    assert out.audio_stream.codec == "aac" and out.audio_stream.channels == 2
    assert out.duration == pytest.approx(duration, abs=0.2)
    assert _faststart(dst) and progress[-1] == 100.0
    assert not needs_audio_transcode(out)


def test_make_poster_falls_back_to_first_frame(av_files: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "poster.jpg"
    # A wrong (too long) duration seeks past the end: the helper retries at 0 s.
    assert make_poster(av_files["clip.webm"], dst, "webm", 500.0) == dst
    with Image.open(dst) as im:
        assert im.size == (320, 240)
    with pytest.raises(MediaRejected):
        make_poster(av_files["tone.wav"], tmp_path / "p2.jpg", "wav", 3.0)


# ---------------------------------------------------------------------------------------- failures


def test_truncated_mp4_fails_with_media_rejected(av_files: dict[str, Path], tmp_path: Path) -> None:
    plan = RenditionPlan("720p", 854, 480, remux=False, has_audio=True, audio_copy=False, reason="x")
    with pytest.raises(MediaRejected) as info:
        run_ffmpeg(
            video_rendition_cmd(av_files["truncated.mp4"], tmp_path / "o.mp4", plan, "mp4"),
            duration_s=2.0,
            on_progress=None,
            timeout_s=30,
        )
    assert info.value.reason.startswith("media could not be converted")
    assert str(tmp_path) not in info.value.reason and str(av_files["truncated.mp4"].parent) not in info.value.reason


def test_hls_playlist_disguised_as_avi_is_not_followed(av_files: dict[str, Path], tmp_path: Path) -> None:
    plan = RenditionPlan("720p", 320, 240, remux=False, has_audio=False, audio_copy=False, reason="x")
    dst = tmp_path / "o.mp4"
    with pytest.raises(MediaRejected):
        run_ffmpeg(
            video_rendition_cmd(av_files["hls.avi"], dst, plan, "avi"), duration_s=None, on_progress=None, timeout_s=30
        )
    assert not dst.exists() or dst.stat().st_size == 0


def test_text_file_as_video_fails_cleanly(bad_photos: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(MediaRejected):
        run_ffmpeg(
            audio_rendition_cmd(bad_photos["text.jpg"], tmp_path / "a.m4a", "mp3"),
            duration_s=None,
            on_progress=None,
            timeout_s=30,
        )


def test_timeout_kills_the_process(tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    code = f"import os,time; open({str(marker)!r},'w').write(str(os.getpid())); time.sleep(60)"
    started = time.perf_counter()
    with pytest.raises(ProcessingTimeout) as info:
        run_ffmpeg([sys.executable, "-c", code], duration_s=None, on_progress=None, timeout_s=1.0)
    assert time.perf_counter() - started < 10
    assert isinstance(info.value, MediaRejected) and "longer than" in info.value.reason
    pid = int(marker.read_text())
    alive = subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode == 0
    assert not alive


def test_progress_callback_error_stops_ffmpeg(av_files: dict[str, Path], tmp_path: Path) -> None:
    src = av_files["1080p.mp4"]
    plan = RenditionPlan("720p", 1280, 720, remux=False, has_audio=True, audio_copy=False, reason="x")

    def boom(_pct: float) -> None:
        raise RuntimeError("task revoked")

    with pytest.raises(RuntimeError, match="revoked"):
        run_ffmpeg(
            video_rendition_cmd(src, tmp_path / "o.mp4", plan, "mp4"), duration_s=3.0, on_progress=boom, timeout_s=60
        )


def test_ffmpeg_dies_with_a_killed_worker(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A worker killed by SIGKILL (or the OOM killer) must not leave its transcode running."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    script = (
        "from media.processing.transcode import run_ffmpeg, ffmpeg_exe\n"
        "run_ffmpeg([ffmpeg_exe(), '-nostdin', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30:duration=120',"
        " '-f', 'null', '-'], duration_s=120, on_progress=None, timeout_s=300)\n"
    )
    worker = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 20
        children: list[psutil.Process] = []
        while time.monotonic() < deadline and not children:
            children = [c for c in psutil.Process(worker.pid).children(recursive=True) if "ffmpeg" in c.name()]
            time.sleep(0.1)
        assert children, "ffmpeg did not start"
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(5)
        _gone, alive = psutil.wait_procs(children, timeout=5)
        assert not alive, "ffmpeg kept running after its worker was killed"
    finally:
        if worker.poll() is None:
            worker.kill()
