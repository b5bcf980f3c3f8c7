"""Run every benchmark, then print one table with every figure and the peak RSS of every process seen.

Run: `.venv/bin/python bench/run_all.py [--only pipeline,scale] [--quick] [--timeout 2400] [--summary-only]`
(`make bench` calls this). Runs each `bench/*.py` except `_*.py` and itself: micro-benchmarks first, then the
single-service ones, then the full-stack ones (`ORDER`; files not listed there run last, alphabetically).
A benchmark that exits 3 was skipped (a server, tool or service is missing; it says which). Each one runs with
a deadline; at the deadline it gets SIGINT (so its try/finally tears its stack down), then its process tree
is killed by pid. Then every `bench/results/*.json` is read: the `figures` map of a result when it has one,
otherwise every numeric leaf; results not rewritten by this run are marked `(old)`. `peak_rss_mb` maps found
anywhere in a result are merged (max per process name). Everything is written to bench/results/summary.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from _common import RESULTS, SKIPPED_EXIT

HERE = Path(__file__).resolve().parent
ORDER = ["thumbnails", "gateway", "shows", "stats", "chat", "media_upload", "video", "pipeline", "scale"]
# smaller runs for `--quick`; an option is passed only if the script's source defines it
QUICK_ARGS: dict[str, list[str]] = {
    "thumbnails": ["--runs", "3"],
    "gateway": ["--duration", "3", "--warmup", "1", "--rounds", "1"],
    "shows": ["--duration", "3", "--shows", "2000", "--users", "20"],
    "stats": ["--requests", "100", "--writes", "20"],
    "chat": ["--clients", "50", "--messages", "5", "--burst", "10"],
    "media_upload": ["--size-mb", "100"],
    "video": ["--seconds", "10"],
    "revocation": ["--tries", "3"],
    "consumer": ["--events", "300", "--rounds", "1"],
}
META_KEYS = {"benchmark", "at", "when", "cpus", "machine", "versions", "conditions", "params", "settings", "input",
             "load", "setup", "figures", "peak_rss_mb", "queue_depth", "buckets", "error_list", "served_by_replica"}


def discover(only: set[str]) -> list[Path]:
    """The benchmark scripts to run, in ORDER, then the others alphabetically."""
    me = Path(__file__).name
    scripts = {p.stem: p for p in HERE.glob("*.py") if not p.name.startswith("_") and p.name != me}
    names = [n for n in ORDER if n in scripts] + sorted(set(scripts) - set(ORDER))
    if only:
        unknown = only - set(scripts)
        if unknown:
            sys.exit(f"unknown benchmark(s): {', '.join(sorted(unknown))} (have: {', '.join(names)})")
        names = [n for n in names if n in only]
    return [scripts[n] for n in names]


def quick_args(script: Path) -> list[str]:
    """The smoke-run arguments this script understands."""
    source = script.read_text()
    if '"--quick"' in source:
        return ["--quick"]
    wanted = QUICK_ARGS.get(script.stem, [])
    out: list[str] = []
    for flag, value in zip(wanted[::2], wanted[1::2], strict=True):
        if f'"{flag}"' in source:
            out += [flag, value]
    return out


def _kill_tree(pid: int, grace_s: float) -> None:
    """SIGINT the benchmark (its finally blocks stop its stack), then SIGKILL what is left of its tree by pid."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)
    _, alive = psutil.wait_procs([root], timeout=grace_s)
    for proc in [*alive, *tree[1:]]:
        with contextlib.suppress(psutil.Error):
            if proc.is_running():
                proc.kill()


def run_one(script: Path, args: list[str], timeout_s: float, log_dir: Path) -> dict[str, Any]:
    """Run one benchmark with a deadline, echoing and logging its output; returns its outcome."""
    log_path = log_dir / f"{script.stem}.log"
    cmd = [sys.executable, str(script), *args]
    print(f"\n== {script.name} {' '.join(args)}".rstrip(), flush=True)
    t0 = time.monotonic()
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                cwd=str(HERE.parent), bufsize=1)

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                sys.stdout.write(line)
                sys.stdout.flush()
                log.write(line)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        timed_out = False
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            print(f"!! {script.name}: deadline of {timeout_s:.0f} s reached; stopping it", flush=True)
            _kill_tree(proc.pid, grace_s=90)
            proc.wait(30)
        except KeyboardInterrupt:
            _kill_tree(proc.pid, grace_s=90)
            raise
        reader.join(10)
    code = proc.returncode
    status = "timeout" if timed_out else "ok" if code == 0 else "skipped" if code == SKIPPED_EXIT else "failed"
    reason = ""
    if status in ("skipped", "failed"):
        tail = [ln for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
        reason = next((ln for ln in reversed(tail) if ln.startswith("SKIPPED:")), tail[-1] if tail else "")
    return {"status": status, "exit_code": code, "seconds": round(time.monotonic() - t0, 1),
            "args": args, "log": str(log_path), "reason": reason[:300]}


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Numeric and boolean leaves of a result as `a.b.c -> value` (lists longer than 12 are time series: skipped)."""
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            if (not prefix and key in META_KEYS) or key in ("queue_depth", "buckets", "error_list", "peak_rss_mb"):
                continue
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(data, list) and len(data) <= 12:
        for i, value in enumerate(data):
            label = value.get("label") or value.get("name") if isinstance(value, dict) else None
            if isinstance(value, dict) and "workers" in value and label is None:
                label = f"workers={value['workers']}"
            out.update(flatten(value, f"{prefix}[{label or i}]"))
    elif isinstance(data, bool | int | float):
        out[prefix] = data
    return out


def find_rss(data: Any) -> list[dict[str, float]]:
    """Every `peak_rss_mb` map (process name -> MB) anywhere in a result."""
    found: list[dict[str, float]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "peak_rss_mb" and isinstance(value, dict):
                found.append({k: float(v) for k, v in value.items() if isinstance(v, int | float)})
            else:
                found.extend(find_rss(value))
    elif isinstance(data, list):
        for value in data:
            found.extend(find_rss(value))
    return found


def fmt(value: Any) -> str:
    """A figure for the table: ints as they are, floats with sensible precision."""
    if isinstance(value, int):  # bool too
        return str(value)
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        return f"{value:.3g}" if abs(value) < 10 else f"{value:,.1f}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def summarize(started: float, runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Collect every results file into one summary (figures per benchmark, merged peak RSS)."""
    benchmarks: dict[str, Any] = {}
    memory: dict[str, dict[str, Any]] = {}
    for path in sorted(RESULTS.glob("*.json")):
        if path.name == "summary.json":
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            benchmarks[path.stem] = {"error": f"unreadable: {exc}"}
            continue
        fresh = path.stat().st_mtime >= started
        figures = data.get("figures") if isinstance(data.get("figures"), dict) else flatten(data)
        benchmarks[path.stem] = {"fresh": fresh, "at": data.get("at") or data.get("when"), "figures": figures}
        for peaks in find_rss(data):
            for name, mb in peaks.items():
                if mb > memory.get(name, {}).get("peak_rss_mb", -1):
                    memory[name] = {"peak_rss_mb": round(mb, 1), "benchmark": path.stem, "fresh": fresh}
    return {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)), "cpus": os.cpu_count(),
            "runs": runs, "benchmarks": benchmarks, "peak_rss_mb": memory}


def print_summary(summary: dict[str, Any]) -> None:
    """One table with every figure, then the runs' outcomes and the memory table."""
    print("\n" + "=" * 100 + "\nSUMMARY (bench/results/summary.json)\n" + "=" * 100)
    width = max([len(k) for b in summary["benchmarks"].values() for k in b.get("figures", {})] + [20])
    width = min(width, 70)
    print(f"{'benchmark':<14}{'figure':<{width + 2}}{'value':>14}")
    for name, bench in summary["benchmarks"].items():
        old = "" if bench.get("fresh") else "  (old)"
        if "error" in bench:
            print(f"{name:<14}{bench['error']}")
        for key, value in bench.get("figures", {}).items():
            label = key if len(key) <= width else "…" + key[-(width - 1):]
            print(f"{name:<14}{label:<{width + 2}}{fmt(value):>14}{old}")
    if summary["runs"]:
        print(f"\n{'run':<14}{'status':<10}{'seconds':>9}  note")
        for name, run in summary["runs"].items():
            print(f"{name:<14}{run['status']:<10}{run['seconds']:>9}  {run['reason']}")
    if summary["peak_rss_mb"]:
        print(f"\n{'process':<36}{'peak RSS MB':>12}  benchmark")
        for proc, row in sorted(summary["peak_rss_mb"].items(), key=lambda kv: -kv[1]["peak_rss_mb"]):
            print(f"{proc:<36}{row['peak_rss_mb']:>12.1f}  {row['benchmark']}{'' if row['fresh'] else ' (old)'}")


def main() -> None:
    """Run the benchmarks asked for, summarize, exit non-zero if one failed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma list of benchmark names (file stems), e.g. pipeline,scale")
    ap.add_argument("--quick", action="store_true", help="smoke run: smaller N and shorter durations")
    ap.add_argument("--timeout", type=float, default=0.0, help="deadline per benchmark in s (default 2400, quick 600)")
    ap.add_argument("--summary-only", action="store_true", help="only collect bench/results/*.json")
    args = ap.parse_args()
    only = {n.strip().removesuffix(".py") for n in args.only.split(",") if n.strip()}
    timeout_s = args.timeout or (600.0 if args.quick else 2400.0)
    started = time.time()
    RESULTS.mkdir(exist_ok=True)
    log_dir = RESULTS / "logs"
    log_dir.mkdir(exist_ok=True)
    runs: dict[str, dict[str, Any]] = {}
    if not args.summary_only:
        for script in discover(only):
            runs[script.stem] = run_one(script, quick_args(script) if args.quick else [], timeout_s, log_dir)
            r = runs[script.stem]
            print(f"-- {script.stem}: {r['status']} in {r['seconds']} s {r['reason']}".rstrip(), flush=True)
    summary = summarize(started if runs else 0.0, runs)
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print_summary(summary)
    bad = [n for n, r in runs.items() if r["status"] in ("failed", "timeout")]
    if bad:
        print(f"\nfailed: {', '.join(bad)}", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
