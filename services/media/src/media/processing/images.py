"""Photo processing: safe decode, orientation, WebP thumbnails, a metadata-free display copy, a placeholder."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from PIL import (  # importing the plugins registers exactly the formats we allow
    GifImagePlugin,
    Image,
    ImageCms,
    ImageFile,
    ImageOps,
    JpegImagePlugin,
    MpoImagePlugin,
    PngImagePlugin,
    WebPImagePlugin,
)

from media.processing import vips as _vips
from media.processing.capture import TAG_EXIF_IFD, TAG_GPS_IFD, Capture, clean_text, from_exif
from media.processing.errors import MediaRejected
from media.processing.placeholder import blurhash_encode

try:  # HEIC/HEIF support (registers the "HEIF" format with Pillow)
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a declared dependency
    pass

#: Pillow format names Image.open may use; everything else (EPS, PDF, FITS, SVG via plugins...) is refused.
_PLUGINS = (GifImagePlugin, JpegImagePlugin, MpoImagePlugin, PngImagePlugin, WebPImagePlugin)
ALLOWED_FORMATS: tuple[str, ...] = tuple(f for f in ("JPEG", "MPO", "PNG", "GIF", "WEBP", "HEIF") if f in Image.OPEN)
MAX_SIDE = 30_000
DEFAULT_SIZES: tuple[int, ...] = (320, 1024, 2048)
WEBP_QUALITY = 80
#: libwebp effort: 4 (Pillow's default) costs ~2.5x method 1 for a few % of bytes; see bench/thumbnails.py.
WEBP_METHOD = 1
DISPLAY_JPEG_QUALITY = 85
PLACEHOLDER_SIZE = 32
#: Below this many pixels Pillow makes a JPEG's files on less CPU than libvips, whose pipeline and threads cost
#: ~8 ms a photo before any pixel (CPU per photo, 640x480: 11 vs 19 ms; 1600x1200: 66 vs 73; 2048x1536: 82 vs
#: 111; see bench/README); for a phone's 12 MP photo libvips takes as much CPU and less time on the clock.
VIPS_MIN_PIXELS = 4_000_000
WEBP_MAX_SIDE = 16383
#: Downscaling filter: Hamming (antialiased, support 1) costs ~2/3 of bicubic and ~1/2 of Lanczos on 12 MP.
RESAMPLE = Image.Resampling.HAMMING

_TAG_MAKE = 0x010F
_TAG_MODEL = 0x0110
_TAG_ORIENTATION = 0x0112

ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass(frozen=True, slots=True)
class ProducedFile:
    """One derivative written to out_dir."""

    name: str
    path: Path
    width: int
    height: int
    size_bytes: int
    mime: str
    role: str  # "thumbnail" | "display"


@dataclass(slots=True)
class PhotoResult:
    """Facts about a processed photo plus the derivatives written."""

    width: int
    height: int
    format: str
    taken_at: str | None
    camera: str | None
    placeholder: str
    has_alpha: bool
    files: list[ProducedFile] = field(default_factory=list)
    capture: Capture = field(default_factory=Capture)  # private: the position never reaches a derivative

    def thumbnail(self, size: int) -> ProducedFile:
        """The thumbnail produced for the requested long-edge size."""
        return next(f for f in self.files if f.name == f"thumb_{size}.webp")

    @property
    def display(self) -> ProducedFile | None:
        """The full-size, metadata-free display rendition (if produced)."""
        return next((f for f in self.files if f.role == "display"), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (paths as strings)."""
        data = asdict(self)
        for f in data["files"]:
            f["path"] = str(f["path"])
        data["capture"] = self.capture.to_json()
        return data


def _ifd(exif: Image.Exif, tag: int) -> dict[int, Any]:
    try:
        return dict(exif.get_ifd(tag))
    except Exception:  # a broken sub-IFD is ignored
        return {}


def _exif_facts(img: Image.Image) -> tuple[Capture, str | None, int]:
    """Return (capture time and position, camera, orientation) from EXIF, tolerating garbage."""
    try:
        exif = img.getexif()
    except Exception:  # malformed EXIF never fails the photo
        return Capture(), None, 1
    capture = from_exif(exif, _ifd(exif, TAG_EXIF_IFD), _ifd(exif, TAG_GPS_IFD))
    make = clean_text(exif.get(_TAG_MAKE), 64)
    model = clean_text(exif.get(_TAG_MODEL), 64)
    if make and model:
        camera = model if model.lower().startswith(make.lower()) else f"{make} {model}"
    else:
        camera = make or model
    orientation = exif.get(_TAG_ORIENTATION, 1)
    if not isinstance(orientation, int) or not 1 <= orientation <= 8:
        orientation = 1
    return capture, camera, orientation


def _cmyk_via_icc(img: Image.Image, icc: bytes) -> Image.Image | None:
    """Convert CMYK to sRGB through its embedded profile; None when the profile is unusable."""
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        result = ImageCms.profileToProfile(img, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except Exception:  # a broken CMYK profile: the caller falls back to the naive conversion
        return None
    return result if isinstance(result, Image.Image) else None


def _to_rgb(img: Image.Image, icc: bytes | None) -> tuple[Image.Image, bytes | None]:
    """Convert any decoded mode to RGB or RGBA (palette, CMYK, 16-bit, float...), returning the ICC to keep."""
    mode = img.mode
    if mode == "CMYK":
        if icc:
            converted = _cmyk_via_icc(img, icc)
            if converted is not None:
                return converted, None
        return img.convert("RGB"), None
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        return img.convert("I").point(lambda v: v * (1 / 256)).convert("L").convert("RGB"), icc
    if mode == "F":
        return img.convert("L").convert("RGB"), icc
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in img.info
        return img.convert("RGBA" if has_alpha else "RGB"), icc
    if mode in ("LA", "La", "RGBa", "RGBA"):
        img = img.convert("RGBA")
        lo, _hi = img.getchannel("A").getextrema()
        return (img.convert("RGB") if lo == 255 else img), icc
    if mode == "RGB":
        return img, icc
    return img.convert("RGB"), icc


def _fit(width: int, height: int, long_edge: int) -> tuple[int, int]:
    """Size with the long edge at most `long_edge`, keeping aspect, never upscaling."""
    long_side = max(width, height)
    if long_side <= long_edge:
        return width, height
    scale = long_edge / long_side
    return max(1, round(width * scale)), max(1, round(height * scale))


def _downscale(img: Image.Image, target: tuple[int, int]) -> Image.Image:
    """Shrink to target: a 2x2 box average for exact halvings, else an antialiased Hamming filter."""
    if (img.width, img.height) == (target[0] * 2, target[1] * 2):
        return img.reduce(2)
    return img.resize(target, RESAMPLE, reducing_gap=2.0)


def _open_checked(src_path: Path, max_pixels: int) -> Image.Image:
    """Open with the format allowlist and refuse oversized images from the header, before any decode."""
    try:
        img = Image.open(src_path, formats=list(ALLOWED_FORMATS))
    except Image.DecompressionBombError as exc:
        raise MediaRejected(f"image is too large to process safely ({exc})") from None
    except Image.DecompressionBombWarning:
        raise MediaRejected("image is too large to process safely (decompression bomb)") from None
    except Image.UnidentifiedImageError:
        raise MediaRejected("not a supported image (JPEG, PNG, GIF, WebP or HEIC)") from None
    except Exception as exc:
        raise MediaRejected(f"unreadable image ({type(exc).__name__})") from None
    width, height = img.size
    if width <= 0 or height <= 0:
        img.close()
        raise MediaRejected("image has no pixels")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > max_pixels:
        img.close()
        raise MediaRejected(f"image is too large: {width}x{height} pixels (limit {max_pixels:,} pixels)")
    return img


def _save_webp(img: Image.Image, path: Path, icc: bytes | None, quality: int, method: int) -> None:
    """Write a WebP with no EXIF/XMP, ICC only."""
    params: dict[str, Any] = {"quality": quality, "method": method, "exif": b"", "xmp": b""}
    if icc:
        params["icc_profile"] = icc
    img.save(path, "WEBP", **params)


def _save_display(img: Image.Image, out_dir: Path, icc: bytes | None, quality: int, method: int) -> ProducedFile:
    """Write the full-size rendition: JPEG for opaque images, WebP when there is alpha; no metadata but ICC."""
    if img.mode == "RGBA":
        if max(img.size) > WEBP_MAX_SIDE:  # WebP cannot hold more than 16383 px a side
            img = img.resize(_fit(img.width, img.height, WEBP_MAX_SIDE), RESAMPLE, reducing_gap=2.0)
        path = out_dir / "display.webp"
        _save_webp(img, path, icc, quality, method)
        return _produced(path, img.size, "display")
    path = out_dir / "display.jpg"
    params: dict[str, Any] = {"quality": DISPLAY_JPEG_QUALITY, "exif": b"", "comment": b"", "optimize": False}
    if icc:
        params["icc_profile"] = icc
    img.save(path, "JPEG", **params)
    return _produced(path, img.size, "display")


def process_photo(
    src_path: Path,
    out_dir: Path,
    *,
    sizes: Sequence[int] = DEFAULT_SIZES,
    max_pixels: int = 100_000_000,
    display: bool = True,
    webp_quality: int = WEBP_QUALITY,
    webp_method: int = WEBP_METHOD,
    parallel: bool = True,
    engine: str = "auto",
) -> PhotoResult:
    """Validate and decode a photo, write thumb_<size>.webp for each size plus display.jpg|webp; raise MediaRejected.

    engine: "auto" lets libvips make the derivatives of a plain RGB JPEG of VIPS_MIN_PIXELS or more (when pyvips
    is importable) and Pillow everything else; "vips" takes libvips for any plain RGB JPEG; "pillow" forces Pillow.
    """
    sizes = sorted({int(s) for s in sizes}, reverse=True)
    if not sizes or sizes[-1] <= 0 or sizes[0] > WEBP_MAX_SIDE:
        raise ValueError(f"sizes must be between 1 and {WEBP_MAX_SIDE}")
    out_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        img = _open_checked(src_path, max_pixels)
        source = img
        try:
            fmt = (img.format or "").upper()
            if fmt not in ALLOWED_FORMATS:
                raise MediaRejected("not a supported image format")
            fmt = "JPEG" if fmt == "MPO" else fmt
            capture, camera, orientation = _exif_facts(img)
            raw_w, raw_h = img.size
            width, height = (raw_h, raw_w) if orientation in (5, 6, 7, 8) else (raw_w, raw_h)
            icc = img.info.get("icc_profile") or None
            if engine == "vips" or (engine == "auto" and raw_w * raw_h >= VIPS_MIN_PIXELS):
                use_vips = _vips.AVAILABLE and img.format == "JPEG" and img.mode == "RGB"
            else:
                use_vips = False
            if use_vips:
                # checked and its facts read: libvips makes the files (Pillow again if libvips refuses it)
                source.close()
                made = _vips.derivatives(
                    src_path, out_dir, [(s, _fit(width, height, s)) for s in sizes], orientation,
                    (width, height) if display else None, webp_quality, webp_method, DISPLAY_JPEG_QUALITY,
                )
                if made is None:
                    return process_photo(src_path, out_dir, sizes=sizes, max_pixels=max_pixels, display=display,
                                         webp_quality=webp_quality, webp_method=webp_method, parallel=parallel,
                                         engine="pillow")
                files = [_produced(path, size, role) for _n, path, size, role in made[0]]
                return _result(width, height, fmt, capture, camera, False, files, made[1])
            if fmt == "JPEG":
                # Decode at the smallest DCT scale that still covers the largest output we need.
                need = max(width, height) if display else sizes[0]
                scale = min(1.0, need / max(raw_w, raw_h))
                img.draft("RGB", (max(1, int(raw_w * scale + 0.999)), max(1, int(raw_h * scale + 0.999))))
            if getattr(img, "is_animated", False):
                img.seek(0)
            img.load()
            img = ImageOps.exif_transpose(img) if orientation != 1 else img
            img, icc = _to_rgb(img, icc)
        except MediaRejected:
            source.close()
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            source.close()
            raise MediaRejected("image is too large to process safely (decompression bomb)") from None
        except MemoryError:
            source.close()
            raise MediaRejected("image needs too much memory to decode") from None
        except Exception as exc:  # corrupt/truncated data: Pillow raises OSError, SyntaxError, ValueError...
            source.close()
            reason = "image file is truncated or corrupt"
            if "truncated" not in str(exc).lower():
                reason = f"image data is corrupt ({type(exc).__name__})"
            raise MediaRejected(reason) from None
    img.info = {}  # drop EXIF/XMP/comments/text chunks carried over from the source
    has_alpha = img.mode == "RGBA"
    files: list[ProducedFile] = []
    # Encoders release the GIL: write each file on a helper thread while the next size is being resized.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: list[Future[ProducedFile]] = []

        def write(job: Callable[[], ProducedFile]) -> None:
            """Run an encode job in the background (or inline when parallel is off)."""
            if parallel:
                pending.append(pool.submit(job))
            else:
                files.append(job())

        if display:
            if img.size != (width, height):  # draft decoded smaller than requested: only if display is off
                img = img.resize((width, height), Image.Resampling.BICUBIC)
            write(partial(_save_display, img, out_dir, icc, webp_quality, webp_method))
        current = img
        smallest = img
        same: list[tuple[Path, Path, tuple[int, int]]] = []  # (thumbnail, the larger size's file, their size)
        larger: Path | None = None
        for size in sizes:
            target = _fit(width, height, size)
            path = out_dir / f"thumb_{size}.webp"
            if current.size != target:
                current = _downscale(current, target)
            elif larger is not None:  # a small photo: the larger size was not shrunk either, its file is this one
                same.append((path, larger, target))
                larger = path
                continue
            write(partial(_write_thumb, current, path, icc, webp_quality, webp_method))
            smallest, larger = current, path
        files.extend(f.result() for f in pending)
    files.extend(_same_file(path, of, size, "thumbnail") for path, of, size in same)
    return _result(width, height, fmt, capture, camera, has_alpha, files, smallest)


def _result(width: int, height: int, fmt: str, capture: Capture, camera: str | None, has_alpha: bool,
            files: list[ProducedFile], smallest: Image.Image) -> PhotoResult:
    """The facts, the files (thumbnails by size, then the display copy) and a placeholder from the smallest."""
    tiny = smallest.resize(_fit(*smallest.size, PLACEHOLDER_SIZE), Image.Resampling.BOX)
    if tiny.mode == "RGBA":
        bg = Image.new("RGB", tiny.size, (255, 255, 255))
        bg.paste(tiny, mask=tiny.getchannel("A"))
        tiny = bg
    x_comp, y_comp = (4, 3) if width >= height else (3, 4)
    placeholder = blurhash_encode(tiny, x_comp, y_comp)
    files.sort(key=lambda f: (f.role != "thumbnail", f.width))
    return PhotoResult(
        width=width,
        height=height,
        format=fmt.lower(),
        taken_at=capture.taken_at,
        camera=camera,
        placeholder=placeholder,
        has_alpha=has_alpha,
        files=files,
        capture=capture,
    )


def _write_thumb(img: Image.Image, path: Path, icc: bytes | None, quality: int, method: int) -> ProducedFile:
    """Encode one WebP thumbnail and describe it."""
    _save_webp(img, path, icc, quality, method)
    return _produced(path, img.size, "thumbnail")


def _same_file(path: Path, of: Path, size: tuple[int, int], role: str) -> ProducedFile:
    """`path` as the same bytes as the derivative `of` already written (a hard link; a copy where links fail)."""
    _vips.link_or_copy(of, path)
    return _produced(path, size, role)


def _produced(path: Path, size: tuple[int, int], role: str) -> ProducedFile:
    """Describe a written derivative."""
    mime = "image/webp" if path.suffix == ".webp" else "image/jpeg"
    return ProducedFile(path.name, path, size[0], size[1], path.stat().st_size, mime, role)
