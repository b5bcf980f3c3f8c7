"""Benchmark: 12 MP JPEG -> WebP thumbnails at 320/1024/2048 px, media.processing.process_photo vs pyvips.

Run: `.venv/bin/python bench/thumbnails.py [--runs 15]`; writes bench/results/thumbnails.json.
Both sides read the same file, decode, resize each size from the previous one and write WebP (quality 80,
same libwebp effort), stripping metadata but ICC. Pillow is single-threaded; libvips uses its own thread pool,
so pyvips is also measured with concurrency 1.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyvips
from PIL import Image, ImageDraw, ImageFilter, features

from media.processing import process_photo
from media.processing.images import WEBP_METHOD, WEBP_QUALITY

SIZES = (2048, 1024, 320)
RESULTS = Path(__file__).resolve().parent / "results" / "thumbnails.json"


def make_jpeg(path: Path) -> None:
    """A photo-like 4000x3000 JPEG (gradients, shapes, fine noise), quality 90, with EXIF."""
    size = (4000, 3000)
    base = Image.merge(
        "RGB",
        [
            Image.linear_gradient("L").resize(size),
            Image.radial_gradient("L").resize(size),
            Image.linear_gradient("L").rotate(90).resize(size),
        ],
    )
    draw = ImageDraw.Draw(base)
    for i in range(60):
        x, y = (i * 397) % 3800, (i * 911) % 2800
        draw.ellipse((x, y, x + 150 + i * 3, y + 120 + i * 2), fill=((i * 37) % 256, (i * 71) % 256, (i * 13) % 256))
    noise = Image.effect_noise(size, 28).filter(ImageFilter.GaussianBlur(0.6))
    img = Image.blend(base, Image.merge("RGB", [noise, noise, noise]), 0.25)
    exif = Image.Exif()
    exif[0x010F] = "Bench"
    exif[0x0110] = "Cam"
    img.save(path, "JPEG", quality=90, exif=exif)


def run_pillow(src: Path, out: Path, display: bool) -> None:
    """process_photo: the service's implementation."""
    process_photo(src, out, sizes=(320, 1024, 2048), display=display)


def run_pillow_engine(src: Path, out: Path) -> None:
    """process_photo forced onto its Pillow path (what every photo used before the libvips path)."""
    process_photo(src, out / "pillow", sizes=(320, 1024, 2048), display=False, engine="pillow")


def run_vips(src: Path, out: Path) -> None:
    """pyvips: thumbnail from the file to 2048, then chain 1024 and 320 from the previous size."""
    prev = pyvips.Image.thumbnail(str(src), SIZES[0]).copy_memory()
    prev.webpsave(str(out / f"vips_{SIZES[0]}.webp"), Q=WEBP_QUALITY, effort=WEBP_METHOD, keep="icc")
    for size in SIZES[1:]:
        prev = prev.thumbnail_image(size).copy_memory()
        prev.webpsave(str(out / f"vips_{size}.webp"), Q=WEBP_QUALITY, effort=WEBP_METHOD, keep="icc")


def stats(samples: list[float]) -> dict[str, float]:
    """Median, p90, min and mean in seconds."""
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {
        "median_s": round(statistics.median(ordered), 4),
        "p90_s": round(p90, 4),
        "min_s": round(ordered[0], 4),
        "mean_s": round(statistics.fmean(ordered), 4),
        "runs": len(ordered),
    }


def webp_methods(src: Path) -> list[dict[str, float]]:
    """Encode the 2048 px image with WebP methods 0..4 (quality 80): seconds and bytes."""
    with Image.open(src) as im:
        im.load()
        img = im.resize((2048, 1536), Image.Resampling.BICUBIC, reducing_gap=2.0)
    rows = []
    for method in (0, 1, 2, 4):
        times, size = [], 0
        for _ in range(5):
            buf = io.BytesIO()
            t = time.perf_counter()
            img.save(buf, "WEBP", quality=WEBP_QUALITY, method=method)
            times.append(time.perf_counter() - t)
            size = buf.tell()
        rows.append({"method": method, "median_s": round(statistics.median(times), 4), "bytes": size})
    return rows


def main() -> None:
    """Run the benchmark and write the JSON results."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    pyvips.cache_set_max(0)  # no operation cache between runs
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        src = tmpdir / "12mp.jpg"
        make_jpeg(src)
        out = tmpdir / "out"
        out.mkdir()
        default_conc = pyvips.concurrency_get() if hasattr(pyvips, "concurrency_get") else None
        cases: dict[str, Callable[[], None]] = {
            "process_photo": lambda: run_pillow(src, out, display=False),
            "process_photo_with_display": lambda: run_pillow(src, out, display=True),
            "process_photo_pillow_engine": lambda: run_pillow_engine(src, out),
            "pyvips": lambda: run_vips(src, out),
            "pyvips_1_thread": lambda: run_vips(src, out),
        }
        samples: dict[str, list[float]] = {k: [] for k in cases}
        for name, fn in cases.items():  # warm-up
            _timed(name, fn, default_conc)
        for _ in range(args.runs):
            for name, fn in cases.items():
                samples[name].append(_timed(name, fn, default_conc))
        sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()}
        methods = webp_methods(src)
        src_bytes = src.stat().st_size
    result = {
        "benchmark": "thumbnails",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "versions": {
            "pillow": Image.__version__,
            "libwebp": features.version("webp"),
            "libjpeg": features.version("jpg"),
            "libvips": f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}",
        },
        "input": {"width": 4000, "height": 3000, "bytes": src_bytes},
        "settings": {"sizes": list(SIZES), "webp_quality": WEBP_QUALITY, "webp_method": WEBP_METHOD},
        "results": {k: stats(v) for k, v in samples.items()},
        "output_bytes": sizes,
        "webp_method_2048": methods,
    }
    med = {k: v["median_s"] for k, v in result["results"].items()}
    result["ratio_process_photo_vs_pyvips"] = round(med["process_photo"] / med["pyvips"], 3)
    result["ratio_process_photo_vs_pyvips_1_thread"] = round(med["process_photo"] / med["pyvips_1_thread"], 3)
    result["ratio_pillow_engine_vs_pyvips"] = round(med["process_photo_pillow_engine"] / med["pyvips"], 3)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"12 MP JPEG ({src_bytes / 1e6:.1f} MB) -> WebP {SIZES}, q{WEBP_QUALITY} method {WEBP_METHOD}")
    for name, s in result["results"].items():
        print(f"  {name:28s} median {s['median_s'] * 1000:7.1f} ms   p90 {s['p90_s'] * 1000:7.1f} ms")
    print(f"  ratio process_photo / pyvips          = {result['ratio_process_photo_vs_pyvips']}")
    print(f"  ratio process_photo / pyvips 1 thread = {result['ratio_process_photo_vs_pyvips_1_thread']}")
    print(
        "  webp 2048 px by method: "
        + ", ".join(f"m{r['method']} {r['median_s'] * 1000:.0f} ms/{r['bytes']} B" for r in methods)
    )
    print(f"  output bytes: {sizes}")
    print(f"written {RESULTS}")


def _timed(name: str, fn: Callable[[], None], default_conc: int | None) -> float:
    """Time one run (setting libvips concurrency for the 1-thread case)."""
    if name == "pyvips_1_thread":
        pyvips.concurrency_set(1)
    try:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t
    finally:
        if name == "pyvips_1_thread" and default_conc is not None:
            pyvips.concurrency_set(default_conc)


if __name__ == "__main__":
    main()
