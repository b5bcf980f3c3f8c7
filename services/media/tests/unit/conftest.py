"""Session-cached media fixtures generated on the fly with Pillow and the bundled ffmpeg (no media in git)."""

from __future__ import annotations

import io
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageCms, ImageDraw

from media.processing.transcode import ffmpeg_exe

GPS_LAT = (52.0, 31.0, 12.0)
XMP = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
    b"<rdf:RDF><rdf:Description>SECRET-XMP</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end='w'?>"
)


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    """Path of the ffmpeg binary used to generate fixtures."""
    return ffmpeg_exe()


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Per-session folder for generated media."""
    return tmp_path_factory.mktemp("media")


def _run(ffmpeg: str, *args: str) -> None:
    """Run ffmpeg quietly and fail loudly."""
    subprocess.run([ffmpeg, "-hide_banner", "-v", "error", "-y", *args], check=True, timeout=120)


def _scene(size: tuple[int, int]) -> Image.Image:
    """A photo-like RGB image with a red marker in the top-left corner (to check orientation)."""
    w, h = size
    base = Image.merge(
        "RGB",
        [
            Image.linear_gradient("L").resize(size),
            Image.radial_gradient("L").resize(size),
            Image.effect_noise(size, 30).point(lambda v: min(255, v)),
        ],
    )
    draw = ImageDraw.Draw(base)
    draw.rectangle((0, 0, w // 8, h // 8), fill=(255, 0, 0))
    return base


def make_exif(orientation: int = 6) -> Image.Exif:
    """EXIF with orientation, camera, DateTimeOriginal and a GPS IFD."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS R6"
    exif[0x0131] = "SecretSoftware 1.0"
    exif.get_ifd(0x8769)[0x9003] = "2024:07:13 21:45:10"
    exif.get_ifd(0x8769)[0x9011] = "+02:00"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = GPS_LAT
    gps[3] = "E"
    gps[4] = (13.0, 24.0, 1.0)
    return exif


@pytest.fixture(scope="session")
def srgb_icc() -> bytes:
    """An sRGB ICC profile as bytes."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture(scope="session")
def jpeg_12mp(media_dir: Path, srgb_icc: bytes) -> Path:
    """4000x3000 JPEG, EXIF orientation 6, GPS, DateTimeOriginal, Make/Model, XMP, comment, ICC."""
    path = media_dir / "big.jpg"
    _scene((4000, 3000)).save(
        path, "JPEG", quality=90, exif=make_exif(6), xmp=XMP, comment=b"SECRET-COMMENT", icc_profile=srgb_icc
    )
    return path


@pytest.fixture(scope="session")
def small_jpeg(media_dir: Path) -> Path:
    """800x600 JPEG with GPS (orientation 1)."""
    path = media_dir / "small.jpg"
    _scene((800, 600)).save(path, "JPEG", quality=85, exif=make_exif(1))
    return path


@pytest.fixture(scope="session")
def photo_files(media_dir: Path, small_jpeg: Path) -> dict[str, Path]:
    """Assorted valid photos: PNG (RGBA, palette, 16-bit), GIF (animated), WebP, CMYK JPEG, HEIC."""
    out: dict[str, Path] = {"jpeg": small_jpeg}
    rgba = Image.new("RGBA", (640, 480), (0, 0, 255, 0))
    ImageDraw.Draw(rgba).ellipse((100, 100, 500, 400), fill=(0, 200, 0, 255))
    out["png_rgba"] = media_dir / "alpha.png"
    rgba.save(out["png_rgba"], pnginfo=_pnginfo())
    out["png_palette"] = media_dir / "palette.png"
    _scene((300, 200)).convert("P", palette=Image.Palette.ADAPTIVE).save(out["png_palette"])
    out["png_16bit"] = media_dir / "gray16.png"
    Image.new("I;16", (200, 100), 32768).save(out["png_16bit"])
    out["gif"] = media_dir / "anim.gif"
    frames = [Image.new("RGB", (120, 90), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(out["gif"], save_all=True, append_images=frames[1:], duration=100, loop=0)
    out["webp"] = media_dir / "pic.webp"
    _scene((500, 400)).save(out["webp"], "WEBP", quality=80, exif=make_exif(1))
    out["cmyk"] = media_dir / "cmyk.jpg"
    Image.new("CMYK", (300, 200), (0, 255, 255, 0)).save(out["cmyk"], "JPEG")
    try:
        from pillow_heif import register_heif_opener

        register_heif_opener()
        heic = media_dir / "pic.heic"
        _scene((640, 480)).save(heic, "HEIF", quality=60, exif=make_exif(6))
        out["heic"] = heic
    except Exception:
        pass
    return out


def _pnginfo() -> object:
    """PNG text chunks that must not survive."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "SECRET-COMMENT")
    return info


def _png_bomb(path: Path, width: int, height: int) -> None:
    """A valid 1-bit PNG of width x height whose IDAT is compressed zeros (a few hundred KB at most)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)
    body = io.BytesIO()
    block = row * 256
    for _ in range(height // 256):
        body.write(comp.compress(block))
    body.write(comp.compress(row * (height % 256)))
    body.write(comp.flush())
    with path.open("wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n")
        fh.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)))
        fh.write(chunk(b"IDAT", body.getvalue()))
        fh.write(chunk(b"IEND", b""))


@pytest.fixture(scope="session")
def bad_photos(media_dir: Path, small_jpeg: Path) -> dict[str, Path]:
    """Inputs process_photo must refuse with MediaRejected."""
    d = media_dir / "bad"
    d.mkdir()
    files: dict[str, bytes] = {
        "empty.jpg": b"",
        "text.jpg": b"hello, I am definitely a JPEG\n" * 10,
        "script.svg": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
        b"<script>alert(document.cookie)</script></svg>",
        "page.html": b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
        "doc.pdf": b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
        "art.eps": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
        "archive.zip": b"PK\x03\x04" + b"\x00" * 100,
        "fits.fits": (
            b"SIMPLE  =                    T"
            + b" " * 50
            + b"BITPIX  =                    8"
            + b" " * 50
            + b"NAXIS   =                    0"
            + b" " * 50
            + b"END"
            + b" " * 77
        ).ljust(2880, b" "),
    }
    out = {}
    for name, data in files.items():
        (d / name).write_bytes(data)
        out[name] = d / name
    raw = small_jpeg.read_bytes()
    out["truncated.jpg"] = d / "truncated.jpg"
    out["truncated.jpg"].write_bytes(raw[: len(raw) // 2])
    out["header_only.png"] = d / "header_only.png"
    out["header_only.png"].write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + b"\x00" * 20)
    out["bomb_30000.png"] = d / "bomb_30000.png"
    _png_bomb(out["bomb_30000.png"], 30000, 30000)
    out["bomb_90mp.png"] = d / "bomb_90mp.png"  # under max_pixels but over Pillow's warning threshold
    _png_bomb(out["bomb_90mp.png"], 10000, 9000)
    return out


# ----------------------------------------------------------------------------------------- video/audio


@pytest.fixture(scope="session")
def av_files(ffmpeg: str, media_dir: Path) -> dict[str, Path]:
    """Generated audio/video files keyed by a short name."""
    d = media_dir / "av"
    d.mkdir()
    out: dict[str, Path] = {}

    def make(name: str, *args: str) -> None:
        out[name] = d / name
        _run(ffmpeg, *args, str(out[name]))

    tsrc = "testsrc2=size={s}:rate={r}"
    sine = "sine=frequency=440:sample_rate=44100"
    meta = ["-metadata", "title=SECRET-TITLE", "-metadata", "location=+52.5200+013.4050/"]
    make(
        "1080p.mp4",
        "-f",
        "lavfi",
        "-i",
        tsrc.format(s="1920x1080", r=30),
        "-f",
        "lavfi",
        "-i",
        sine,
        "-t",
        "3",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "32",
        "-g",
        "30",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        *meta,
        "-shortest",
    )
    make(
        "480p.mp4",
        "-f",
        "lavfi",
        "-i",
        tsrc.format(s="854x480", r=30),
        "-f",
        "lavfi",
        "-i",
        sine,
        "-t",
        "2",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "30",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        "-shortest",
    )
    make(
        "clip.webm",
        "-f",
        "lavfi",
        "-i",
        tsrc.format(s="320x240", r=25),
        "-f",
        "lavfi",
        "-i",
        sine,
        "-t",
        "2",
        "-c:v",
        "libvpx",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        "-b:v",
        "300k",
        "-c:a",
        "libopus",
        "-b:a",
        "64k",
        "-shortest",
    )
    make(
        "clip.mkv",
        "-f",
        "lavfi",
        "-i",
        tsrc.format(s="320x240", r=25),
        "-f",
        "lavfi",
        "-i",
        sine,
        "-t",
        "2",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
    )
    make(
        "clip.avi",
        "-f",
        "lavfi",
        "-i",
        tsrc.format(s="320x240", r=25),
        "-f",
        "lavfi",
        "-i",
        sine,
        "-t",
        "2",
        "-c:v",
        "mpeg4",
        "-q:v",
        "5",
        "-c:a",
        "libmp3lame",
        "-b:a",
        "96k",
        "-shortest",
    )
    make("rotated.mp4", "-display_rotation", "90", "-i", str(out["clip.mkv"]), "-c", "copy")
    make(
        "fast240.mp4",
        "-f",
        "lavfi",
        "-i",
        tsrc.format(s="160x120", r=240),
        "-t",
        "0.5",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
    )
    make(
        "huge.mp4",
        "-f",
        "lavfi",
        "-i",
        "color=c=blue:size=4096x2304:rate=25",
        "-frames:v",
        "1",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
    )
    make("audio_only.m4a", "-f", "lavfi", "-i", sine, "-t", "2", "-c:a", "aac", "-b:a", "96k")
    make("tone.wav", "-f", "lavfi", "-i", sine, "-t", "3", "-ac", "2")
    make("tone.mp3", "-f", "lavfi", "-i", sine, "-t", "3", "-c:a", "libmp3lame", "-b:a", "128k")
    make("tone.flac", "-f", "lavfi", "-i", sine, "-t", "3", "-c:a", "flac")
    make("tone.opus", "-f", "lavfi", "-i", sine, "-t", "3", "-c:a", "libopus", "-b:a", "64k", "-f", "ogg")
    make("tone_vorbis.ogg", "-f", "lavfi", "-i", sine, "-t", "3", "-c:a", "libvorbis", "-f", "ogg")
    make("lowrate.wav", "-f", "lavfi", "-i", "sine=frequency=200:sample_rate=4000", "-t", "1")
    make("tiny.wav", "-f", "lavfi", "-i", "sine=frequency=200:sample_rate=8000", "-t", "0.01")
    make("half_silence.wav", "-f", "lavfi", "-i", "aevalsrc='if(gt(t,1),0.8*sin(2*PI*440*t),0)':s=16000:d=2")
    raw = out["480p.mp4"].read_bytes()  # moov at the end: cutting it in half loses the index
    out["truncated.mp4"] = d / "truncated.mp4"
    out["truncated.mp4"].write_bytes(raw[: len(raw) // 2])
    out["hls.avi"] = d / "hls.avi"
    out["hls.avi"].write_bytes(
        b"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:10.0,\nfile:///etc/hostname\n#EXT-X-ENDLIST\n"
    )
    return out
