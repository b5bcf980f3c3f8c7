"""Revocation latency: how soon after a session ends does every process refuse its access token?

Run: `.venv/bin/python bench/revocation.py [--tries 20] [--redis]`. Starts the real system in full mode
(fresh PostgreSQL databases, a RabbitMQ vhost, S3; with `--redis` the push goes over Redis pub/sub on
127.0.0.1:6379 instead of RabbitMQ) and, for each revocation path (logout, password change, password
reset, account deletion, sign out everywhere), `--tries` times: signs a fresh user in, checks the token
is accepted by the gateway and by auth, shows, media and social directly, revokes the session through
the gateway and polls all five until each answers 401. A try's figure is the time from the revoking
request's answer to the last process refusing. "socket close" times a listening chat socket (through
the gateway) from the logout's answer to its 4401 close. The baseline, measured in the same run, is one
signed-in GET through the gateway: the floor any propagation sits on. Writes bench/results/revocation.json.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from typing import Any

from _common import FullStack, percentile, prefer_installed_packages, write_results

prefer_installed_packages()

from shared.testing.plugin import register_and_login  # noqa: E402
from shared.testing.revocation import (  # noqa: E402
    PATHS,
    accepted_everywhere,
    concert_pair,
    refusal_latency,
    revoke,
    socket_close,
)


def stats(values: list[float]) -> dict[str, float]:
    """p50 / max / mean in milliseconds."""
    ms = [v * 1000 for v in values]
    return {"p50_ms": round(percentile(ms, 50), 1), "max_ms": round(max(ms), 1),
            "mean_ms": round(statistics.mean(ms), 1), "n": len(ms)}


def main() -> int:
    """Measure every path and print/save the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tries", type=int, default=20)
    ap.add_argument("--redis", action="store_true", help="push over Redis (REDIS_URL) instead of RabbitMQ")
    args = ap.parse_args()
    overrides = {"REDIS_URL": "redis://127.0.0.1:6379/3" if args.redis else "",
                 # one IP signs up ~6 × tries users: auth's per-IP limits would measure themselves
                 "AUTH_REGISTER_LIMIT_PER_IP": "100000", "AUTH_LOGIN_LIMIT_PER_IP": "100000",
                 "AUTH_FORGOT_LIMIT_PER_IP": "100000", "AUTH_CONFIRM_LIMIT_PER_IP": "100000"}
    results: dict[str, Any] = {"push": "redis" if args.redis else "rabbitmq", "tries": args.tries, "paths": {}}
    with FullStack("revocation", env_overrides=overrides) as fs:
        stack = fs.stack
        probe = register_and_login(stack.gateway_url)
        baseline: list[float] = []
        for _ in range(args.tries):
            t = time.monotonic()
            assert probe.client.get("/api/shows").status_code == 200
            baseline.append(time.monotonic() - t)
        results["baseline_signed_in_get"] = stats(baseline)
        for path in PATHS:
            worst: list[float] = []
            per_process: dict[str, list[float]] = {}
            for _ in range(args.tries):
                user = register_and_login(stack.gateway_url)
                accepted_everywhere(stack, user.access_token)
                clock = revoke(stack, user, path)
                seen = refusal_latency(stack, user.access_token, clock, timeout_s=60)
                worst.append(max(seen.values()))
                for name, value in seen.items():
                    per_process.setdefault(name, []).append(value)
                user.client.close()
            results["paths"][path] = {**stats(worst), "per_process_p50_ms": {
                k: round(percentile([x * 1000 for x in v], 50), 1) for k, v in sorted(per_process.items())}}
            print(f"{path:22s} {results['paths'][path]}", flush=True)
        closes: list[float] = []
        for _ in range(args.tries):
            user, show = concert_pair(stack.gateway_url)
            code, _, took = asyncio.run(socket_close(stack.gateway_url, show["id"], user.access_token,
                                                     lambda u=user: u.client.post("/api/auth/logout")))
            assert code == 4401, code
            closes.append(took)
            user.client.close()
        results["paths"]["socket_close"] = stats(closes)
        print(f"{'socket_close':22s} {results['paths']['socket_close']}", flush=True)
    print()
    print(f"{'path':22s} {'p50 ms':>8s} {'max ms':>8s}")
    print(f"{'baseline (GET)':22s} {results['baseline_signed_in_get']['p50_ms']:8.1f} "
          f"{results['baseline_signed_in_get']['max_ms']:8.1f}")
    for name, fig in results["paths"].items():
        print(f"{name:22s} {fig['p50_ms']:8.1f} {fig['max_ms']:8.1f}")
    met = all(fig["max_ms"] < 5000 for fig in results["paths"].values())
    results["target_refused_everywhere_within_5s"] = met
    print(f"\ntarget: every path refused everywhere within 5 s: {'met' if met else 'MISSED'}")
    print(f"written {write_results('revocation', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
