"""PyAV probing and the video/audio validation limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from media.processing import (
    AudioStreamInfo,
    MediaRejected,
    ProbeResult,
    VideoStreamInfo,
    probe,
    sniff_file,
    validate_audio,
    validate_video,
)


def _probe(path: Path) -> ProbeResult:
    sniffed = sniff_file(path)
    return probe(path, container_format=sniffed.format if sniffed else None)


def test_probe_1080p(av_files: dict[str, Path]) -> None:
    p = _probe(av_files["1080p.mp4"])
    assert p.duration == pytest.approx(3.0, abs=0.1)
    assert "mov" in p.formats and p.bit_rate and p.size_bytes > 0
    v = validate_video(p)
    assert (v.codec, v.width, v.height, v.pix_fmt, v.rotation) == ("h264", 1920, 1080, "yuv420p", 0)
    assert v.fps == pytest.approx(30.0) and v.frames == 90 and v.bit_rate and v.decodable
    a = p.audio_stream
    assert a is not None and (a.codec, a.sample_rate, a.channels) == ("aac", 44100, 1) and a.bit_rate
    assert p.to_dict()["video"][0]["width"] == 1920


@pytest.mark.parametrize(
    ("name", "codec", "size"),
    [("clip.webm", "vp8", (320, 240)), ("clip.mkv", "h264", (320, 240)), ("clip.avi", "mpeg4", (320, 240))],
)
def test_probe_other_containers(av_files: dict[str, Path], name: str, codec: str, size: tuple[int, int]) -> None:
    p = _probe(av_files[name])
    v = validate_video(p)
    assert (v.codec, v.width, v.height) == (codec, *size)
    assert p.duration == pytest.approx(2.0, abs=0.15)
    assert p.audio_stream is not None


def test_probe_rotation_from_display_matrix(av_files: dict[str, Path]) -> None:
    v = validate_video(_probe(av_files["rotated.mp4"]))
    assert v.rotation in (90, 270)
    assert (v.width, v.height) == (320, 240) and (v.display_width, v.display_height) == (240, 320)


@pytest.mark.parametrize(
    ("name", "codec", "rate", "channels"),
    [
        ("tone.wav", "pcm_s16le", 44100, 2),
        ("tone.mp3", "mp3", 44100, 1),
        ("tone.flac", "flac", 44100, 1),
        ("tone.opus", "opus", 48000, 1),
        ("tone_vorbis.ogg", "vorbis", 44100, 1),
        ("audio_only.m4a", "aac", 44100, 1),
    ],
)
def test_probe_audio(av_files: dict[str, Path], name: str, codec: str, rate: int, channels: int) -> None:
    p = _probe(av_files[name])
    a = validate_audio(p)
    assert (a.codec, a.sample_rate, a.channels) == (codec, rate, channels)
    assert p.duration == pytest.approx(2.0 if name.endswith("m4a") else 3.0, abs=0.1)
    assert p.video_stream is None


def test_video_rejections(av_files: dict[str, Path]) -> None:
    with pytest.raises(MediaRejected, match="frame rate"):
        validate_video(_probe(av_files["fast240.mp4"]))
    with pytest.raises(MediaRejected, match="too large"):
        validate_video(_probe(av_files["huge.mp4"]))
    with pytest.raises(MediaRejected, match="no video stream"):
        validate_video(_probe(av_files["audio_only.m4a"]))
    with pytest.raises(MediaRejected, match="no audio stream"):
        validate_audio(_probe(av_files["fast240.mp4"]))
    with pytest.raises(MediaRejected, match="sample rate"):
        validate_audio(_probe(av_files["lowrate.wav"]))


@pytest.mark.parametrize(("name", "fmt"), [("truncated.mp4", "mp4"), ("hls.avi", "avi"), ("tone.wav", "mp4")])
def test_unreadable_files_raise_media_rejected(av_files: dict[str, Path], name: str, fmt: str) -> None:
    with pytest.raises(MediaRejected) as info:
        probe(av_files[name], container_format=fmt)
    assert "unreadable" in info.value.reason
    assert str(av_files[name].parent) not in info.value.reason


@pytest.mark.parametrize("name", ["empty.jpg", "text.jpg", "page.html", "archive.zip"])
def test_garbage_raises_media_rejected(bad_photos: dict[str, Path], name: str) -> None:
    with pytest.raises(MediaRejected):
        probe(bad_photos[name], container_format="mp4")
    with pytest.raises(MediaRejected):
        probe(bad_photos[name])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaRejected, match="missing"):
        probe(tmp_path / "nope.mp4")


def _fake(
    width: int = 1920,
    height: int = 1080,
    fps: float | None = 30.0,
    duration: float | None = 10.0,
    frames: int | None = None,
    rate: int = 48000,
) -> ProbeResult:
    v = VideoStreamInfo(0, "h264", width, height, fps, 0, 4_000_000, "yuv420p", "High", frames, duration, True)
    a = AudioStreamInfo(1, "aac", rate, 2, 128_000, duration)
    return ProbeResult("mov,mp4,m4a,3gp,3g2,mj2", duration, 4_128_000, 1000, [v], [a])


def test_validate_limits_on_synthetic_probes() -> None:
    validate_video(_fake(3840, 2160))
    validate_video(_fake(2160, 3840))  # portrait 4K is fine either way round
    validate_video(_fake(fps=120.0))
    for bad in (_fake(7680, 4320), _fake(4000, 2000), _fake(2200, 2200), _fake(fps=240.0)):
        with pytest.raises(MediaRejected):
            validate_video(bad)
    with pytest.raises(MediaRejected, match="too many frames"):
        validate_video(_fake(duration=25 * 60.0))  # 45,000 frames at 30 fps
    with pytest.raises(MediaRejected, match="too many frames"):
        validate_video(_fake(frames=40_000))
    with pytest.raises(MediaRejected, match="duration"):
        validate_video(_fake(duration=None))
    with pytest.raises(MediaRejected):
        validate_video(_fake(duration=1e9))
    validate_audio(_fake(duration=5 * 3600.0))
    with pytest.raises(MediaRejected, match="too long"):
        validate_audio(_fake(duration=7 * 3600.0))
    for rate in (4000, 768_000):
        with pytest.raises(MediaRejected, match="sample rate"):
            validate_audio(_fake(rate=rate))


def test_cover_art_is_not_a_video_stream(av_files: dict[str, Path], ffmpeg: str, tmp_path: Path) -> None:
    import subprocess

    from PIL import Image

    cover = tmp_path / "cover.png"
    Image.new("RGB", (64, 64), (200, 0, 0)).save(cover)
    out = tmp_path / "with_cover.mp3"
    subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-y",
            "-i",
            str(av_files["tone.mp3"]),
            "-i",
            str(cover),
            "-map",
            "0",
            "-map",
            "1",
            "-c",
            "copy",
            "-disposition:v",
            "attached_pic",
            "-id3v2_version",
            "3",
            str(out),
        ],
        check=True,
    )
    p = probe(out, container_format="mp3")
    assert p.video == [] and validate_audio(p).codec == "mp3"
    with pytest.raises(MediaRejected, match="no video stream"):
        validate_video(p)
