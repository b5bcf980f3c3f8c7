"""Helpers every benchmark uses: a load generator, an RSS sampler, percentiles and the results file."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

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


_WRK_LAT = re.compile(r"^\s+(50|99)\.000%\s+([\d.]+)(us|ms|s)\s*$", re.M)


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


class RssSampler:
    """Samples the RSS of processes (and their children) in the background; keeps each one's peak."""

    def __init__(self, pids: dict[str, int], interval_s: float = 0.2) -> None:
        self.pids = pids
        self.interval_s = interval_s
        self.peaks_mb: dict[str, float] = dict.fromkeys(pids, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self, pid: int) -> float:
        try:
            proc = psutil.Process(pid)
            procs = [proc, *proc.children(recursive=True)]
            return sum(p.memory_info().rss for p in procs if p.is_running()) / 2**20
        except psutil.Error:
            return 0.0

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pid in self.pids.items():
                self.peaks_mb[name] = max(self.peaks_mb[name], self._rss(pid))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)


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


def scratch_dir(prefix: str) -> Path:
    """A temporary folder for a benchmark's state."""
    return Path(tempfile.mkdtemp(prefix=f"sms-bench-{prefix}-"))
