"""The embedded mode's photo pipeline, started exactly as `make run` starts it.

Run: `.venv/bin/python bench/embedded.py [--photos 30] [--singles 5] [--width 4000 --height 3000]`.

`python -m shared.stack run` in a temporary VAR_DIR on free ports (SQLite, local objects, kombu filesystem
bus, one media worker with its default concurrency). One user, one show. Then:
- single: `--singles` photos one after the other, each waited for: upload response -> `ready` (p50/max);
- burst: `--photos` distinct ~12 MP JPEGs uploaded at once (as many concurrent uploads as photos): upload
  response -> `ready` per photo (p50/p99/max), and the throughput = photos / (first upload start -> last ready).

A watcher polls the show's photo list every 50 ms and stamps each photo's first `ready` at the poll's midpoint.
The worker's own processing rate comes from the media rows of the same run (`started_at -> finished_at` of
each burst photo): concurrency / mean processing time, i.e. what the worker does when it is never idle.
`burst_vs_worker_rate` = throughput / that rate (target >= 0.8); the single photo's p50 target is < 1 s.
Writes bench/results/embedded.json.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sqlite3
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import percentile, prefer_installed_packages, scratch_dir, summary, write_results

prefer_installed_packages()

from pipeline import ReadyWatcher, upload_batch  # noqa: E402

from shared.testing.client import create_show  # noqa: E402
from shared.testing.embedded import EmbeddedSystem  # noqa: E402
from shared.testing.media import jpeg_bytes  # noqa: E402
from shared.testing.plugin import register_and_login  # noqa: E402


def variants(base: bytes, n: int, tag: str) -> list[bytes]:
    """n distinct JPEGs from one: a COM segment after SOI (the image is the same; the SHA-256 differs)."""
    out = []
    for i in range(n):
        text = f"{tag} {i}".encode()
        out.append(base[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + base[2:])
    return out


def _ts(value: Any) -> float:
    return datetime.fromisoformat(str(value)).timestamp()


def processing_times(var_dir: Path, ids: list[int]) -> list[float]:
    """`finished_at - started_at` (s) of some media rows, read from the embedded SQLite database."""
    with sqlite3.connect(var_dir / "media.db") as db:
        marks = ",".join("?" * len(ids))
        rows = db.execute(f"SELECT started_at, finished_at FROM media_item WHERE id IN ({marks})", ids).fetchall()
    return [_ts(f) - _ts(s) for s, f in rows if s and f]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=30)
    parser.add_argument("--singles", type=int, default=5)
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--quick", action="store_true", help="10 photos, 3 singles")
    args = parser.parse_args()
    if args.quick:
        args.photos, args.singles = 10, 3
    base = jpeg_bytes(args.width, args.height, seed=1)
    print(f"photo: {args.width}x{args.height} JPEG, {len(base) / 1e6:.2f} MB", flush=True)
    var_dir = scratch_dir("embedded")
    concurrency = int(os.environ.get("MEDIA_WORKER_CONCURRENCY", "0")) or None
    result: dict[str, Any] = {"photos": args.photos, "singles": args.singles, "size": [args.width, args.height],
                              "jpeg_bytes": len(base)}
    with EmbeddedSystem(var_dir) as system:
        user = register_and_login(system.url)
        show = create_show(user, date="2024-01-01")
        headers = user.headers()
        # warm-up: the worker's first task imports the imaging stack
        with ReadyWatcher(system.url, headers, show["id"], poll_s=0.05) as watcher:
            done = upload_batch(user, show["id"], variants(base, 1, "warm"), uploaders=1)
            watcher.expect(done[0].media_id or 0)
            watcher.wait_all(120)
        single_lat: list[float] = []
        single_ids: list[int] = []
        show_s = create_show(user, date="2024-01-02")
        with ReadyWatcher(system.url, headers, show_s["id"], poll_s=0.05) as watcher:
            for photo in variants(base, args.singles, "single"):
                item = upload_batch(user, show_s["id"], [photo], uploaders=1)[0]
                assert item.media_id, item.error
                watcher.expect(item.media_id)
                watcher.wait_all(120)
                single_lat.append(watcher.done_at[item.media_id] - item.t_response)
                single_ids.append(item.media_id)
        show_b = create_show(user, date="2024-01-03")
        photos = variants(base, args.photos, "burst")
        with ReadyWatcher(system.url, headers, show_b["id"], poll_s=0.05) as watcher:
            cpu0 = worker_cpu_s(system.output())
            t0 = time.monotonic()
            items = upload_batch(user, show_b["id"], photos, uploaders=args.photos, on_uploaded=lambda u: (
                watcher.expect(u.media_id) if u.media_id else None))
            ok = watcher.wait_all(300)
            t_end = max(watcher.done_at.values(), default=time.monotonic())
            cpu_per_photo = (worker_cpu_s(system.output()) - cpu0) / max(1, len(items))
        failed = [i for i in items if not i.media_id]
        ids = [i.media_id for i in items if i.media_id]
        lat = [watcher.done_at[i.media_id] - i.t_response for i in items if i.media_id in watcher.done_at]
        statuses = [watcher.status.get(m) for m in ids]
        proc = processing_times(var_dir, ids)
        single_proc = processing_times(var_dir, single_ids)
        if concurrency is None:
            concurrency = _worker_concurrency(var_dir)
    throughput = len(lat) / (t_end - t0) if lat else 0.0
    mean_proc = statistics.mean(proc) if proc else float("nan")
    worker_rate = concurrency / mean_proc if proc else float("nan")
    result.update({
        "single_ready_s": summary(single_lat),
        # what the pipeline adds around the processing itself: publish, wake-up, status commit, the 50 ms poll
        "single_processing_s": summary(single_proc),
        "single_overhead_s": round(percentile(single_lat, 50) - percentile(single_proc, 50), 3),
        "burst": {"ready": statuses.count("ready"), "failed": statuses.count("failed"), "refused": len(failed),
                  "all_terminal": ok, "wall_s": round(t_end - t0, 3), "photos_per_s": round(throughput, 3),
                  "upload_to_ready_s": summary(lat),
                  "upload_s": summary([i.upload_s for i in items])},
        "worker": {"concurrency": concurrency, "processing_s": summary(proc),
                   "cpu_s_per_photo": round(cpu_per_photo, 3),
                   "rate_photos_per_s": round(worker_rate, 3)},
        "burst_vs_worker_rate": round(throughput / worker_rate, 3) if proc else None,
    })
    print(f"single photo upload->ready: p50 {percentile(single_lat, 50):.3f} s, max {max(single_lat):.3f} s "
          f"(target p50 < 1 s); its processing p50 {percentile(single_proc, 50):.3f} s, so the pipeline adds "
          f"{percentile(single_lat, 50) - percentile(single_proc, 50):.3f} s")
    print(f"burst of {args.photos}: {throughput:.2f} photos/s, all ready after {t_end - t0:.1f} s, "
          f"upload->ready p50 {percentile(lat, 50):.2f} s p99 {percentile(lat, 99):.2f} s; "
          f"{statuses.count('ready')} ready, {statuses.count('failed')} failed, {len(failed)} refused")
    print(f"worker: concurrency {concurrency}, processing p50 {percentile(proc, 50):.3f} s mean {mean_proc:.3f} s "
          f"-> {worker_rate:.2f} photos/s when never idle")
    print(f"worker CPU per photo (the worker and its pool processes): {cpu_per_photo:.3f} s")
    print(f"burst_vs_worker_rate = {result['burst_vs_worker_rate']} (target >= 0.8)")
    print(f"results: {write_results('embedded', result)}")


def worker_cpu_s(banner: str) -> float:
    """CPU seconds (user + system) of the media worker and its pool processes so far (pid from the banner)."""
    import psutil

    found = re.findall(r"^\s+media-worker\s.*?pid (\d+)", banner, re.M)
    if not found:
        return 0.0
    root = psutil.Process(int(found[-1]))
    total = 0.0
    for p in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


def _worker_concurrency(var_dir: Path) -> int:
    """The worker's pool size from its own start-up banner (`concurrency: N (prefork)`)."""
    text = (var_dir / "log" / "media-worker.log").read_text(errors="replace")
    found = re.search(r"concurrency:\s*(\d+)", text)
    return int(found.group(1)) if found else 1


if __name__ == "__main__":
    main()
