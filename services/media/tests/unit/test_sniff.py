"""Magic-byte sniffing and the per-endpoint allowlist."""

from __future__ import annotations

from pathlib import Path

import pytest

from media.processing import SNIFF_BYTES, Sniffed, allowed_for, demuxer_for, sniff, sniff_file


def _head(path: Path) -> bytes:
    return path.read_bytes()[:SNIFF_BYTES]


@pytest.mark.parametrize(
    ("key", "kind", "fmt"),
    [
        ("jpeg", "photo", "jpeg"),
        ("png_rgba", "photo", "png"),
        ("png_palette", "photo", "png"),
        ("gif", "photo", "gif"),
        ("webp", "photo", "webp"),
        ("cmyk", "photo", "jpeg"),
        ("heic", "photo", "heic"),
    ],
)
def test_sniff_generated_photos(photo_files: dict[str, Path], key: str, kind: str, fmt: str) -> None:
    if key not in photo_files:
        pytest.skip("pillow-heif cannot write HEIC here")
    s = sniff(_head(photo_files[key]))
    assert s is not None and (s.kind, s.format) == (kind, fmt)


@pytest.mark.parametrize(
    ("name", "kind", "fmt", "mime"),
    [
        ("1080p.mp4", "video", "mp4", "video/mp4"),
        ("clip.webm", "video", "webm", "video/webm"),
        ("clip.mkv", "video", "mkv", "video/x-matroska"),
        ("clip.avi", "video", "avi", "video/x-msvideo"),
        ("audio_only.m4a", "audio", "m4a", "audio/mp4"),
        ("tone.wav", "audio", "wav", "audio/wav"),
        ("tone.mp3", "audio", "mp3", "audio/mpeg"),
        ("tone.flac", "audio", "flac", "audio/flac"),
        ("tone.opus", "audio", "opus", "audio/ogg"),
        ("tone_vorbis.ogg", "audio", "ogg", "audio/ogg"),
    ],
)
def test_sniff_generated_av(av_files: dict[str, Path], name: str, kind: str, fmt: str, mime: str) -> None:
    s = sniff_file(av_files[name])
    assert s is not None
    assert (s.kind, s.format, s.mime) == (kind, fmt, mime)
    assert demuxer_for(s.format)  # every sniffed a/v format maps to a demuxer


def _ftyp(major: bytes, *compat: bytes) -> bytes:
    body = major + b"\x00\x00\x02\x00" + b"".join(compat)
    return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\x00" * 32


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (_ftyp(b"heic", b"mif1", b"heic"), ("photo", "heic")),
        (_ftyp(b"heix", b"mif1"), ("photo", "heic")),
        (_ftyp(b"mif1", b"heic"), ("photo", "heic")),
        (_ftyp(b"msf1", b"hevc"), ("photo", "heic")),
        (_ftyp(b"mif1", b"miaf"), ("photo", "heif")),
        (_ftyp(b"qt  ", b"qt  "), ("video", "mov")),
        (_ftyp(b"isom", b"iso2", b"avc1", b"mp41"), ("video", "mp4")),
        (_ftyp(b"mp42", b"isom"), ("video", "mp4")),
        (_ftyp(b"M4V ", b"M4V "), ("video", "mp4")),
        (_ftyp(b"M4A ", b"M4A ", b"mp42", b"isom"), ("audio", "m4a")),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + b"\x00" * 20, ("audio", "mp3")),
        (b"\xff\xfb\x90\x64" + b"\x00" * 20, ("audio", "mp3")),
        (b"\xff\xf1\x50\x80" + b"\x00" * 20, ("audio", "aac")),
        (b"\xff\xf9\x50\x80" + b"\x00" * 20, ("audio", "aac")),
        (b"RIFF\x00\x00\x00\x00AVI LIST" + b"\x00" * 8, ("video", "avi")),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm" + b"\x00" * 8, ("video", "webm")),
        (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska" + b"\x00" * 8, ("video", "mkv")),
    ],
)
def test_sniff_crafted_headers(head: bytes, expected: tuple[str, str]) -> None:
    s = sniff(head)
    assert s is not None and (s.kind, s.format) == expected


@pytest.mark.parametrize(
    "name",
    [
        "empty.jpg",
        "text.jpg",
        "script.svg",
        "page.html",
        "doc.pdf",
        "art.eps",
        "archive.zip",
        "fits.fits",
    ],
)
def test_sniff_rejects_non_media(bad_photos: dict[str, Path], name: str) -> None:
    assert sniff(_head(bad_photos[name])) is None


@pytest.mark.parametrize(
    "head",
    [
        _ftyp(b"avif", b"mif1", b"avif"),  # AVIF is not on the allowlist
        _ftyp(b"mif1", b"avif"),
        _ftyp(b"crx ", b"isom"[:0]),
        b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x1e" + b"\x80theora" + b"\x00" * 30,  # Ogg Theora video
        b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84abcd" + b"\x00" * 8,  # unknown EBML doctype
        b"RIFF\x00\x00\x00\x00CDXA" + b"\x00" * 8,
        b"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\nfile:///etc/passwd\n",
        b"\xef\xbb\xbf<svg onload=alert(1)>",
        b"   <html><script>",
        b"\x00" * 64,
        b"\xff\xd8",  # too short to decide
        b"GIF8",
    ],
)
def test_sniff_rejects_crafted(head: bytes) -> None:
    assert sniff(head) is None


def test_polyglot_html_first_is_rejected_jpeg_first_is_jpeg(small_jpeg: Path) -> None:
    jpeg = small_jpeg.read_bytes()
    assert sniff(b"<html><script>alert(1)</script></html>" + jpeg) is None
    s = sniff((jpeg + b"<html><script>alert(1)</script></html>")[:SNIFF_BYTES])
    assert s is not None and s.format == "jpeg"  # the re-encode in process_photo removes the tail


def test_sniffed_is_frozen_value() -> None:
    s = sniff(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
    assert s == Sniffed("photo", "png", "image/png", "png")
    with pytest.raises(AttributeError):
        s.kind = "video"  # type: ignore[misc]


def test_allowed_for(av_files: dict[str, Path], photo_files: dict[str, Path]) -> None:
    png = sniff_file(photo_files["png_rgba"])
    mp4 = sniff_file(av_files["1080p.mp4"])
    webm = sniff_file(av_files["clip.webm"])
    mkv = sniff_file(av_files["clip.mkv"])
    wav = sniff_file(av_files["tone.wav"])
    m4a = sniff_file(av_files["audio_only.m4a"])
    assert allowed_for("photo", png) and allowed_for("photos", png)
    assert not allowed_for("video", png) and not allowed_for("audio", png)
    assert allowed_for("video", mp4) and not allowed_for("photo", mp4)
    assert allowed_for("audio", wav) and not allowed_for("video", wav) and not allowed_for("photo", wav)
    assert allowed_for("audio", m4a) and not allowed_for("video", m4a)
    # audio-only WebM / Matroska (.mka) / MP4 uploads are let through to the probe
    assert allowed_for("audio", webm) and allowed_for("audio", mkv) and allowed_for("audio", mp4)
    assert not allowed_for("photo", None) and not allowed_for("audio", None)
    assert not allowed_for("document", png)


def test_demuxer_map() -> None:
    assert [demuxer_for(f) for f in ("mp4", "mov", "mkv", "webm", "avi", "mp3", "wav", "ogg", "flac", "m4a")] == [
        "mov",
        "mov",
        "matroska",
        "matroska",
        "avi",
        "mp3",
        "wav",
        "ogg",
        "flac",
        "mov",
    ]
    assert demuxer_for("aac") == "aac" and demuxer_for("matroska") == "matroska"
    with pytest.raises(ValueError):
        demuxer_for("hls")
