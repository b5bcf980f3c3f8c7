"""The libvips path for plain RGB JPEGs (a phone's photo): the same derivatives as the Pillow path, faster.

libvips decodes with shrink-on-load (the JPEG's DCT scaling, as Pillow's draft) and resizes and encodes on
its own thread pool. images.process_photo has already validated the file with Pillow (format allowlist, pixel
limit from the header) and read the EXIF facts; this module only produces the files. Orientation is the one
Pillow read, applied here, so both paths agree on it even for odd EXIF. Outputs carry no metadata but the ICC
profile (`keep="icc"`). Anything libvips refuses returns None and Pillow handles the file (and its errors).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

try:  # pyvips-binary ships libvips; without it the Pillow path does everything
    import pyvips
except (ImportError, OSError):  # pragma: no cover - a declared dependency of media
    pyvips = None

AVAILABLE = pyvips is not None
if pyvips is not None:
    # every photo is new: cached operations would only keep its pixels (and its temporary file) alive
    pyvips.cache_set_max(0)
    # pyvips forwards every libvips message to Python logging, ~25 INFO lines of loader and threadpool chatter
    # per photo: formatted and written by a worker logging at INFO, they took 12 % of its CPU. Warnings stay.
    logging.getLogger("pyvips").setLevel(logging.WARNING)


def share_cores(processes: int, cores: int) -> None:
    """Give libvips this process's share of the cores: a pool of `processes` already keeps every core busy, and
    libvips's own default (a thread per core in each process) only adds threads competing for them."""
    if pyvips is not None:
        pyvips.concurrency_set(max(1, cores // max(1, processes)))


#: EXIF orientation -> operations on the stored pixels that give the upright image (as ImageOps.exif_transpose).
_ORIENT: dict[int, tuple[str, ...]] = {
    2: ("fliph",), 3: ("rot180",), 4: ("flipv",), 5: ("rot270", "flipv"),
    6: ("rot90",), 7: ("rot90", "flipv"), 8: ("rot270",),
}


def _upright(img: Any, orientation: int) -> Any:
    for op in _ORIENT.get(orientation, ()):
        if op == "fliph":
            img = img.fliphor()
        elif op == "flipv":
            img = img.flipver()
        else:
            img = getattr(img, op)()
    return img


def _stored(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """A display-orientation size as the stored pixels have it."""
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) else size


def link_or_copy(source: Path, path: Path) -> None:
    """`path` with the bytes of `source` (a hard link; a copy where links fail)."""
    path.unlink(missing_ok=True)  # a file left by an earlier run in the same folder is replaced, as a write would
    try:
        os.link(source, path)
    except OSError:
        shutil.copyfile(source, path)


def derivatives(
    src: Path,
    out_dir: Path,
    targets: Sequence[tuple[int, tuple[int, int]]],
    orientation: int,
    display_size: tuple[int, int] | None,
    quality: int,
    method: int,
    display_quality: int,
) -> tuple[list[tuple[str, Path, tuple[int, int], str]], Image.Image] | None:
    """Write display.jpg (when display_size) and thumb_<size>.webp for each (size, (w, h)), largest first.

    Returns ([(name, path, size, role)], the smallest thumbnail as a Pillow image) or None if libvips failed.
    """
    if pyvips is None:
        return None
    written: list[tuple[str, Path, tuple[int, int], str]] = []
    try:
        if display_size is not None:
            # the full image once in memory: saved as the display copy, then shrunk for the thumbnails
            current = _upright(pyvips.Image.new_from_file(str(src), fail_on="error"), orientation).copy_memory()
            path = out_dir / "display.jpg"
            current.jpegsave(str(path), Q=display_quality, keep="icc", optimize_coding=False)
            written.append(("display", path, (current.width, current.height), "display"))
        else:
            current = None
        for size, (w, h) in targets:
            if current is None:  # shrink-on-load straight from the file to the largest size
                sw, sh = _stored((w, h), orientation)
                current = pyvips.Image.thumbnail(str(src), sw, height=sh, size="force", no_rotate=True,
                                                 fail_on="error").copy_memory()
                if orientation != 1:  # turned in memory: a rotation reads the decoder's rows out of order
                    current = _upright(current, orientation).copy_memory()
            elif (current.width, current.height) != (w, h):
                current = current.thumbnail_image(w, height=h, size="force", no_rotate=True).copy_memory()
            elif written and written[-1][3] == "thumbnail":  # the larger size was not shrunk either: same file
                path = out_dir / f"thumb_{size}.webp"
                link_or_copy(written[-1][1], path)
                written.append((f"thumb_{size}", path, (w, h), "thumbnail"))
                continue
            path = out_dir / f"thumb_{size}.webp"
            current.webpsave(str(path), Q=quality, effort=method, keep="icc")
            written.append((f"thumb_{size}", path, (w, h), "thumbnail"))
        assert current is not None
        smallest = Image.frombytes("RGB", (current.width, current.height), current.write_to_memory())
    except pyvips.Error:
        for _name, path, _size, _role in written:
            path.unlink(missing_ok=True)
        return None
    return written, smallest
