"""Helpers every benchmark uses: a load generator, an RSS sampler, percentiles and the results file."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from shared.testing.rss import RssSampler  # noqa: F401 - re-exported for the benchmarks

RESULTS = Path(__file__).resolve().parent / "results"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values: list[float]) -> dict[str, float]:
    """Median, p90, p99, min, max of a sample."""
    return {
        "n": len(values),
        "median": statistics.median(values) if values else float("nan"),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "min": min(values) if values else float("nan"),
        "max": max(values) if values else float("nan"),
    }


@dataclass
class LoadResult:
    """Throughput and latency of one load run."""

    label: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    tool: str
    extra: dict[str, Any] = field(default_factory=dict)


# wrk prints "50%", wrk2 prints "50.000%"
_WRK_LAT = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)


def _to_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(label: str, url: str, *, headers: dict[str, str] | None = None, connections: int = 32,
        threads: int = 2, duration_s: int = 10) -> LoadResult:
    """Drive `url` with wrk (Debian package `wrk`) and parse rps and latency percentiles."""
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", "--latency"]
    for k, v in (headers or {}).items():
        args += ["-H", f"{k}: {v}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, timeout=duration_s + 60).stdout
    lat = {q: _to_ms(v, u) for q, v, u in _WRK_LAT.findall(out)}
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors += sum(int(x) for x in sock.groups())
    return LoadResult(label, rps, lat.get("50", float("nan")), lat.get("99", float("nan")), total, errors, "wrk")


async def _aio_load(url: str, headers: dict[str, str], connections: int, duration_s: float) -> tuple[list[float], int]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration_s
    conn = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=conn, headers=headers) as session:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    async with session.get(url) as resp:
                        await resp.read()
                        if resp.status >= 400:
                            errors += 1
                except aiohttp.ClientError:
                    errors += 1
                latencies.append((time.perf_counter() - t0) * 1000)

        await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies, errors


def load(label: str, url: str, *, headers: dict[str, str] | None = None, connections: int = 32,
         duration_s: int = 10) -> LoadResult:
    """wrk when installed (it costs the machine least), else an asyncio client."""
    if shutil.which("wrk"):
        return wrk(label, url, headers=headers, connections=connections, duration_s=duration_s)
    lat, errors = asyncio.run(_aio_load(url, headers or {}, connections, duration_s))
    return LoadResult(label, len(lat) / duration_s, percentile(lat, 50), percentile(lat, 99), len(lat), errors,
                      "aiohttp")


def write_results(name: str, data: dict[str, Any]) -> Path:
    """Write bench/results/<name>.json (with the machine and time) and return its path."""
    RESULTS.mkdir(exist_ok=True)
    payload = {
        "benchmark": name,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        **data,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=lambda o: asdict(o) if hasattr(o, "__dataclass_fields__")
                               else str(o)))
    return path


def table(rows: Iterable[LoadResult]) -> str:
    """A plain-text table of load results."""
    lines = [f"{'':<28}{'rps':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}"]
    for r in rows:
        lines.append(f"{r.label:<28}{r.rps:>10.0f}{r.p50_ms:>10.2f}{r.p99_ms:>10.2f}{r.errors:>8}")
    return "\n".join(lines)


_SCRATCH: set[Path] = set()


def scratch_dir(prefix: str) -> Path:
    """A temporary folder for a benchmark's state, removed when the script exits unless `keep_scratch` kept it
    (a failed run's logs) or BENCH_KEEP=1 keeps every one (each mix run left ~30 MB in /tmp before)."""
    path = Path(tempfile.mkdtemp(prefix=f"sms-bench-{prefix}-"))
    if not os.environ.get("BENCH_KEEP"):
        _SCRATCH.add(path)
    return path


def keep_scratch(path: Path) -> None:
    """Keep a scratch folder (and what is under it) after the script exits."""
    for kept in [p for p in _SCRATCH if p == path or p in path.parents]:
        _SCRATCH.discard(kept)


@atexit.register
def _remove_scratch() -> None:
    for path in _SCRATCH:
        shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- full-mode stacks (pipeline, scale, ...)

SKIPPED_EXIT = 3  # a benchmark exits with this when a prerequisite (server, tool, service) is missing


def prefer_installed_packages() -> None:
    """Move bench/ behind site-packages on sys.path.

    bench/gateway.py and bench/shows.py would otherwise shadow the service packages of the same name
    (also for `shared.stack`, which probes `shows.main` with find_spec); `import _common` keeps working.
    """
    import sys

    here = str(Path(__file__).resolve().parent)
    kept = [p for p in sys.path if str(Path(p or ".").resolve()) != here]
    sys.path[:] = [*kept, here]


def skip(message: str) -> None:
    """Print why a benchmark cannot run here and exit with SKIPPED_EXIT (run_all reports it as skipped)."""
    import sys

    print(f"SKIPPED: {message}", flush=True)
    sys.exit(SKIPPED_EXIT)


def bench_env(full: dict[str, str], **overrides: str) -> dict[str, str]:
    """This shell's environment with the full-mode servers, benchmark-friendly limits and `overrides`."""
    import secrets

    env = {k: v for k, v in os.environ.items()
           if not (k.endswith("_DATABASE_URL") or k in ("DATABASE_URL", "BROKER_URL", "VAR_DIR"))}
    env.update(full)
    env.update({
        "ENV": "testing",
        "INTERNAL_TOKEN": secrets.token_urlsafe(24),
        "LOG_LEVEL": "INFO",
        # one client IP and one user drive all the load: rate limits would measure themselves
        "GATEWAY_RATE_LIMIT_IP": "10000000",
        "GATEWAY_RATE_LIMIT_USER": "10000000",
        "GATEWAY_RATE_LIMIT_IP_PER_MIN": "10000000",
        "GATEWAY_RATE_LIMIT_USER_PER_MIN": "10000000",
        "MEDIA_UPLOAD_RATE_LIMIT": "0",
        "MEDIA_USER_QUOTA_BYTES": str(2**40),
        "GATEWAY_ACCESS_LOG": "false",
        **overrides,
    })
    return env


class FullStack:
    """`with FullStack("pipeline", worker_count=2) as fs:` fresh PostgreSQL/RabbitMQ/S3 + the real services.

    Always tears down (stack.stop(), env.destroy()); the state folder is removed unless the run failed
    (then its logs are kept and their path printed).
    """

    def __init__(self, name: str, *, env_overrides: dict[str, str] | None = None, start_timeout_s: float = 180.0,
                 **stack_kwargs: Any) -> None:
        self.name = name
        self.env_overrides = env_overrides or {}
        self.start_timeout_s = start_timeout_s
        self.stack_kwargs = stack_kwargs
        self.var_dir = scratch_dir(name)
        self.infra: Any = None
        self.stack: Any = None
        self.env: dict[str, str] = {}

    def __enter__(self) -> FullStack:
        from shared.stack import Stack, free_port
        from shared.testing.infra import FullModeEnv, ServerMissing

        self.infra = FullModeEnv()
        try:
            self.env = bench_env(self.infra.create(), **self.env_overrides)
        except ServerMissing as exc:
            self.infra.destroy()
            skip(str(exc))
        ports = {n: free_port() for n in ("gateway", "auth", "shows", "media", "social")}
        self.env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{ports['gateway']}"
        self.stack = Stack(self.var_dir, env=self.env, ports=ports, quiet=True, **self.stack_kwargs)
        try:
            self.stack.start(timeout_s=self.start_timeout_s)
        except BaseException:
            self.__exit__(RuntimeError, None, None)
            raise
        return self

    @property
    def vhost(self) -> str:
        """The RabbitMQ vhost of this run."""
        return str(self.infra.vhost)

    def extra_stack(self, var_dir: Path, **stack_kwargs: Any) -> Any:
        """Another Stack (e.g. worker "hosts") on the same servers, reaching this stack's services."""
        from shared.stack import Stack

        env = dict(self.env)
        for svc in ("auth", "shows", "media", "social"):
            if svc in self.stack.replica_ports:
                env[f"{svc.upper()}_URL"] = self.stack.urls(svc)
        return Stack(var_dir, env=env, quiet=True, **stack_kwargs)

    def __exit__(self, exc_type: object, *_: object) -> None:
        if self.stack is not None:
            self.stack.stop()
        if self.infra is not None:
            self.infra.destroy()
        if exc_type is None and not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(self.var_dir, ignore_errors=True)
        else:
            keep_scratch(self.var_dir)
            print(f"logs kept in {self.var_dir / 'log'}", flush=True)


def stack_pids(*stacks: Any) -> dict[str, int]:
    """`{process name: pid}` of every running process of some Stacks (`shows-2`, `media-worker-1` ...)."""
    pids: dict[str, int] = {}
    for stack in stacks:
        for proc in stack.procs:
            many = len(stack.find(proc.spec.name)) > 1 or proc.spec.port is None
            name = f"{proc.spec.name}-{proc.index + 1}" if many else proc.spec.name
            if proc.popen.poll() is None:
                pids[name] = proc.popen.pid
    return pids


def merge_peaks(*peaks: dict[str, float]) -> dict[str, float]:
    """Max per process name over several `RssSampler.peaks_mb` (rounded to 0.1 MB)."""
    out: dict[str, float] = {}
    for p in peaks:
        for name, mb in p.items():
            out[name] = round(max(out.get(name, 0.0), mb), 1)
    return out


class QueueSampler:
    """Queue depth over time for one RabbitMQ vhost, in the background.

    Every `interval_s` a passive queue.declare over AMQP gives the ready messages and consumers of each
    queue (cheap); every `ctl_interval_s` `rabbitmqctl list_queues` adds messages_unacknowledged and finds
    new queues. rabbitmqctl starts an Erlang VM (~0.5 CPU-s per call), so calling it every second would
    take a quarter of a core away from what a 2-core machine is measuring.
    """

    def __init__(self, vhost: str, amqp_url: str, interval_s: float = 1.0, ctl_interval_s: float = 5.0) -> None:
        self.vhost, self.amqp_url = vhost, amqp_url
        self.interval_s, self.ctl_interval_s = interval_s, ctl_interval_s
        self.samples: list[dict[str, Any]] = []
        self.queues: set[str] = set()
        self.has_ctl = shutil.which("rabbitmqctl") is not None
        if not self.has_ctl:
            print("note: rabbitmqctl not found: queue depth without messages_unacknowledged", flush=True)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.monotonic()

    def list_queues(self) -> dict[str, dict[str, int]]:
        """`{queue: {messages, ready, unacked, consumers}}` from rabbitmqctl ({} when it fails)."""
        try:
            out = subprocess.run(
                ["rabbitmqctl", "list_queues", "-p", self.vhost, "name", "messages", "messages_ready",
                 "messages_unacknowledged", "consumers", "--no-table-headers", "-q"],
                capture_output=True, text=True, timeout=30,
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            return {}
        rows: dict[str, dict[str, int]] = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 5 and all(p.isdigit() for p in parts[1:]):
                rows[parts[0]] = dict(zip(("messages", "ready", "unacked", "consumers"), map(int, parts[1:]),
                                          strict=True))
        return rows

    def _run(self) -> None:
        import kombu

        conn = kombu.Connection(self.amqp_url, connect_timeout=5)
        channel: Any = None
        skipped: set[str] = set()
        last_ctl = -1e9
        while not self._stop.is_set():
            now = time.monotonic()
            sample: dict[str, Any] = {"t": round(now - self._t0, 2), "queues": {}, "source": "amqp"}
            if self.has_ctl and now - last_ctl >= self.ctl_interval_s:
                last_ctl = now
                rows = self.list_queues()
                # follow only queues in use (Celery also declares ~28 empty `celery_delayed_*` queues)
                self.queues.update(q for q, r in rows.items() if any(r.values()))
                sample.update(queues={q: r for q, r in rows.items() if any(r.values())}, source="rabbitmqctl")
            else:
                for q in sorted(self.queues - skipped):
                    try:
                        channel = channel or conn.channel()
                        _, ready, consumers = channel.queue_declare(queue=q, passive=True)
                        sample["queues"][q] = {"ready": ready, "consumers": consumers}
                    except Exception:  # gone, or exclusive to another connection (chat, pidbox): stop asking
                        skipped.add(q)
                        channel = None
                        if not conn.connected:
                            with contextlib.suppress(Exception):
                                conn.release()
                            conn = kombu.Connection(self.amqp_url, connect_timeout=5)
            sample["ready_total"] = sum(v.get("ready", 0) for v in sample["queues"].values())
            self.samples.append(sample)
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - now)))
        with contextlib.suppress(Exception):
            conn.release()

    def __enter__(self) -> QueueSampler:
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(35)

    def peak_ready(self) -> int:
        """Largest number of ready messages seen across all queues."""
        return max((s["ready_total"] for s in self.samples), default=0)


NGINX_CONF = """
worker_processes {workers};
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream app {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;  # uploads stream through, as through the gateway
        proxy_request_buffering off;
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
    }}
}}
"""


def ensure_tools() -> tuple[str | None, str | None]:
    """Paths of wrk and nginx, installing them with apt-get when possible."""
    wrk, nginx = shutil.which("wrk"), shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                                                 else None)
    if (wrk is None or nginx is None) and shutil.which("apt-get") and os.geteuid() == 0:
        print("installing nginx-light and wrk with apt-get ...", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "nginx-light", "wrk"], check=False)
        wrk, nginx = shutil.which("wrk"), shutil.which("nginx") or (
            "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if wrk is None:
        print("wrk not found (apt-get install -y wrk): using the asyncio client instead", flush=True)
    if nginx is None:
        print("nginx not found (apt-get install -y nginx-light): skipping the nginx row", flush=True)
    return wrk, nginx


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children (uvicorn or nginx workers); 0 if gone."""
    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for q in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += sum(q.cpu_times()[:2])
    return total


def postgres_cpu_seconds() -> float:
    """CPU seconds of every PostgreSQL process on this machine (backends come and go; this sums the living)."""
    total = 0.0
    for q in psutil.process_iter(["name"]):
        if (q.info.get("name") or "").startswith("postgres"):
            with contextlib.suppress(psutil.NoSuchProcess):
                total += sum(q.cpu_times()[:2])
    return total


def start_shows_alone(work: Path, shows_db_url: str, jwks: dict[str, Any]) -> tuple[subprocess.Popen[bytes], Any]:
    """The shows service alone on `shows_db_url`, its peers (auth's JWKS, media, social) answered by
    `bench/shows.py --serve stub`; returns (stub, stack) for `stop_shows_alone`. Nothing is left if it fails."""
    import httpx

    from shared.stack import Stack, free_port

    here = Path(__file__).resolve().parent
    jwks_file = work / "jwks.json"
    jwks_file.write_text(json.dumps(jwks))
    stub_port = free_port()
    stub_url = f"http://127.0.0.1:{stub_port}"
    env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL")}
    env.update({"BENCH_JWKS_FILE": str(jwks_file), "SHOWS_DATABASE_URL": shows_db_url, "MEDIA_URL": stub_url,
                "SOCIAL_URL": stub_url, "AUTH_URL": stub_url, "JWKS_URL": f"{stub_url}/jwks.json",
                "ENV": "testing", "LOG_LEVEL": "WARNING", "BUS_CONSUMER_ENABLED": "false",
                "BUS_RELAY_ENABLED": "false", "SHOWS_CATALOG_SWEEP_ENABLED": "false"})
    with (work / "stub.log").open("ab") as log:
        stub = subprocess.Popen([sys.executable, str(here / "shows.py"), "--serve", "stub", "--port", str(stub_port)],
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    stack = Stack(work / "stack", env=env, ports={"shows": free_port()}, services=["shows"], quiet=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{stub_url}/health", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        stack.start(timeout_s=120)
    except BaseException:
        stop_shows_alone(stub, stack)
        raise
    return stub, stack


def stop_shows_alone(stub: subprocess.Popen[bytes] | None, stack: Any) -> None:
    """Stop what `start_shows_alone` started."""
    if stack is not None:
        stack.stop()
    if stub is not None:
        stub.terminate()
        stub.wait(10)
