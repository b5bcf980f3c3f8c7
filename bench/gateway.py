"""Gateway overhead: the same GET straight to a service, through nginx and through the gateway.

Run: `.venv/bin/python bench/gateway.py [--duration 10] [--connections 32] [--rounds 3]`. Needs `wrk` and `nginx`
(Debian: `apt-get install -y nginx-light wrk`; the script installs them when run as root with apt).
Without wrk it falls back to an asyncio client (aiohttp); without nginx that row is skipped.
Writes bench/results/gateway.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
from _common import NGINX_CONF, cpu_seconds, ensure_tools, load  # bench/ is on sys.path when a benchmark runs
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.auth import TokenSigner
from shared.stack import free_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "gateway.json"
PATH = "/api/shows/ping"

UPSTREAM_APP = textwrap.dedent(
    '''
    import json, os
    from fastapi import FastAPI

    app = FastAPI()
    JWKS = json.loads(open(os.environ["BENCH_JWKS"]).read())

    @app.get("/api/shows/ping")
    async def ping() -> dict:
        return {"id": 1, "artist_name": "Radiohead", "venue_name": "Roundhouse", "date": "2026-11-25"}

    @app.get("/api/auth/.well-known/jwks.json")
    async def jwks() -> dict:
        return JWKS

    @app.get("/internal/sessions/revoked")
    async def revoked() -> dict:
        return {"revocations": [], "cursor": 0}  # auth's catch-up: nothing revoked

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}
    '''
)

def wait_http(url: str, timeout: float = 60.0) -> None:
    """Wait until a URL answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def measure(url: str, headers: dict[str, str], connections: int, duration: int) -> dict[str, Any]:
    """rps, p50 and p99 of one load run (bench/_common.load: wrk, or the aiohttp client without it)."""
    r = load(url, url, headers=headers, connections=connections, duration_s=duration)
    return {"rps": r.rps, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "errors": r.errors, "tool": r.tool}


def main() -> int:
    """Run the three setups and print/save the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="measure every setup this many times, in turn")
    ap.add_argument("--nginx-workers", default="1")
    ap.add_argument("--gateway-workers", default="1")
    ap.add_argument("--gateway-env", action="append", default=[], help="extra KEY=VALUE for the gateway")
    ap.add_argument("--output", default="", help="results file (default bench/results/gateway.json)")
    ap.add_argument("--only", default="", help="comma list of setups to run (direct,nginx,gateway)")
    args = ap.parse_args()

    wrk, nginx = ensure_tools()
    tmp = Path(tempfile.mkdtemp(prefix="bench-gw-"))
    signer = TokenSigner(Ed25519PrivateKey.generate(), "sharemyshows-auth", "sharemyshows")
    (tmp / "jwks.json").write_text(json.dumps(signer.jwks()))
    (tmp / "bench_upstream.py").write_text(UPSTREAM_APP)
    token, _ = signer.access_token(1, "bench")
    headers = {"Authorization": f"Bearer {token}"}

    procs: list[subprocess.Popen[bytes]] = []
    up_port, nginx_port, gw_port = free_port(), free_port(), free_port()
    env = {**os.environ, "BENCH_JWKS": str(tmp / "jwks.json"), "VAR_DIR": str(tmp / "var")}
    try:
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "bench_upstream:app", "--app-dir", str(tmp), "--port", str(up_port),
             "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"],
            env=env))
        wait_http(f"http://127.0.0.1:{up_port}/health")
        if nginx:
            for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
                (tmp / d).mkdir()
            (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, upstream=up_port, port=nginx_port,
                                                              workers=args.nginx_workers))
            procs.append(subprocess.Popen([nginx, "-p", str(tmp), "-c", str(tmp / "nginx.conf")]))
            wait_http(f"http://127.0.0.1:{nginx_port}/health")
        up = f"http://127.0.0.1:{up_port}"
        gw_env = {**env, "PORT": str(gw_port), "HOST": "127.0.0.1", "AUTH_URL": up, "SHOWS_URL": up,
                  "MEDIA_URL": up, "SOCIAL_URL": up, "GATEWAY_WORKERS": args.gateway_workers, "REDIS_URL": "",
                  "GATEWAY_RATE_LIMIT_IP": "100000000", "GATEWAY_RATE_LIMIT_USER": "100000000",
                  **dict(kv.split("=", 1) for kv in args.gateway_env)}
        gw_log = open(tmp / "gateway.log", "wb")  # noqa: SIM115 - closed with the process
        procs.append(subprocess.Popen([sys.executable, "-c", "from gateway.main import main; main()"], env=gw_env,
                                      stdout=gw_log, stderr=subprocess.STDOUT))
        wait_http(f"http://127.0.0.1:{gw_port}/health")
        r = httpx.get(f"http://127.0.0.1:{gw_port}{PATH}", headers=headers)
        assert r.status_code == 200, f"gateway refused the bench token: {r.status_code} {r.text}"
        bad = httpx.get(f"http://127.0.0.1:{gw_port}{PATH}", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401, "token verification is not on"

        targets = {"direct": up_port, **({"nginx": nginx_port} if nginx else {}), "gateway": gw_port}

        owners = {"direct": procs[0].pid, "nginx": procs[1].pid if nginx else 0, "gateway": procs[-1].pid}

        if args.only:
            targets = {k: v for k, v in targets.items() if k in args.only.split(",") or k == "direct"}
        # On a shared machine the load of other jobs drifts within seconds: the setups are measured in
        # turn, `--rounds` times, and each ratio is taken within a round, then the median over rounds.
        rounds: list[dict[str, Any]] = []
        for rnd in range(args.rounds):
            one: dict[str, Any] = {}
            for name, port in targets.items():
                url = f"http://127.0.0.1:{port}{PATH}"
                print(f"round {rnd + 1}/{args.rounds} {name:8s} {url} ...", flush=True)
                load_before = os.getloadavg()[0]
                measure(url, headers, args.connections, args.warmup)
                c0 = cpu_seconds(owners[name])
                one[name] = measure(url, headers, args.connections, args.duration)
                requests = one[name]["rps"] * args.duration
                # CPU per request of the process that answers on that port (upstream, nginx or gateway)
                one[name]["cpu_us_per_request"] = (cpu_seconds(owners[name]) - c0) / requests * 1e6
                one[name]["loadavg_1m_before"] = load_before
            rounds.append(one)
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()

    def med(values: list[float]) -> float:
        return float(statistics.median(values))

    def summarise(r: dict[str, Any]) -> dict[str, Any]:
        """The ratios of one round."""
        d, g = r["direct"], r["gateway"]
        out: dict[str, Any] = {
            "gateway_over_direct_rps": g["rps"] / d["rps"],
            "gateway_added_p50_ms": g["p50_ms"] - d["p50_ms"],
            "gateway_added_p99_ms": g["p99_ms"] - d["p99_ms"],
            "gateway_cpu_us_per_request": g["cpu_us_per_request"],
            "gateway_capacity_rps_per_core": 1e6 / g["cpu_us_per_request"],
        }
        if "nginx" in r:
            n = r["nginx"]
            out |= {
                "nginx_cpu_us_per_request": n["cpu_us_per_request"],
                "nginx_capacity_rps_per_core": 1e6 / n["cpu_us_per_request"],
                "gateway_over_nginx_rps": g["rps"] / n["rps"],
                "gateway_over_nginx_cpu_per_request": g["cpu_us_per_request"] / n["cpu_us_per_request"],
                "nginx_over_direct_rps": n["rps"] / d["rps"],
                "nginx_added_p50_ms": n["p50_ms"] - d["p50_ms"],
                "gateway_added_p50_vs_nginx_ms": g["p50_ms"] - n["p50_ms"],
            }
        return out

    per_round = [summarise(r) for r in rounds]
    summary = {k: med([s[k] for s in per_round]) for k in per_round[0]}
    results = {name: {k: (med([r[name][k] for r in rounds]) if isinstance(rounds[0][name][k], (int, float))
                          else rounds[0][name][k]) for k in rounds[0][name]} for name in rounds[0]}
    print()
    print(f"{'setup':8s} {'req/s':>10s} {'p50 ms':>8s} {'p99 ms':>8s} {'errors':>8s} {'cpu us/req':>11s}"
          f" {'load':>6s}   (median of {len(rounds)} rounds)")
    for name, res in results.items():
        print(f"{name:8s} {res['rps']:10.0f} {res['p50_ms']:8.2f} {res['p99_ms']:8.2f} {res['errors']:8.0f}"
              f" {res['cpu_us_per_request']:11.1f} {res['loadavg_1m_before']:6.2f}")
    print("(cpu us/req: CPU time of the process answering on that port per request; load: 1-min load average"
          " before the run, other work on this machine included)")
    print()
    for k, v in summary.items():
        print(f"{k:36s} {v:9.3f}   rounds: {' '.join(f'{s[k]:.3f}' for s in per_round)}")
    ok_rps = summary.get("gateway_over_nginx_rps", summary["gateway_over_direct_rps"]) >= 0.85
    ok_cpu = summary["gateway_cpu_us_per_request"] <= 50
    ok_p50 = summary["gateway_added_p50_ms"] <= 0.5
    print(f"\ntarget >= 0.85 x nginx throughput: {'met' if ok_rps else 'MISSED'}; "
          f"CPU <= 50 us per request: {'met' if ok_cpu else 'MISSED'}; "
          f"added p50 <= 0.5 ms: {'met' if ok_p50 else 'MISSED'}")
    out = Path(args.output).resolve() if args.output else RESULTS
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "benchmark": "gateway",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "request": f"GET {PATH} with a Bearer token (verified by the gateway)",
        "load": {"tool": "wrk" if wrk else "asyncio", "connections": args.connections, "threads": args.threads,
                 "duration_s": args.duration, "rounds": args.rounds},
        "workers": {"nginx": args.nginx_workers, "gateway": args.gateway_workers, "upstream": 1},
        "cpus": os.cpu_count(),
        "results": results,
        "summary": summary,
        "rounds": rounds,
        "per_round_summary": per_round,
        "targets_met": {"rps_ge_85pct_nginx": ok_rps, "cpu_le_50us": ok_cpu, "added_p50_le_0_5ms": ok_p50},
    }, indent=2))
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
