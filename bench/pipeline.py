"""Pipeline latency: photo upload response -> status `ready`, over 200 uploads of 2 MP photos with 2 workers.

Run: `.venv/bin/python bench/pipeline.py [--photos 200] [--workers 2] [--uploaders 4] [--rate 0] [--quick]`.

Full mode (fresh PostgreSQL databases, a RabbitMQ vhost, moto S3; `bench/_common.FullStack`), every service
as a real process with 2 Celery media workers. One user. After a warm-up (both workers consuming, a few photos
processed), two phases, each into a fresh show:
- burst: 200 distinct 1632x1224 JPEGs (`jpeg_bytes(seed=i)`) uploaded through the gateway by 4 concurrent
  uploaders as fast as they go (or `--rate` uploads/s): they outrun 2 workers, so this measures the drain of a
  backlog (latency = mostly queue wait) and the pipeline's throughput;
- paced: the same 200 photos paced open-loop at 70 % of the throughput just measured (`--paced-fraction`):
  latency is the pipeline's own, with little queueing.
A watcher polls the show's photo list every 150 ms (per-id `?meta=1` records for ids the list does not show)
and notes when each photo is first seen `ready`/`failed`, at the midpoint of that poll, so latencies are exact
to about one poll interval. The media rows (read from the benchmark's own database) add the server-side split:
queue wait, processing time and the attempt counter of every photo.

Prints p50/p99/max of upload-response -> ready, the throughput (photos/s), the queue depth over time, and the
peak RSS of every process; writes bench/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from _common import (
    FullStack,
    QueueSampler,
    RssSampler,
    merge_peaks,
    prefer_installed_packages,
    skip,
    stack_pids,
    summary,
    write_results,
)

prefer_installed_packages()

from media.config import usable_cores  # noqa: E402
from shared.stack import SERVICES, available  # noqa: E402
from shared.testing.client import create_show, upload  # noqa: E402
from shared.testing.media import jpeg_bytes  # noqa: E402
from shared.testing.plugin import TestUser, register_and_login  # noqa: E402

TERMINAL = ("ready", "failed")
PHOTO_W, PHOTO_H = 1632, 1224  # 2 MP, 4:3 like a phone photo
NEEDED = ("gateway", "auth", "shows", "media", "media-worker")


def require_services(needed: tuple[str, ...] = NEEDED) -> None:
    """Skip (exit 3) with a clear message when a service this benchmark drives is not in the checkout yet."""
    missing = [s.name for s in SERVICES if s.name in needed and not available(s)]
    if missing:
        skip(f"services not in this checkout yet: {', '.join(missing)}")


def make_photos(n: int) -> list[bytes]:
    """n distinct 2 MP JPEGs (distinct bytes, so the per-show SHA-256 de-duplication never merges two)."""
    return [jpeg_bytes(PHOTO_W, PHOTO_H, seed=i) for i in range(n)]


@dataclass
class Uploaded:
    """One upload: the record id (None when refused), when its response arrived and how long it took."""

    index: int
    media_id: int | None
    status_code: int
    t_response: float
    upload_s: float
    error: str = ""


def upload_batch(user: TestUser, show_id: int, photos: list[bytes], *, uploaders: int = 4, rate: float = 0.0,
                 deadline_s: float = 600.0, on_uploaded: Callable[[Uploaded], None] | None = None) -> list[Uploaded]:
    """Upload every photo with `uploaders` threads; `rate` > 0 paces the starts to that many per second."""
    t_start = time.monotonic()
    deadline = t_start + deadline_s

    def one(i: int) -> Uploaded:
        if rate > 0:  # open-loop pacing: photo i starts no earlier than i / rate
            time.sleep(max(0.0, t_start + i / rate - time.monotonic()))
        if time.monotonic() > deadline:
            return Uploaded(i, None, 0, time.monotonic(), 0.0, "deadline")
        t0 = time.monotonic()
        try:
            resp = upload(user, "photos", show_id, f"bench-{i:04d}.jpg", photos[i], "image/jpeg")
        except httpx.HTTPError as exc:
            return Uploaded(i, None, 0, time.monotonic(), time.monotonic() - t0, repr(exc))
        t1 = time.monotonic()
        mid = resp.json().get("id") if resp.status_code == 201 else None
        item = Uploaded(i, mid, resp.status_code, t1, t1 - t0, "" if mid else resp.text[:200])
        if on_uploaded:
            on_uploaded(item)
        return item

    with ThreadPoolExecutor(uploaders) as pool:
        return list(pool.map(one, range(len(photos))))


class ReadyWatcher:
    """Notes when each photo of a show is first seen in a terminal state (polls the show's photo list)."""

    def __init__(self, base_url: str, headers: dict[str, str], show_id: int, poll_s: float = 0.15) -> None:
        self.client = httpx.Client(base_url=base_url, headers=headers, timeout=30.0)
        self.show_id, self.poll_s = show_id, poll_s
        self.expected: set[int] = set()
        self.done_at: dict[int, float] = {}
        self.status: dict[int, str] = {}
        self.records: dict[int, dict[str, Any]] = {}
        self.polls = 0
        self.poll_errors = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def expect(self, media_id: int) -> None:
        """Watch one more photo."""
        with self._lock:
            self.expected.add(media_id)

    def pending(self) -> set[int]:
        """Ids not yet terminal."""
        with self._lock:
            return self.expected - set(self.done_at)

    def _list(self) -> dict[int, dict[str, Any]]:
        seen: dict[int, dict[str, Any]] = {}
        offset = 0
        while True:
            r = self.client.get(f"/api/photos/show/{self.show_id}", params={"limit": 100, "offset": offset})
            r.raise_for_status()
            body = r.json()
            items = body.get("photos", [])
            seen.update({int(p["id"]): p for p in items})
            offset += len(items)
            if not items or offset >= int(body.get("total", 0)):
                return seen

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                seen = self._list()
                # the list may leave out items still processing: ask for those one by one (bounded)
                for mid in list(self.pending() - set(seen))[:20]:
                    r = self.client.get(f"/api/photos/{mid}", params={"meta": 1})
                    if r.status_code == 200:
                        seen[mid] = r.json()
            except (httpx.HTTPError, ValueError):
                self.poll_errors += 1
                self._stop.wait(self.poll_s)
                continue
            t_seen = (t0 + time.monotonic()) / 2  # the state is from somewhere inside the poll
            self.polls += 1
            with self._lock:
                for mid, rec in seen.items():
                    self.records[mid] = rec
                    self.status[mid] = rec.get("status", "?")
                    if mid in self.expected and mid not in self.done_at and rec.get("status") in TERMINAL:
                        self.done_at[mid] = t_seen
            self._stop.wait(max(0.0, self.poll_s - (time.monotonic() - t0)))

    def wait_all(self, timeout_s: float) -> bool:
        """Block until every expected id is terminal (True) or the time is up (False)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.pending():
                return True
            time.sleep(0.1)
        return not self.pending()

    def __enter__(self) -> ReadyWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
        self.client.close()


def wait_consumers(sampler_vhost: str, amqp_url: str, count: int, timeout_s: float = 90.0) -> int:
    """Wait until RabbitMQ shows `count` consumers on some queue (the workers are up); returns what it saw."""
    probe = QueueSampler(sampler_vhost, amqp_url)
    deadline = time.monotonic() + timeout_s
    best = 0
    while time.monotonic() < deadline:
        rows = probe.list_queues() if probe.has_ctl else {}
        best = max((r.get("consumers", 0) for r in rows.values()), default=0)
        if best >= count or not probe.has_ctl:
            return best
        time.sleep(1.0)
    return best


def warm_up(user: TestUser, base_url: str, workers: int, timeout_s: float = 120.0) -> float:
    """Process a few photos in a show of their own so imports, pools and caches are warm; returns seconds."""
    t0 = time.monotonic()
    show = create_show(user, artist_name="Warm Up", notes="bench warm-up")
    photos = [jpeg_bytes(PHOTO_W, PHOTO_H, seed=10_000 + i) for i in range(2 * workers)]
    with ReadyWatcher(base_url, user.headers(), show["id"]) as watcher:
        for item in upload_batch(user, show["id"], photos, uploaders=workers):
            if item.media_id:
                watcher.expect(item.media_id)
        watcher.wait_all(timeout_s)
    return time.monotonic() - t0


def attempt_counts(records: dict[int, dict[str, Any]]) -> dict[str, int] | None:
    """Histogram of a per-record attempt counter, when the media record exposes one."""
    keys = ("attempts", "attempt", "processing_attempts", "process_count", "tries")
    hist: dict[str, int] = {}
    for rec in records.values():
        key = next((k for k in keys if isinstance(rec.get(k), int)), None)
        if key is None:
            return None
        hist[str(rec[key])] = hist.get(str(rec[key]), 0) + 1
    return hist or None


def media_rows(db_url: str, ids: list[int]) -> dict[int, dict[str, Any]]:
    """The media service's own rows for these ids (attempt counter and processing timestamps), read-only.

    The public record has no attempt counter or timings, so the benchmark reads the media database it
    created itself; {} when the table or columns differ from what this expects.
    """
    from shared.testing.infra import pg_connect

    try:
        with pg_connect(db_url) as conn, conn.cursor() as cur:
            cur.execute("SELECT * FROM media_item WHERE id = ANY(%s)", (ids,))
            cols = [c.name for c in cur.description or []]
            return {int(row[0]): dict(zip(cols, row, strict=True)) for row in cur.fetchall()}
    except Exception as exc:  # a schema still in flux must not lose the client-side figures
        print(f"note: could not read media_item rows ({exc.__class__.__name__}: {exc})", flush=True)
        return {}


POOL = [1]  # processes in the workers' pools, set by main()


def server_figures(rows: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Server-side view from the rows: attempts histogram, queue wait, processing time, created -> finished."""
    def span_ms(a: str, b: str) -> list[float]:
        return [(r[b] - r[a]).total_seconds() * 1000 for r in rows.values() if r.get(a) and r.get(b)]

    attempts: dict[str, int] = {}
    for r in rows.values():
        key = str(r.get("attempts", "?"))
        attempts[key] = attempts.get(key, 0) + 1

    def rounded(values: list[float]) -> dict[str, float]:
        return {k: round(v, 1) for k, v in summary(values).items()}

    # how busy the worker's pool was: processing time summed over the span from the first start to the last
    # finish = the mean number of photos in processing at once (divided by the pool size: the busy fraction)
    starts = [r["started_at"] for r in rows.values() if r.get("started_at") and r.get("finished_at")]
    ends = [r["finished_at"] for r in rows.values() if r.get("started_at") and r.get("finished_at")]
    span_s = (max(ends) - min(starts)).total_seconds() if starts else 0.0
    busy_s = sum(span_ms("started_at", "finished_at")) / 1000
    return {
        "rows": len(rows),
        "attempts": attempts,
        "processing_span_s": round(span_s, 2),
        "processing_mean_ms": round(busy_s * 1000 / len(starts), 1) if starts else None,
        "processing_in_flight_mean": round(busy_s / span_s, 2) if span_s else None,
        "queue_wait_ms": rounded(span_ms("queued_at", "started_at")),
        "processing_ms": rounded(span_ms("started_at", "finished_at")),
        "created_to_finished_ms": rounded(span_ms("created_at", "finished_at")),
    }


def latency_figures(uploads: list[Uploaded], watcher: ReadyWatcher) -> dict[str, Any]:
    """Latency summary (ms), counts and throughput of one watched batch."""
    ok = [u for u in uploads if u.media_id]
    lat = [(watcher.done_at[u.media_id] - u.t_response) * 1000 for u in ok
           if u.media_id in watcher.done_at and watcher.status.get(u.media_id) == "ready"]
    ready_times = [watcher.done_at[u.media_id] for u in ok if u.media_id in watcher.done_at]
    t_first = min((u.t_response - u.upload_s for u in uploads), default=0.0)
    span = (max(ready_times) - t_first) if ready_times else float("nan")
    statuses = [watcher.status.get(u.media_id, "missing") for u in ok if u.media_id]
    return {
        "uploaded": len(ok),
        "refused": len(uploads) - len(ok),
        "ready": statuses.count("ready"),
        "failed": statuses.count("failed"),
        "not_terminal": sum(1 for s in statuses if s not in TERMINAL),
        "latency_ms": {k: round(v, 1) for k, v in summary(lat).items()},
        "upload_ms": {k: round(v * 1000 if k != "n" else v, 1) for k, v in summary([u.upload_s for u in ok]).items()},
        "wall_s": round(span, 2),
        "throughput_photos_per_s": round(len(ready_times) / span, 2) if ready_times else 0.0,
        "upload_rate_per_s": round(len(ok) / max(1e-9, max(u.t_response for u in ok) - t_first), 2) if ok else 0.0,
    }


def depth_line(samples: list[dict[str, Any]], width: int = 60) -> str:
    """The ready-message count over time as one compact line (`t:depth`), at most `width` points."""
    step = max(1, len(samples) // width)
    return " ".join(f"{s['t']:.0f}:{s['ready_total']}" for s in samples[::step])


def run_phase(fs: FullStack, user: TestUser, photos: list[bytes], *, label: str, uploaders: int, rate: float,
              poll_s: float, timeout_s: float) -> dict[str, Any]:
    """Upload a batch to a fresh show, watch every photo to `ready`; the phase's figures and queue samples."""
    stack = fs.stack
    show = create_show(user, artist_name=f"Pipeline {label}", notes="bench")
    pace = f" paced at {rate:.2f}/s" if rate else " unpaced"
    print(f"[{label}] uploading {len(photos)} photos with {uploaders} uploaders{pace} ...", flush=True)
    with (QueueSampler(fs.vhost, fs.env["BROKER_URL"]) as queue,
          ReadyWatcher(stack.gateway_url, user.headers(), show["id"], poll_s) as watcher):
        t0 = time.monotonic()
        uploads = upload_batch(user, show["id"], photos, uploaders=uploaders, rate=rate, deadline_s=timeout_s,
                               on_uploaded=lambda u: watcher.expect(u.media_id) if u.media_id else None)
        drained = watcher.wait_all(max(10.0, timeout_s - (time.monotonic() - t0)))
        time.sleep(1.5)  # one more queue sample after the drain
    figures = latency_figures(uploads, watcher)
    server = server_figures(media_rows(fs.env["MEDIA_DATABASE_URL"], sorted(watcher.expected)))
    attempts = server["attempts"] or attempt_counts(
        {m: watcher.records[m] for m in watcher.expected if m in watcher.records})
    phase = {"rate_per_s": round(rate, 2) if rate else "unpaced", "uploaders": uploaders, "drained": drained,
             **figures, "attempt_counters": attempts, "server_side": server,
             "upload_errors": sorted({u.error or str(u.status_code) for u in uploads if not u.media_id})[:10],
             "queue_depth": queue.samples, "queue_peak_ready": queue.peak_ready(),
             "status_polls": watcher.polls, "status_poll_errors": watcher.poll_errors}
    report_phase(label, phase, poll_s)
    return phase


def report_phase(label: str, ph: dict[str, Any], poll_s: float) -> None:
    """Print one phase's figures."""
    lat, server = ph["latency_ms"], ph["server_side"]
    print(f"[{label}] ready {ph['ready']}  failed {ph['failed']}  refused {ph['refused']}  "
          f"not terminal {ph['not_terminal']}  (drained: {ph['drained']})")
    print(f"  upload response -> ready: p50 {lat['median']:.0f} ms   p99 {lat['p99']:.0f} ms   "
          f"max {lat['max']:.0f} ms   (resolution ~{poll_s * 1000:.0f} ms)")
    print(f"  throughput {ph['throughput_photos_per_s']} photos/s over {ph['wall_s']} s; "
          f"uploads {ph['upload_rate_per_s']}/s, upload p50 {ph['upload_ms']['median']:.0f} ms")
    print(f"  queue depth (t s: ready msgs): {depth_line(ph['queue_depth'])}")
    print(f"  server side (media rows): queue wait p50 {server['queue_wait_ms']['median']} ms, processing p50 "
          f"{server['processing_ms']['median']} ms / p99 {server['processing_ms']['p99']} ms, created->finished "
          f"p50 {server['created_to_finished_ms']['median']} ms / p99 {server['created_to_finished_ms']['p99']} ms")
    if server.get("processing_in_flight_mean") is not None:
        mean_ms = server["processing_mean_ms"]
        print(f"  worker pool of {POOL[0]}: {server['processing_in_flight_mean']} photos in processing on average "
              f"over {server['processing_span_s']} s = busy {server['processing_in_flight_mean'] / POOL[0]:.0%}"
              f"{' (target >= 80 % in a burst)' if ph['rate_per_s'] == 'unpaced' else ' (paced below capacity)'}; "
              f"processing rate at that mean ({mean_ms:.0f} ms) {POOL[0] * 1000 / mean_ms:.2f} "
              f"photos/s")
    print(f"  attempts per photo (count of photos): {ph['attempt_counters'] or 'not available'}", flush=True)


def phase_figures(prefix: str, ph: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of a phase for the summary table."""
    lat, server = ph["latency_ms"], ph["server_side"]
    return {f"{prefix}_p50_ms": lat["median"], f"{prefix}_p99_ms": lat["p99"], f"{prefix}_max_ms": lat["max"],
            f"{prefix}_photos_per_s": ph["throughput_photos_per_s"], f"{prefix}_upload_rate_per_s":
            ph["upload_rate_per_s"], f"{prefix}_ready": ph["ready"], f"{prefix}_failed": ph["failed"],
            f"{prefix}_lost": ph["not_terminal"] + ph["refused"], f"{prefix}_queue_peak_ready": ph["queue_peak_ready"],
            f"{prefix}_processing_p50_ms": server["processing_ms"]["median"],
            f"{prefix}_queue_wait_p50_ms": server["queue_wait_ms"]["median"]}


def main() -> None:
    """Run the benchmark, print the figures, write bench/results/pipeline.json."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--uploaders", type=int, default=4)
    ap.add_argument("--rate", type=float, default=0.0, help="total uploads/s of the first phase (0: unpaced)")
    ap.add_argument("--paced-fraction", type=float, default=0.7,
                    help="second phase paced at this fraction of the first phase's throughput (0: skip it)")
    ap.add_argument("--poll", type=float, default=0.15, help="seconds between status polls")
    ap.add_argument("--timeout", type=float, default=900.0, help="deadline for each phase")
    ap.add_argument("--quick", action="store_true", help="40 photos (smoke run)")
    args = ap.parse_args()
    # each worker's pool: MEDIA_WORKER_CONCURRENCY, by default one process per core (media.config)
    POOL[0] = args.workers * (int(os.environ.get("MEDIA_WORKER_CONCURRENCY") or 0) or usable_cores())
    n = 40 if args.quick else args.photos
    require_services()

    print(f"making {n} {PHOTO_W}x{PHOTO_H} JPEGs ...", flush=True)
    photos = make_photos(n)
    load_before = os.getloadavg()
    phases: dict[str, dict[str, Any]] = {}
    with FullStack("pipeline", worker_count=args.workers) as fs:
        stack = fs.stack
        consumers = wait_consumers(fs.vhost, fs.env["BROKER_URL"], args.workers)
        user = register_and_login(stack.gateway_url)
        warm_s = warm_up(user, stack.gateway_url, args.workers)
        print(f"stack up ({consumers} consumers, warm-up {warm_s:.1f}s)", flush=True)
        with RssSampler(stack_pids(stack)) as rss:
            # burst: the uploaders outrun 2 workers, so latency is mostly queue wait (a backlog drain)
            phases["burst"] = run_phase(fs, user, photos, label="burst", uploaders=args.uploaders, rate=args.rate,
                                        poll_s=args.poll, timeout_s=args.timeout)
            capacity = phases["burst"]["throughput_photos_per_s"]
            if args.paced_fraction > 0 and capacity > 0:
                # paced below capacity: latency is the pipeline's own (publish, pick-up, processing, commit)
                phases["paced"] = run_phase(fs, user, photos, label="paced", uploaders=args.uploaders,
                                            rate=args.paced_fraction * capacity, poll_s=args.poll,
                                            timeout_s=args.timeout)
        user.client.close()
    load_after = os.getloadavg()

    figures: dict[str, Any] = {}
    for name, ph in phases.items():
        figures.update(phase_figures(name, ph))
    result = {
        "conditions": {"photos": n, "size": f"{PHOTO_W}x{PHOTO_H}", "jpeg_kb_mean": round(
            sum(map(len, photos)) / n / 1024, 1), "workers": args.workers,
            "worker_concurrency": POOL[0] // args.workers,
            "uploaders": args.uploaders, "paced_fraction": args.paced_fraction, "poll_s": args.poll,
            "mode": "full (PostgreSQL, RabbitMQ, moto S3)", "worker_consumers_seen": consumers,
            "warm_up_s": round(warm_s, 1), "loadavg_before": load_before, "loadavg_after": load_after},
        "phases": phases,
        "peak_rss_mb": merge_peaks(rss.peaks_mb),
        "figures": figures,
    }
    path = write_results("pipeline", result)
    print("  peak RSS MB: " + ", ".join(f"{k} {v:.0f}" for k, v in result["peak_rss_mb"].items()))
    print(f"written {path}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # run_all's deadline: the stack was torn down on the way out
        raise SystemExit("interrupted") from None
