"""Test media made on the fly (never committed): photos with Pillow, video and audio with ffmpeg."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path


def ffmpeg_exe() -> str:
    """The ffmpeg binary of the imageio-ffmpeg wheel."""
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def jpeg_bytes(width: int = 1600, height: int = 1200, *, orientation: int | None = None, gps: bool = False,
               quality: int = 85, seed: int = 0, taken: str = "2024:12:01 20:15:00",
               offset: str | None = None) -> bytes:
    """A JPEG with a gradient and shapes (compresses like a photo), EXIF capture time (`taken`, optional
    `offset` like "-05:00"), optional orientation and GPS (Madison Square Garden)."""
    from PIL import Image, ImageDraw

    img = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(img)
    for i in range(12):
        x = (seed * 97 + i * 131) % max(1, width - 50)
        y = (seed * 53 + i * 71) % max(1, height - 50)
        draw.ellipse([x, y, x + width // 8, y + height // 8], fill=((i * 40) % 255, (seed * 30) % 255, 200 - i * 10))
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0110] = "Model 1"  # Model
    from PIL.ExifTags import IFD

    exif.get_ifd(IFD.Exif)[0x9003] = taken  # DateTimeOriginal lives in the Exif sub-IFD
    if offset:
        exif.get_ifd(IFD.Exif)[0x9011] = offset  # OffsetTimeOriginal
    if orientation:
        exif[0x0112] = orientation
    if gps:
        exif.get_ifd(IFD.GPSInfo).update({1: "N", 2: (40.0, 45.0, 3.0), 3: "W", 4: (73.0, 59.0, 36.0)})
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality, exif=exif.tobytes())
    return out.getvalue()


def png_bytes(width: int = 640, height: int = 480) -> bytes:
    """A small PNG."""
    from PIL import Image

    out = io.BytesIO()
    Image.linear_gradient("L").resize((width, height)).convert("RGB").save(out, "PNG")
    return out.getvalue()


def make_video(path: Path, *, seconds: float = 3, width: int = 1920, height: int = 1080, fps: int = 30,
               vcodec: str = "libx264", acodec: str = "aac", container: str | None = None,
               metadata: dict[str, str] | None = None) -> Path:
    """A test-pattern video with a sine tone (container `metadata` tags, e.g. creation_time, location)."""
    cmd = [
        ffmpeg_exe(), "-y", "-loglevel", "error",
        "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
        "-c:v", vcodec, "-pix_fmt", "yuv420p", "-c:a", acodec, "-shortest",
    ]
    if vcodec == "libx264":
        cmd += ["-preset", "ultrafast"]
    for key, value in (metadata or {}).items():
        cmd += ["-metadata", f"{key}={value}"]
    if container:
        cmd += ["-f", container]
    subprocess.run([*cmd, str(path)], check=True, timeout=300)
    return path


def make_audio(path: Path, *, seconds: float = 5, codec: str = "pcm_s16le", rate: int = 44100) -> Path:
    """A sine tone in the container implied by the file name (wav, flac, ogg, m4a, mp3)."""
    subprocess.run(
        [ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
         f"sine=frequency=330:duration={seconds}:sample_rate={rate}", "-c:a", codec, str(path)],
        check=True, timeout=120,
    )
    return path
