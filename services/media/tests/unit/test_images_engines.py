"""The libvips and the Pillow paths of process_photo: the same files, sizes, orientation, facts, no metadata."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from PIL import Image

from media.processing import PhotoResult, process_photo
from media.processing import vips as vips_path

from .test_images import _assert_clean

pytestmark = pytest.mark.skipif(not vips_path.AVAILABLE, reason="pyvips is not importable")


def _describe(r: PhotoResult) -> list[tuple[str, int, int, str]]:
    out = []
    for f in r.files:
        with Image.open(f.path) as im:
            assert im.size == (f.width, f.height)
            out.append((f.name, f.width, f.height, im.format or ""))
    return out


@pytest.fixture
def vips_calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each libvips attempt produced the files (False: it fell back to Pillow)."""
    calls: list[bool] = []
    real = vips_path.derivatives

    def spy(*args: object, **kwargs: object) -> object:
        made = real(*args, **kwargs)  # type: ignore[arg-type]
        calls.append(made is not None)
        return made

    monkeypatch.setattr(vips_path, "derivatives", spy)
    return calls


@pytest.mark.parametrize("display", [True, False])
@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_both_engines_give_the_same_files(
    tmp_path: Path, srgb_icc: bytes, vips_calls: list[bool], display: bool, orientation: int
) -> None:
    from .conftest import XMP, _scene, make_exif

    src = tmp_path / "src.jpg"
    _scene((1600, 1200)).save(src, "JPEG", quality=90, exif=make_exif(orientation), xmp=XMP,
                              comment=b"SECRET-COMMENT", icc_profile=srgb_icc)
    sizes = (320, 1024, 2048)
    fast = process_photo(src, tmp_path / "vips", sizes=sizes, display=display, engine="vips")
    slow = process_photo(src, tmp_path / "pillow", sizes=sizes, display=display, engine="pillow")
    assert vips_calls == [True]  # libvips made the first set, Pillow the second
    assert _describe(fast) == _describe(slow)
    assert (fast.width, fast.height, fast.format, fast.taken_at, fast.camera, fast.has_alpha) == (
        slow.width, slow.height, slow.format, slow.taken_at, slow.camera, slow.has_alpha)
    assert len(fast.placeholder) == len(slow.placeholder)
    for f in fast.files:
        _assert_clean(f.path)
        with Image.open(f.path) as im:
            assert im.info.get("icc_profile") == srgb_icc
    # orientation applied: the red marker of the stored top-left corner lands where Pillow puts it
    for a, b in zip(fast.files, slow.files, strict=True):
        with Image.open(a.path) as ia, Image.open(b.path) as ib:
            ca, cb = ia.convert("RGB").resize((8, 8)), ib.convert("RGB").resize((8, 8))
            red = [(x, y) for x in range(8) for y in range(8) if cb.getpixel((x, y))[0] > 200
                   and cb.getpixel((x, y))[1] < 80]
            assert red and all(ca.getpixel(p)[0] > 200 and ca.getpixel(p)[1] < 80 for p in red), a.name


def test_what_libvips_refuses_goes_to_pillow(bad_photos: dict[str, Path], tmp_path: Path,
                                             vips_calls: list[bool]) -> None:
    from media.processing import MediaRejected

    with pytest.raises(MediaRejected, match=r"truncated|corrupt"):
        process_photo(bad_photos["truncated.jpg"], tmp_path, engine="vips")
    assert not any(tmp_path.glob("thumb_*"))
    assert vips_calls in ([], [False])  # libvips never made files from a truncated JPEG


def test_formats_other_than_rgb_jpeg_stay_with_pillow(photo_files: dict[str, Path], tmp_path: Path,
                                                      vips_calls: list[bool]) -> None:
    for name, path in photo_files.items():
        if name != "jpeg":
            process_photo(path, tmp_path / name, engine="vips")
    assert vips_calls == []


def test_auto_leaves_photos_under_the_threshold_to_pillow(tmp_path: Path, vips_calls: list[bool],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from media.processing import images

    from .conftest import _scene

    src = tmp_path / "src.jpg"
    _scene((800, 600)).save(src, "JPEG", quality=90)
    process_photo(src, tmp_path / "small")
    assert vips_calls == []  # 0.48 MP: Pillow, on less CPU
    monkeypatch.setattr(images, "VIPS_MIN_PIXELS", 800 * 600)
    process_photo(src, tmp_path / "at")
    assert vips_calls == [True]  # at the threshold: libvips


@pytest.mark.parametrize("engine", ["vips", "pillow"])
def test_sizes_a_photo_is_not_shrunk_for_are_one_file_encoded_once(tmp_path: Path, engine: str) -> None:
    from .conftest import _scene

    src = tmp_path / "src.jpg"
    _scene((800, 600)).save(src, "JPEG", quality=90)
    result = process_photo(src, tmp_path / "out", sizes=(320, 1024, 2048), engine=engine)
    by_name = {f.name: f for f in result.files}
    assert [(f.name, f.width, f.height) for f in result.files if f.role == "thumbnail"] == [
        ("thumb_320.webp", 320, 240), ("thumb_2048.webp", 800, 600), ("thumb_1024.webp", 800, 600)]
    big, same = by_name["thumb_2048.webp"].path, by_name["thumb_1024.webp"].path
    assert same.stat().st_nlink == 2 and same.stat().st_ino == big.stat().st_ino  # linked, not encoded again
    assert by_name["thumb_1024.webp"].size_bytes == big.stat().st_size
    with Image.open(same) as im:
        assert im.size == (800, 600) and im.format == "WEBP"
    assert by_name["thumb_320.webp"].path.stat().st_nlink == 1


@pytest.mark.parametrize(("processes", "cores", "threads"), [(2, 2, 1), (1, 4, 4), (4, 2, 1), (2, 8, 4)])
def test_a_pool_process_gets_its_share_of_the_cores(processes: int, cores: int, threads: int) -> None:
    import pyvips

    before = pyvips.concurrency_get()
    try:
        vips_path.share_cores(processes, cores)
        assert pyvips.concurrency_get() == threads  # the pool's processes x libvips threads = the cores
    finally:
        pyvips.concurrency_set(before)


def test_libvips_chatter_stays_out_of_the_logs(photo_files: dict[str, Path], tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    src = photo_files["jpeg"]
    with caplog.at_level(logging.INFO):
        result = process_photo(src, tmp_path, engine="vips")
    assert result.files  # the libvips path ran
    assert not [r for r in caplog.records if r.name == "pyvips" and r.levelno < logging.WARNING]


@pytest.mark.parametrize("engine", ["vips", "pillow"])
def test_a_photo_smaller_than_every_size_is_encoded_once(tmp_path: Path, engine: str) -> None:
    from .conftest import _scene

    src = tmp_path / "src.jpg"
    _scene((300, 200)).save(src, "JPEG", quality=90)
    result = process_photo(src, tmp_path / "out", sizes=(320, 1024, 2048), engine=engine)
    thumbs = [f for f in result.files if f.role == "thumbnail"]
    assert sorted((f.name, f.width, f.height) for f in thumbs) == [
        ("thumb_1024.webp", 300, 200), ("thumb_2048.webp", 300, 200), ("thumb_320.webp", 300, 200)]
    assert len({f.path.stat().st_ino for f in thumbs}) == 1 and thumbs[0].path.stat().st_nlink == 3
