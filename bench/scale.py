"""Proof that it scales, here by processes: media workers as separate "hosts", and API replicas behind the gateway.

Run: `.venv/bin/python bench/scale.py [--part workers,replicas] [--photos 200] [--counts 1,2,4] [--quick]`.

(a) workers: one full-mode stack (fresh PostgreSQL databases, RabbitMQ vhost, moto S3) with no worker. For each
    worker count N, the same 200 2 MP JPEGs are uploaded to a fresh show while no worker runs (the tasks wait
    in RabbitMQ), then N Celery workers start as separate "hosts" (`separate_worker_dirs=True`: a VAR_DIR
    each, sharing only RabbitMQ, PostgreSQL and S3). Measured: wall time from the workers' start to the last
    photo `ready` (includes the workers' boot), the steady drain rate between the first and the last `ready`,
    photos/s and speed-up against N=1, the queue depth over time; checked: every photo `ready`, none lost,
    none processed twice (successful task runs per worker counted in the worker logs, and the record's
    attempt counter when it exposes one), the queue empty afterwards.
(b) replicas: two instances of auth, shows, media and social behind the gateway. An asyncio client at
    concurrency 16 sends `GET /api/shows?limit=20` and `GET /api/auth/me` alternately for ~20 s, counting
    every non-2xx and connection error per 1-second bucket; one shows instance is SIGKILLed at 25 % of the run
    and restarted at 45 %, one auth instance is SIGKILLed at 60 % and restarted at 80 %. Reported: errors seen
    by clients around each kill (target: none, the gateway retries), rps before/after each kill, and the
    requests each replica served (its /metrics) so the survivor is seen carrying the load.
Writes bench/results/scale.json with `peak_rss_mb` of every process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import time
from collections import Counter, defaultdict
from typing import Any

import httpx
from _common import (
    FullStack,
    QueueSampler,
    RssSampler,
    cpu_seconds,
    merge_peaks,
    percentile,
    stack_pids,
    write_results,
)
from pipeline import (
    PHOTO_H,
    PHOTO_W,
    ReadyWatcher,
    attempt_counts,
    depth_line,
    make_photos,
    media_rows,
    require_services,
    server_figures,
    upload_batch,
    warm_up,
)

from shared.testing.client import create_show
from shared.testing.plugin import TestUser, register_and_login

# Celery's own line for a finished task, in plain or JSON logs: "Task media.tasks.x[<uuid>] succeeded in 0.3s"
TASK_DONE = re.compile(r"Task ([\w.]+)\[([0-9a-f-]{36})\] succeeded")
TASK_FAILED = re.compile(r"Task ([\w.]+)\[([0-9a-f-]{36})\] (?:raised|failed|retry)")


# ---------------------------------------------------------------- (a) workers


def task_runs(worker_stack: Any) -> dict[str, Any]:
    """Successful/failed task runs per worker host, and task ids that ran more than once."""
    per_worker: dict[str, int] = {}
    ids: Counter[str] = Counter()
    names: Counter[str] = Counter()
    failed = 0
    for proc in worker_stack.procs:
        text = proc.log_path.read_text(errors="replace") if proc.log_path.exists() else ""
        done = set(TASK_DONE.findall(text))  # a line may be written twice (stderr + JSON handler)
        per_worker[f"worker{proc.index + 1}"] = len(done)
        ids.update(task_id for _, task_id in done)
        names.update(name for name, _ in done)
        failed += len(set(TASK_FAILED.findall(text)))
    return {"succeeded_per_worker": per_worker, "succeeded_total": sum(per_worker.values()),
            "succeeded_by_task": dict(names), "distinct_task_ids": len(ids),
            "task_ids_run_twice": sum(1 for c in ids.values() if c > 1), "failed_or_retried": failed}


def wait_queued(sampler: QueueSampler, n: int, timeout_s: float = 60.0) -> int:
    """Wait until the vhost's queues hold `n` ready messages (outbox relays publish a little later)."""
    deadline = time.monotonic() + timeout_s
    ready = 0
    while time.monotonic() < deadline and sampler.has_ctl:
        ready = sum(r["ready"] for r in sampler.list_queues().values())
        if ready >= n:
            break
        time.sleep(1.0)
    return ready


def worker_round(fs: FullStack, user: TestUser, photos: list[bytes], count: int, timeout_s: float) -> dict[str, Any]:
    """Pre-upload the batch with no worker running, then start `count` worker hosts and time the drain."""
    stack = fs.stack
    amqp = fs.env["BROKER_URL"]
    show = create_show(user, artist_name=f"Scale {count} workers", notes="bench")
    ctl = QueueSampler(fs.vhost, amqp)
    with ReadyWatcher(stack.gateway_url, user.headers(), show["id"], poll_s=0.2) as watcher:
        uploads = upload_batch(user, show["id"], photos, uploaders=4, deadline_s=timeout_s)
        ids = [u.media_id for u in uploads if u.media_id]
        for mid in ids:
            watcher.expect(mid)
        queued = wait_queued(ctl, len(ids))
        early = len(ids) - len(watcher.pending())  # should be 0: nothing may process without a worker
        print(f"  {count} worker(s): {len(ids)} uploaded, {queued} messages queued; starting workers ...", flush=True)
        workers = fs.extra_stack(fs.var_dir / f"workers-{count}", services=["media-worker"], worker_count=count,
                                 separate_worker_dirs=True)
        try:
            with QueueSampler(fs.vhost, amqp) as queue:
                t0 = time.monotonic()
                workers.start()  # returns once spawned: a worker has no port to answer /health on
                cpu0 = cpu_at_ready(workers, deadline_s=120)  # also each worker's boot: CPU from its spawn
                db0 = db_activity(fs.env["MEDIA_DATABASE_URL"])
                with RssSampler(stack_pids(workers)) as rss:
                    drained = watcher.wait_all(timeout_s)
                    t_end = time.monotonic()
                cpu1 = {name: cpu_seconds(pid) for name, pid in stack_pids(workers).items()}
                db1 = db_activity(fs.env["MEDIA_DATABASE_URL"])
                # a last queue sample after the drain, and what the idle workers burn meanwhile (the parents'
                # event loops and broker connections: a cost per process and second, not per photo)
                idle0 = {name: cpu_seconds(pid) for name, pid in stack_pids(workers).items()}
                time.sleep(3.0)
                idle_cpu_s_per_s = sum(cpu_seconds(pid) - idle0.get(name, 0.0)
                                       for name, pid in stack_pids(workers).items()) / 3.0
        finally:
            workers.stop()
        after = ctl.list_queues()
    runs = task_runs(workers)
    server = server_figures(media_rows(fs.env["MEDIA_DATABASE_URL"], ids))
    attempts = server["attempts"] or attempt_counts({m: watcher.records[m] for m in ids if m in watcher.records})
    ready_times = sorted(watcher.done_at[m] for m in ids if m in watcher.done_at)
    statuses = Counter(watcher.status.get(m, "missing") for m in ids)
    wall = (max(ready_times) if ready_times else t_end) - t0
    # work done between the workers' readiness and the drain's end (their boot is not photo work)
    # (each worker's CPU is counted from its own "ready"; photos finished by workers already running while
    # another still booted are counted too, so the figure is the same work over the same CPU)
    after_boot = max(1, len(ready_times))
    worker_cpu = sum(cpu1[k] - cpu0.get(k, 0.0) for k in cpu1)
    db = {k: db1[k] - db0[k] for k in db1} if db0 and db1 else {}
    steady = (ready_times[-1] - ready_times[0]) if len(ready_times) > 1 else float("nan")
    return {
        "workers": count,
        "uploaded": len(ids),
        "refused": len(uploads) - len(ids),
        "messages_queued_before_start": queued,
        "terminal_before_workers": early,
        "drained": drained,
        "ready": statuses.get("ready", 0),
        "failed": statuses.get("failed", 0),
        "lost": sum(v for k, v in statuses.items() if k not in ("ready", "failed")),
        "wall_s": round(wall, 2),
        "photos_per_s": round(len(ready_times) / wall, 2) if ready_times else 0.0,
        "first_ready_after_s": round(ready_times[0] - t0, 2) if ready_times else None,
        "steady_photos_per_s": round((len(ready_times) - 1) / steady, 2) if len(ready_times) > 1 else 0.0,
        **runs,
        # two independent witnesses, the larger one counts: task runs in the worker logs (one task per photo
        # and kind of task: more successful runs of a task than photos = some ran twice) and the rows' attempts
        "processed_twice": max(runs["task_ids_run_twice"] + sum(max(0, c - len(ids))
                                                                for c in runs["succeeded_by_task"].values()),
                               sum(v for k, v in (attempts or {}).items() if k.isdigit() and int(k) > 1)),
        "log_evidence": runs["succeeded_total"] > 0,
        "attempt_counters": attempts,
        # efficiency by processes, which wall-clock speed-up on 2 shared cores cannot show
        "worker_cpu_s_per_photo": round(worker_cpu / after_boot, 4),
        "boot_cpu_s_per_worker": round(sum(cpu0.values()) / max(1, len(cpu0)), 2),
        "idle_cpu_s_per_s": round(idle_cpu_s_per_s, 4),
        "drain_s": round(t_end - t0, 2),
        "queue_wait_ms_p50": server.get("queue_wait_ms", {}).get("median"),
        "db_commits_per_photo": round(db["xact_commit"] / after_boot, 2) if db else None,
        "db_rows_written_per_photo": round(db["rows_written"] / after_boot, 2) if db else None,
        "events_published_per_photo": round(db["events"] / after_boot, 2) if db else None,
        "server_side": server,
        "queue_after": after,
        "queue_peak_ready": queue.peak_ready(),
        "queue_depth": queue.samples,
        "peak_rss_mb": merge_peaks(rss.peaks_mb),
    }


def db_activity(db_url: str) -> dict[str, float]:
    """The media database's commits and rows written (pg_stat_database) and outbox events sent so far.

    Counted over the whole database, so the API's reads of the watcher's polls add a few commits: an upper
    bound for the workers' own coordination cost. {} when the statistics cannot be read.
    """
    from shared.testing.infra import pg_connect

    try:
        with pg_connect(db_url) as conn, conn.cursor() as cur:
            cur.execute("SELECT xact_commit, tup_inserted + tup_updated + tup_deleted FROM pg_stat_database "
                        "WHERE datname = current_database()")
            commits, rows = cur.fetchone() or (0, 0)
            cur.execute("SELECT count(*) FROM outbox_event WHERE published_at IS NOT NULL "
                        "AND type NOT LIKE 'task:%%'")
            (events,) = cur.fetchone() or (0,)
            return {"xact_commit": float(commits), "rows_written": float(rows), "events": float(events)}
    except Exception as exc:  # statistics are a bonus: never lose the run for them
        print(f"note: could not read database activity ({exc.__class__.__name__}: {exc})", flush=True)
        return {}


def _booted(log: str) -> bool:
    """Celery said "ready." and each pool process said it had its resources (media.tasks._warm)."""
    pool = re.search(r"concurrency: (\d+)", log)
    return " ready." in log and pool is not None and log.count("pool process ready") >= int(pool.group(1))


def cpu_at_ready(workers: Any, deadline_s: float) -> dict[str, float]:
    """Each worker's CPU seconds at the moment its log says it and its pool processes are ready: its boot, which
    is not photo work. Polled every 10 ms: a few ms of photo work may land in the
    boot, as the pool processes take tasks as soon as they are ready."""
    pids = stack_pids(workers)
    logs = {name: proc.log_path for name, proc in zip(pids, workers.procs, strict=True)}
    at_ready: dict[str, float] = {}
    end = time.monotonic() + deadline_s
    while len(at_ready) < len(pids) and time.monotonic() < end:
        for name, pid in pids.items():
            if name not in at_ready and _booted(logs[name].read_text(errors="replace")):
                at_ready[name] = cpu_seconds(pid)
        time.sleep(0.01)
    missing = set(pids) - set(at_ready)
    if missing:
        raise RuntimeError(f"workers not ready after {deadline_s} s: {sorted(missing)}")
    return at_ready


def run_workers(n: int, counts: list[int], timeout_s: float) -> dict[str, Any]:
    """Part (a): one stack, one round per worker count."""
    photos = make_photos(n)
    rounds: list[dict[str, Any]] = []
    # the sweep must not re-queue photos that wait for workers on purpose (default: queued > 120 s)
    overrides = {"MEDIA_REQUEUE_AFTER_S": "86400"}
    with FullStack("scale-workers", worker_count=0, env_overrides=overrides) as fs, \
            RssSampler(stack_pids(fs.stack)) as rss:
        user = register_and_login(fs.stack.gateway_url)
        # warm the API path once (the workers of each round boot cold on purpose: separate hosts)
        warm = fs.extra_stack(fs.var_dir / "workers-warm", services=["media-worker"], worker_count=1,
                              separate_worker_dirs=True)
        try:
            warm.start()
            warm_up(user, fs.stack.gateway_url, 1)
        finally:
            warm.stop()
        for count in counts:
            rounds.append(worker_round(fs, user, photos, count, timeout_s))
            r = rounds[-1]
            print(f"  {count} worker(s): wall {r['wall_s']} s, {r['photos_per_s']} photos/s "
                  f"(steady {r['steady_photos_per_s']}/s), ready {r['ready']}, failed {r['failed']}, "
                  f"lost {r['lost']}, processed twice {r['processed_twice']}", flush=True)
        user.client.close()
        api_peaks = merge_peaks(rss.peaks_mb)
    base = next((r for r in rounds if r["workers"] == 1), rounds[0])
    for r in rounds:
        per_photo = r.get("worker_cpu_s_per_photo")
        r["cpu_efficiency"] = (round(base["worker_cpu_s_per_photo"] / per_photo, 2)
                               if per_photo and base.get("worker_cpu_s_per_photo") else None)
        r["speedup"] = round(r["photos_per_s"] / base["photos_per_s"], 2) if base["photos_per_s"] else None
        r["steady_speedup"] = (round(r["steady_photos_per_s"] / base["steady_photos_per_s"], 2)
                               if base["steady_photos_per_s"] else None)
    peaks = merge_peaks(api_peaks, *(r["peak_rss_mb"] for r in rounds))
    return {"photos": n, "size": f"{PHOTO_W}x{PHOTO_H}", "rounds": rounds, "peak_rss_mb": peaks}


# ---------------------------------------------------------------- (b) replicas


def served(url: str) -> int | None:
    """Requests a service instance has answered (its Prometheus counter, without /metrics and /health)."""
    try:
        text = httpx.get(f"{url}/metrics", timeout=3.0).text
    except httpx.HTTPError:
        return None
    total = 0.0
    for line in text.splitlines():
        if line.startswith("http_requests_total{") and 'route="/metrics"' not in line and '/health' not in line \
                and '/ready' not in line:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def served_all(stack: Any, names: tuple[str, ...]) -> dict[str, int | None]:
    """`served()` of every replica of some services, keyed `shows-1`, `shows-2` ..."""
    return {f"{n}-{i + 1}": served(stack.url(n, i)) for n in names for i in range(len(stack.replica_ports[n]))}


async def mixed_load(base_url: str, token: str, concurrency: int, duration_s: float,
                     events: list[tuple[float, str, Any]], stack: Any) -> dict[str, Any]:
    """Alternate two GETs at `concurrency` while the kill/restart plan runs on the side.

    The load lasts `duration_s`, or longer when restarts are slow: until the plan is done plus a tail of
    max(4 s, 20 % of the duration), so the figures after the last restart are always measured.
    """
    import aiohttp

    paths = ("/api/shows?limit=20", "/api/auth/me")
    buckets: dict[int, Counter[str]] = defaultdict(Counter)
    errors: list[dict[str, Any]] = []
    latencies: list[float] = []
    marks: dict[str, float] = {}
    counts_at: dict[str, dict[str, int | None]] = {}
    stop = asyncio.Event()
    names = ("shows", "auth")
    t0 = time.monotonic()

    async def client(k: int) -> None:
        i = k
        while not stop.is_set():
            path = paths[i % 2]
            i += 1
            t = time.monotonic()
            try:
                async with session.get(path) as resp:
                    await resp.read()
                    outcome = str(resp.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                outcome = type(exc).__name__
            done = time.monotonic()
            latencies.append((done - t) * 1000)
            buckets[int(done - t0)][outcome] += 1
            if not outcome.startswith("2"):
                errors.append({"t": round(done - t0, 3), "path": path, "outcome": outcome})

    async def plan() -> None:
        try:
            for at, action, arg in events:
                await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
                counts_at[f"{action} {arg}"] = await asyncio.to_thread(served_all, stack, names)
                marks[f"{action} {arg}"] = round(time.monotonic() - t0, 2)
                if action == "kill":
                    await asyncio.to_thread(stack.kill, arg, signal.SIGKILL, 1)
                else:
                    await asyncio.to_thread(stack.restart, arg)
                    marks[f"{action} {arg} healthy"] = round(time.monotonic() - t0, 2)
            tail = max(4.0, 0.2 * duration_s)
            await asyncio.sleep(max(0.0, max(t0 + duration_s, time.monotonic() + tail) - time.monotonic()))
            counts_at["end"] = await asyncio.to_thread(served_all, stack, names)
        finally:
            marks["end"] = round(time.monotonic() - t0, 2)
            stop.set()

    timeout = aiohttp.ClientTimeout(total=30)
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url, connector=conn, timeout=timeout,
                                     headers={"Authorization": f"Bearer {token}"}) as session:
        counts_at["start"] = await asyncio.to_thread(served_all, stack, names)
        await asyncio.gather(plan(), *(client(k) for k in range(concurrency)))
    return {"buckets": {t: dict(c) for t, c in sorted(buckets.items())}, "error_list": errors, "marks": marks,
            "served_by_replica": counts_at, "latencies_ms": latencies}


def window_rps(buckets: dict[int, dict[str, int]], start: float, end: float) -> float:
    """Mean successful requests/s over the whole 1-second buckets in [start, end)."""
    secs = [t for t in buckets if start <= t and t + 1 <= end]
    if not secs:
        return 0.0
    return round(sum(sum(v for k, v in buckets[t].items() if k.startswith("2")) for t in secs) / len(secs), 1)


def run_replicas(duration_s: float, concurrency: int, shows: int) -> dict[str, Any]:
    """Part (b): two replicas of every API service; kill one shows and one auth instance under load."""
    replicas = {"auth": 2, "shows": 2, "media": 2, "social": 2}
    with FullStack("scale-replicas", worker_count=0, replicas=replicas) as fs, \
            RssSampler(stack_pids(fs.stack)) as rss:
        stack = fs.stack
        user = register_and_login(stack.gateway_url)
        for i in range(shows):
            create_show(user, artist_name=f"Replica Band {i}", date=f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}")
        events = [(0.25 * duration_s, "kill", "shows"), (0.45 * duration_s, "restart", "shows"),
                  (0.60 * duration_s, "kill", "auth"), (0.80 * duration_s, "restart", "auth")]
        plan = [(round(t, 1), a, n) for t, a, n in events]
        print(f"  load: {concurrency} clients for {duration_s:.0f} s; plan {plan}", flush=True)
        run = asyncio.run(mixed_load(stack.gateway_url, user.access_token, concurrency, duration_s, events, stack))
        health = {f"{n}-{i + 1}": httpx.get(stack.url(n, i) + "/health", timeout=3).status_code
                  for n, ports in stack.replica_ports.items() for i in range(len(ports))}
        user.client.close()
        peaks = merge_peaks(rss.peaks_mb)
    buckets, marks = run["buckets"], run["marks"]
    end = marks["end"]
    kills: dict[str, Any] = {}
    for svc in ("shows", "auth"):
        k, r = marks.get(f"kill {svc}", 0.0), marks.get(f"restart {svc} healthy", end)
        around = [e for e in run["error_list"] if k - 0.5 <= e["t"] <= k + 5.0]
        kills[svc] = {
            "killed_at_s": k, "restarted_healthy_at_s": r,
            "errors_within_5s": len(around), "error_outcomes": dict(Counter(e["outcome"] for e in around)),
            "rps_5s_before": window_rps(buckets, max(0.0, k - 5), k),
            "rps_while_one_replica": window_rps(buckets, k + 1, r),
            "rps_after_restart": window_rps(buckets, r + 1, end),
        }
    total = sum(sum(c.values()) for c in buckets.values())
    lat = run.pop("latencies_ms")
    return {
        "concurrency": concurrency, "duration_s": end, "replicas": replicas, "shows_seeded": shows,
        "requests": total, "errors": len(run["error_list"]),
        "rps": round(total / end, 1), "p50_ms": round(percentile(lat, 50), 1),
        "p99_ms": round(percentile(lat, 99), 1),
        "kills": kills, **run, "health_after": health, "peak_rss_mb": peaks,
    }


# ---------------------------------------------------------------- main


def main() -> None:
    """Run the parts asked for, print the figures, write bench/results/scale.json."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="workers,replicas", help="comma list: workers, replicas")
    ap.add_argument("--photos", type=int, default=200)
    ap.add_argument("--counts", default="1,2,4", help="worker counts to compare")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of the replica load run")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--shows", type=int, default=40, help="shows seeded for the replica run")
    ap.add_argument("--timeout", type=float, default=600.0, help="deadline per worker round")
    ap.add_argument("--quick", action="store_true", help="40 photos, counts 1,2, a 10 s replica run")
    args = ap.parse_args()
    parts = {p.strip() for p in args.part.split(",") if p.strip()}
    n = 40 if args.quick else args.photos
    counts = [1, 2] if args.quick else [int(c) for c in args.counts.split(",")]
    duration = 10.0 if args.quick else args.duration
    require_services(("gateway", "auth", "shows", "media", "media-worker") if "workers" in parts
                     else ("gateway", "auth", "shows"))
    result: dict[str, Any] = {"conditions": {"cpus": os.cpu_count(), "loadavg_before": os.getloadavg(),
                                             "mode": "full (PostgreSQL, RabbitMQ, moto S3)"}}
    figures: dict[str, Any] = {}
    peaks: list[dict[str, float]] = []
    if "workers" in parts:
        print(f"(a) workers: {n} photos, counts {counts}", flush=True)
        w = run_workers(n, counts, args.timeout)
        result["workers"] = w
        peaks.append({f"workers/{k}": v for k, v in w["peak_rss_mb"].items()})
        for r in w["rounds"]:
            c = r["workers"]
            figures.update({f"workers_{c}_photos_per_s": r["photos_per_s"], f"workers_{c}_speedup": r["speedup"],
                            f"workers_{c}_steady_photos_per_s": r["steady_photos_per_s"],
                            f"workers_{c}_wall_s": r["wall_s"], f"workers_{c}_lost": r["lost"],
                            f"workers_{c}_processed_twice": r["processed_twice"]})
    if "replicas" in parts:
        print(f"(b) replicas: 2 of each API service, concurrency {args.concurrency}, {duration:.0f} s", flush=True)
        rep = run_replicas(duration, args.concurrency, args.shows)
        result["replicas"] = rep
        peaks.append({f"replicas/{k}": v for k, v in rep["peak_rss_mb"].items()})
        figures.update({"replicas_rps": rep["rps"], "replicas_p99_ms": rep["p99_ms"],
                        "replicas_errors_total": rep["errors"]})
        for svc, k in rep["kills"].items():
            figures.update({f"kill_{svc}_errors": k["errors_within_5s"],
                            f"kill_{svc}_rps_before": k["rps_5s_before"],
                            f"kill_{svc}_rps_one_replica": k["rps_while_one_replica"],
                            f"kill_{svc}_rps_after_restart": k["rps_after_restart"]})
    result["conditions"]["loadavg_after"] = os.getloadavg()
    result["figures"] = figures
    # one flat map for run_all's memory table: the same service name in both parts keeps its max
    result["peak_rss_mb"] = merge_peaks(*({k.split("/", 1)[1]: v for k, v in p.items()} for p in peaks))
    path = write_results("scale", result)
    report(result)
    print(f"written {path}")


def report(result: dict[str, Any]) -> None:
    """Print the figures of both parts."""
    if "workers" in result:
        print(f"\n(a) {result['workers']['photos']} photos, 2 MP, workers as separate hosts "
              f"(wall = workers' start -> last ready, includes their boot)")
        print(f"{'workers':>8}{'wall s':>9}{'photos/s':>10}{'speed-up':>10}{'steady/s':>10}{'steady x':>10}"
              f"{'ready':>7}{'failed':>7}{'lost':>6}{'twice':>6}  per worker")
        for r in result["workers"]["rounds"]:
            print(f"{r['workers']:>8}{r['wall_s']:>9}{r['photos_per_s']:>10}{r['speedup']!s:>10}"
                  f"{r['steady_photos_per_s']:>10}{r['steady_speedup']!s:>10}{r['ready']:>7}{r['failed']:>7}"
                  f"{r['lost']:>6}{r['processed_twice']:>6}  {r['succeeded_per_worker']}")
            print(f"{'':>8}worker CPU {r['worker_cpu_s_per_photo']} s/photo (efficiency {r['cpu_efficiency']}x "
                  f"one worker's; boot {r['boot_cpu_s_per_worker']} CPU-s per worker, not counted), "
                  f"queue wait p50 {r['queue_wait_ms_p50']} ms, per photo: "
                  f"{r['db_commits_per_photo']} DB commits, {r['db_rows_written_per_photo']} rows written, "
                  f"{r['events_published_per_photo']} events")
            print(f"{'':>8}queue depth (t s: ready msgs): {depth_line(r['queue_depth'], 30)}")
        print(f"  ({os.cpu_count()} CPUs: past 2 workers the processes share the same cores, so the curve flattens)")
    if "replicas" in result:
        rep = result["replicas"]
        print(f"\n(b) 2 replicas each; {rep['requests']} requests in {rep['duration_s']} s at concurrency "
              f"{rep['concurrency']}: {rep['rps']} rps, p50 {rep['p50_ms']} ms, p99 {rep['p99_ms']} ms, "
              f"{rep['errors']} errors")
        for svc, k in rep["kills"].items():
            print(f"  SIGKILL {svc}-2 at {k['killed_at_s']} s: {k['errors_within_5s']} client errors within 5 s "
                  f"{k['error_outcomes'] or ''}; rps {k['rps_5s_before']} before -> {k['rps_while_one_replica']} "
                  f"on one replica -> {k['rps_after_restart']} after restart "
                  f"(healthy at {k['restarted_healthy_at_s']} s)")
        print(f"  requests served per replica: {rep['served_by_replica']}")
        print(f"  health after: {rep['health_after']}")
    print("  peak RSS MB: " + ", ".join(f"{k} {v:.0f}" for k, v in result["peak_rss_mb"].items()))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # run_all's deadline: the stack was torn down on the way out
        raise SystemExit("interrupted") from None
