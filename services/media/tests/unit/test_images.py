"""Photo processing: orientation, thumbnails, metadata stripping, placeholders and hostile inputs."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import pytest
from PIL import Image, ImageFilter
from PIL.JpegImagePlugin import JpegImageFile

from media.processing import MediaRejected, PhotoResult, blurhash_encode, process_photo
from media.processing.images import ALLOWED_FORMATS

SECRETS = (b"SECRET-COMMENT", b"SECRET-XMP", b"SecretSoftware", b"Canon EOS R6", b"GPS")


@pytest.fixture(scope="session")
def big_result(jpeg_12mp: Path, tmp_path_factory: pytest.TempPathFactory) -> PhotoResult:
    """process_photo on the 12 MP orientation-6 JPEG, once per session."""
    return process_photo(jpeg_12mp, tmp_path_factory.mktemp("big_out"))


def _assert_clean(path: Path) -> None:
    """No EXIF, GPS, XMP or comments in a derivative (re-read by Pillow and as raw bytes)."""
    with Image.open(path) as im:
        im.load()
        assert len(im.getexif()) == 0
        assert not im.getexif().get_ifd(0x8825)
        for key in ("exif", "xmp", "XML:com.adobe.xmp", "comment", "Comment"):
            assert key not in im.info, (path.name, key)
    raw = path.read_bytes()
    assert b"Exif\x00\x00" not in raw
    for secret in SECRETS:
        assert secret not in raw, (path.name, secret)


def test_12mp_orientation_sizes_and_facts(big_result: PhotoResult) -> None:
    r = big_result
    assert (r.width, r.height) == (3000, 4000)  # orientation 6 turns 4000x3000 into portrait
    assert r.format == "jpeg"
    assert r.taken_at == "2024-07-13T21:45:10+02:00"
    assert r.camera == "Canon EOS R6"
    names = sorted(f.name for f in r.files)
    assert names == ["display.jpg", "thumb_1024.webp", "thumb_2048.webp", "thumb_320.webp"]
    expected = {320: (240, 320), 1024: (768, 1024), 2048: (1536, 2048)}
    for size, dims in expected.items():
        f = r.thumbnail(size)
        with Image.open(f.path) as im:
            assert im.format == "WEBP"
            assert im.size == dims == (f.width, f.height)
        assert f.size_bytes == f.path.stat().st_size > 0
    assert r.display is not None
    with Image.open(r.display.path) as im:
        assert im.format == "JPEG" and im.size == (3000, 4000)


def test_orientation_applied_to_pixels(big_result: PhotoResult) -> None:
    # The stored image has a red block at its top-left; orientation 6 moves it to the top-right.
    with Image.open(big_result.thumbnail(1024).path) as im:
        rgb = im.convert("RGB")
        w, _h = rgb.size
        top_right = rgb.getpixel((w - 20, 20))
        top_left = rgb.getpixel((20, 20))
    assert top_right[0] > 200 and top_right[1] < 60 and top_right[2] < 60
    assert not (top_left[0] > 200 and top_left[1] < 60)


def test_no_metadata_in_any_derivative_but_icc_kept(big_result: PhotoResult, srgb_icc: bytes) -> None:
    for f in big_result.files:
        _assert_clean(f.path)
        with Image.open(f.path) as im:
            assert im.info.get("icc_profile") == srgb_icc


def test_source_really_had_the_metadata(jpeg_12mp: Path) -> None:
    with Image.open(jpeg_12mp) as im:
        exif = im.getexif()
        assert exif[0x0112] == 6 and exif.get_ifd(0x8825)
    assert b"SECRET-XMP" in jpeg_12mp.read_bytes()


def test_placeholder_is_a_valid_blurhash(big_result: PhotoResult) -> None:
    ph = big_result.placeholder
    assert len(ph) == 6 + 2 * (3 * 4 - 1)  # portrait: 3x4 components
    import blurhash

    assert blurhash.is_valid_blurhash(ph)


def test_blurhash_matches_reference_implementation() -> None:
    import blurhash

    img = Image.merge(
        "RGB",
        [
            Image.linear_gradient("L").resize((32, 24)),
            Image.radial_gradient("L").resize((32, 24)),
            Image.new("L", (32, 24), 90),
        ],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert blurhash_encode(img, 4, 3) == blurhash.encode(img.copy(), 4, 3)


def test_blurhash_matches_the_reference_on_random_images_of_every_shape() -> None:
    # the encoder sums the separable basis row by row; the reference sums every pixel per component
    import random

    import blurhash

    rng = random.Random(20261207)
    for shape in [(32, 24), (24, 32), (32, 32), (7, 3), (1, 1), (32, 18), (5, 31)]:
        for components in [(1, 1), (4, 3), (3, 4), (9, 9), (2, 7)]:
            data = bytes(rng.randrange(256) for _ in range(shape[0] * shape[1] * 3))
            img = Image.frombytes("RGB", shape, data).filter(ImageFilter.SMOOTH)  # photo-like, not pure noise
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                assert blurhash_encode(img, *components) == blurhash.encode(img.copy(), *components), (shape,
                                                                                                      components)


def test_jpeg_draft_mode_used_when_display_is_not_needed(
    jpeg_12mp: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, int]] = []
    original = JpegImageFile.draft

    def spy(self: JpegImageFile, mode: str | None, size: tuple[int, int] | None) -> object:
        result = original(self, mode, size)
        seen.append(self.size)
        return result

    monkeypatch.setattr(JpegImageFile, "draft", spy)
    r = process_photo(jpeg_12mp, tmp_path, sizes=(320, 1024), display=False, engine="pillow")
    assert seen and seen[0] == (2000, 1500)  # decoded at 1/2 scale, not 4000x3000
    assert (r.width, r.height) == (3000, 4000)  # the reported size is still the original's
    assert r.thumbnail(1024).height == 1024 and r.thumbnail(320).height == 320
    assert r.display is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thumb_1024.webp", "thumb_320.webp"]


def test_small_source_never_upscaled(photo_files: dict[str, Path], tmp_path: Path) -> None:
    r = process_photo(photo_files["jpeg"], tmp_path)
    assert (r.width, r.height) == (800, 600)
    assert r.camera == "Canon EOS R6" and r.taken_at is not None
    for size, dims in {320: (320, 240), 1024: (800, 600), 2048: (800, 600)}.items():
        with Image.open(r.thumbnail(size).path) as im:
            assert im.size == dims
    for f in r.files:
        _assert_clean(f.path)


def test_png_with_alpha_keeps_transparency(photo_files: dict[str, Path], tmp_path: Path) -> None:
    r = process_photo(photo_files["png_rgba"], tmp_path)
    assert r.has_alpha and r.format == "png" and r.taken_at is None and r.camera is None
    assert r.display is not None and r.display.name == "display.webp"
    with Image.open(r.thumbnail(320).path) as im:
        assert im.mode == "RGBA" and im.size == (320, 240)
        assert im.getpixel((2, 2))[3] == 0 and im.getpixel((160, 120))[3] == 255
    for f in r.files:
        _assert_clean(f.path)


@pytest.mark.parametrize(
    ("key", "size", "fmt", "check"),
    [
        ("png_palette", (300, 200), "png", None),
        ("png_16bit", (200, 100), "png", (128, 128, 128)),
        ("cmyk", (300, 200), "jpeg", (255, 0, 0)),
        ("gif", (120, 90), "gif", (255, 0, 0)),  # first frame of the animation
        ("webp", (500, 400), "webp", None),
        ("heic", (640, 480), "heif", None),  # HEIF: irot governs, EXIF orientation is ignored
    ],
)
def test_other_formats_convert_to_rgb(
    photo_files: dict[str, Path],
    tmp_path: Path,
    key: str,
    size: tuple[int, int],
    fmt: str,
    check: tuple[int, int, int] | None,
) -> None:
    if key not in photo_files:
        pytest.skip("pillow-heif cannot write HEIC here")
    r = process_photo(photo_files[key], tmp_path)
    assert (r.width, r.height) == size and r.format == fmt and not r.has_alpha
    with Image.open(r.thumbnail(2048).path) as im:
        assert im.mode == "RGB" and im.size == size
        if check is not None:
            px = im.getpixel((size[0] // 2, size[1] // 2))
            assert all(abs(a - b) <= 24 for a, b in zip(px, check, strict=True)), px
    for f in r.files:
        _assert_clean(f.path)


def test_polyglot_tail_is_destroyed(small_jpeg: Path, tmp_path: Path) -> None:
    src = tmp_path / "poly.jpg"
    src.write_bytes(small_jpeg.read_bytes() + b"<html><script>alert(document.cookie)</script></html>")
    r = process_photo(src, tmp_path / "out")
    for f in r.files:
        assert b"<script>" not in f.path.read_bytes()


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
        "truncated.jpg",
        "header_only.png",
        "bomb_30000.png",
        "bomb_90mp.png",
    ],
)
def test_bad_inputs_raise_media_rejected(bad_photos: dict[str, Path], tmp_path: Path, name: str) -> None:
    started = time.perf_counter()
    with pytest.raises(MediaRejected) as info:
        process_photo(bad_photos[name], tmp_path)
    assert info.value.reason and isinstance(info.value.reason, str)
    assert str(bad_photos[name].parent) not in info.value.reason
    if name.startswith("bomb"):
        assert time.perf_counter() - started < 1.0  # refused from the header, nothing decoded
        assert "large" in info.value.reason
    assert not any(tmp_path.glob("thumb_*"))


def test_max_pixels_is_enforced_from_header(jpeg_12mp: Path, tmp_path: Path) -> None:
    with pytest.raises(MediaRejected, match="too large"):
        process_photo(jpeg_12mp, tmp_path, max_pixels=10_000_000)


def test_allowlist_excludes_dangerous_formats() -> None:
    assert set(ALLOWED_FORMATS) <= {"JPEG", "MPO", "PNG", "GIF", "WEBP", "HEIF"}
    assert Image.MAX_IMAGE_PIXELS is not None  # the bomb guard is never disabled


def test_result_to_dict_is_json_friendly(big_result: PhotoResult) -> None:
    import json

    data = json.loads(json.dumps(big_result.to_dict()))
    assert data["width"] == 3000 and len(data["files"]) == 4


def test_grayscale_jpeg_with_draft(tmp_path: Path) -> None:
    src = tmp_path / "gray.jpg"
    Image.new("L", (3000, 2000), 128).save(src)
    r = process_photo(src, tmp_path / "out", display=False)
    assert (r.width, r.height) == (3000, 2000)
    with Image.open(r.thumbnail(2048).path) as im:
        assert im.size == (2048, 1365) and im.mode == "RGB"


def test_very_wide_alpha_display_fits_webp_limits(tmp_path: Path) -> None:
    src = tmp_path / "wide.png"
    Image.new("RGBA", (17000, 20), (255, 0, 0, 128)).save(src)
    r = process_photo(src, tmp_path / "out")
    assert r.display is not None and r.display.name == "display.webp"
    with Image.open(r.display.path) as im:
        assert im.size == (r.display.width, r.display.height) and max(im.size) <= 16383
    with Image.open(r.thumbnail(320).path) as im:
        assert im.size == (320, 1)


def test_sequential_mode_gives_the_same_files(small_jpeg: Path, tmp_path: Path) -> None:
    a = process_photo(small_jpeg, tmp_path / "a", parallel=False)
    b = process_photo(small_jpeg, tmp_path / "b")
    assert [(f.name, f.width, f.height) for f in a.files] == [(f.name, f.width, f.height) for f in b.files]
    assert a.placeholder == b.placeholder
    with pytest.raises(ValueError):
        process_photo(small_jpeg, tmp_path / "c", sizes=(0,))


def test_bomb_rejected_without_memory_growth(bad_photos: dict[str, Path], tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import resource, sys; from pathlib import Path\n"
        "from media.processing import MediaRejected, process_photo\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    process_photo(Path(sys.argv[1]), Path(sys.argv[2]))\n"
        "except MediaRejected:\n"
        "    pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    for name in ("bomb_30000.png", "bomb_90mp.png"):
        res = subprocess.run(
            [sys.executable, "-c", code, str(bad_photos[name]), str(tmp_path)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert int(res.stdout.strip()) < 20_000, res.stdout  # KiB: nothing was decoded
