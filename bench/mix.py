"""Mixed load: 50 simulated users in a closed loop against the whole system, in the embedded or the full mode.

Run: `.venv/bin/python bench/mix.py [--users 50] [--seconds 30] [--full] [--only OPERATION]`.

Embedded (default): the system exactly as `make run` starts it (shared.testing.embedded: SQLite, local
objects, filesystem bus). `--full`: fresh PostgreSQL databases, a RabbitMQ vhost and a moto S3 server, as the
e2e fixtures use them (bench/_common.FullStack). Loopback only.

Every user signs up, logs one show, then loops for `--seconds` without think time, each step one of (weights):
browse the show list (30), a show's detail (25), the dashboard stats (15), log a show (8), add a setlist song
(8), comment on a show (8), upload a small photo (6, 640x480 JPEG). Reported per operation: count, p50/p99
latency, errors (any status >= 400 or transport error, with the status codes); in all: requests/s, and the CPU
time every process of the system spent during the window (services, workers; in full mode PostgreSQL, RabbitMQ
and moto listed apart) per request. Writes bench/results/mix[-full].json.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import random
import re
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
from _common import FullStack, keep_scratch, percentile, prefer_installed_packages, scratch_dir, write_results

prefer_installed_packages()

from shared.testing.embedded import EmbeddedSystem, embedded_env  # noqa: E402
from shared.testing.media import jpeg_bytes  # noqa: E402

WEIGHTS = {"browse": 30, "detail": 25, "dashboard": 15, "create_show": 8, "setlist": 8, "comment": 8, "upload": 6}
LIMITS = {"AUTH_REGISTER_LIMIT_PER_IP": "100000", "AUTH_LOGIN_LIMIT_PER_IP": "100000",
          "AUTH_LOGIN_LIMIT_PER_ACCOUNT": "100000"}
INFRA_NAMES = ("postgres", "beam.smp", "erl_child_setup", "moto_server")
_dates = itertools.count()


def _date() -> str:
    n = next(_dates)
    return f"{2000 + n // 336}-{n // 28 % 12 + 1:02d}-{n % 28 + 1:02d}"


class User:
    """One simulated user: a client with their token and the ids of their shows."""

    def __init__(self, client: httpx.AsyncClient, photo: bytes) -> None:
        self.client = client
        self.photo = photo
        self.shows: list[int] = []
        self.n = 0

    async def create_show(self) -> httpx.Response:
        r = await self.client.post("/api/shows", json={"artist_name": f"Band {random.randint(1, 400)}",
                                                       "venue_name": f"Hall {random.randint(1, 80)}",
                                                       "venue_location": "Berlin, Germany", "date": _date()})
        if r.status_code == 201:
            self.shows.append(int(r.json()["id"]))
        return r

    async def step(self, op: str) -> httpx.Response:
        show = random.choice(self.shows)
        self.n += 1
        if op == "browse":
            return await self.client.get("/api/shows", params={"limit": 20})
        if op == "detail":
            return await self.client.get(f"/api/shows/{show}")
        if op == "dashboard":
            return await self.client.get("/api/dashboard/stats")
        if op == "create_show":
            return await self.create_show()
        if op == "setlist":
            return await self.client.post(f"/api/shows/{show}/setlist", json={"title": f"Song {self.n}"})
        if op == "comment":
            return await self.client.post("/api/comments", json={"show_id": show, "text": f"great night {self.n}"})
        if op == "upload":
            data = self.photo[:2] + b"\xff\xfe\x00\x0a" + self.n.to_bytes(8, "big") + self.photo[2:]
            return await self.client.post("/api/photos", params={"show_id": show},
                                          files={"file": (f"p{self.n}.jpg", data, "image/jpeg")})
        raise ValueError(op)


async def sign_up(base: str, i: int, photo: bytes) -> User:
    client = httpx.AsyncClient(base_url=base, timeout=60.0, limits=httpx.Limits(max_connections=2))
    name = f"mix{i}{random.randint(0, 10**9)}"
    password = f"stage lights {name} encore"
    r = await client.post("/api/auth/register", json={"username": name, "email": f"{name}@example.test",
                                                      "password": password})
    assert r.status_code == 201, r.text
    r = await client.post("/api/auth/login", json={"username": name, "password": password})
    assert r.status_code == 200, r.text
    client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    client.cookies.clear()
    user = User(client, photo)
    r = await user.create_show()
    assert r.status_code == 201, r.text
    return user


def _cpu_s(procs: list[psutil.Process]) -> dict[int, float]:
    out: dict[int, float] = {}
    for p in procs:
        try:
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
        except psutil.Error:
            continue
    return out


def system_processes(root_pids: list[int]) -> tuple[list[psutil.Process], list[psutil.Process]]:
    """(the system's own processes and their children, the servers it uses: PostgreSQL, RabbitMQ, moto)."""
    own: dict[int, psutil.Process] = {}
    for pid in root_pids:
        try:
            p = psutil.Process(pid)
        except psutil.Error:
            continue
        own[pid] = p
        for c in p.children(recursive=True):
            own[c.pid] = c
    infra = [p for p in psutil.process_iter(["name", "cmdline"])
             if p.pid not in own and (p.info["name"] in INFRA_NAMES
                                      or any("moto" in part for part in (p.info["cmdline"] or [])[:3]))]
    return list(own.values()), infra


def _service_of(p: psutil.Process) -> str:
    """The service a process belongs to (`shows.main`, `media.worker` ...) from its or a parent's command line."""
    with contextlib.suppress(psutil.Error):
        for q in [p, *p.parents()]:
            m = re.search(r"child_main\('([\w.]+):", " ".join(q.cmdline()))
            if m:
                return m.group(1).removesuffix(".main")
    return "other"


async def op_profile(people: list[User], roots: list[int], seconds: float, settle_s: float = 3.0,
                     ops: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Each operation alone, all users in a closed loop for `seconds`, then `settle_s` for the work it sets off
    (events, copies, feeds, photo processing): CPU ms per request of that operation, by service."""
    out: dict[str, dict[str, Any]] = {}
    for op in ops or list(WEIGHTS):
        own, _ = system_processes(roots)
        cpu0 = _cpu_s(own)
        deadline = time.monotonic() + seconds
        count = 0

        async def loop(user: User, op: str = op, deadline: float = deadline) -> None:
            nonlocal count
            while time.monotonic() < deadline:
                r = await user.step(op)
                count += r.status_code < 400

        await asyncio.gather(*(loop(u) for u in people))
        await asyncio.sleep(settle_s)
        own_after, _ = system_processes(roots)
        cpu1 = _cpu_s(own_after)
        by: dict[str, float] = collections.defaultdict(float)
        for p in own_after:
            by[_service_of(p)] += cpu1.get(p.pid, 0.0) - cpu0.get(p.pid, 0.0)
        total = sum(by.values())
        out[op] = {"n": count, "rps": round(count / seconds, 1),
                   "cpu_ms_per_request": round(1000 * total / max(1, count), 2),
                   "by_service": {k: round(1000 * v / max(1, count), 2)
                                  for k, v in sorted(by.items(), key=lambda kv: -kv[1]) if v > 0.0005 * count}}
        print(f"  {op:<12} alone: {out[op]['rps']:>7} req/s, {out[op]['cpu_ms_per_request']:>6} ms CPU per request "
              f"(with {settle_s:.0f} s for what it sets off): " + ", ".join(
                  f"{k} {v}" for k, v in out[op]["by_service"].items()), flush=True)
    return out


async def run_load(base: str, users: int, seconds: float, roots: list[int], full: bool,
                   per_op_s: float = 0.0, only: str | None = None) -> dict[str, Any]:
    photo = jpeg_bytes(640, 480, seed=7)
    print(f"signing up {users} users ...", flush=True)
    people: list[User] = []
    for batch in range(0, users, 10):
        people += await asyncio.gather(*(sign_up(base, i, photo) for i in range(batch, min(users, batch + 10))))
    if only is not None:  # one operation alone on a fresh system, for before/after comparisons of one path
        profile = await op_profile(people, roots, seconds, settle_s=2.0, ops=[only])
        for u in people:
            await u.client.aclose()
        return {"mode": "full" if full else "embedded", "users": users, "only": only, **profile[only]}
    ops, weights = list(WEIGHTS), list(WEIGHTS.values())
    lat: dict[str, list[float]] = collections.defaultdict(list)
    errors: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    samples: dict[str, list[str]] = collections.defaultdict(list)
    own, infra = system_processes(roots)
    cpu0_own, cpu0_infra = _cpu_s(own), _cpu_s(infra)
    t0 = time.monotonic()
    deadline = t0 + seconds

    async def loop(user: User) -> None:
        while time.monotonic() < deadline:
            op = random.choices(ops, weights)[0]
            t = time.perf_counter()
            try:
                r = await user.step(op)
                status = str(r.status_code)
                bad = r.status_code >= 400
                body = r.text[:160] if bad else ""
            except httpx.HTTPError as exc:
                status, bad, body = type(exc).__name__, True, str(exc)[:160]
            lat[op].append((time.perf_counter() - t) * 1000)
            if bad:
                errors[op][status] += 1
                if len(samples[op]) < 3:
                    samples[op].append(f"{status} {body}")

    await asyncio.gather(*(loop(u) for u in people))
    wall = time.monotonic() - t0
    own_after, infra_after = system_processes(roots)
    cpu1_own, cpu1_infra = _cpu_s(own_after), _cpu_s(infra_after)
    profile: dict[str, dict[str, Any]] = {}
    if per_op_s:
        print("\neach operation alone (where the mix's CPU goes):", flush=True)
        profile = await op_profile(people, roots, per_op_s)
    cpu_own = sum(v - cpu0_own.get(pid, 0.0) for pid, v in cpu1_own.items())
    by_service: dict[str, float] = collections.defaultdict(float)
    for p in own_after:
        by_service[_service_of(p)] += cpu1_own.get(p.pid, 0.0) - cpu0_own.get(p.pid, 0.0)
    cpu_infra = sum(v - cpu0_infra.get(pid, 0.0) for pid, v in cpu1_infra.items())
    for u in people:
        await u.client.aclose()
    result_extra = {"per_op_alone": profile} if per_op_s else {}
    total = sum(len(v) for v in lat.values())
    n_err = sum(sum(c.values()) for c in errors.values())
    per_op = {op: {"n": len(lat[op]), "p50_ms": round(percentile(lat[op], 50), 1),
                   "p99_ms": round(percentile(lat[op], 99), 1), "errors": dict(errors[op]),
                   "error_samples": samples[op]} for op in ops}
    everything = [x for v in lat.values() for x in v]
    result = {
        "mode": "full" if full else "embedded", "users": users, "seconds": round(wall, 2), "requests": total,
        "rps": round(total / wall, 1), "p50_ms": round(percentile(everything, 50), 1),
        "p99_ms": round(percentile(everything, 99), 1), "errors": n_err, "per_op": per_op,
        "cpu_s_system": round(cpu_own, 2), "cpu_s_servers": round(cpu_infra, 2),
        "cpu_ms_per_request": round(1000 * cpu_own / max(1, total), 2),
        "cpu_ms_per_request_with_servers": round(1000 * (cpu_own + cpu_infra) / max(1, total), 2),
        "processes": len(own_after), "load_avg": list(psutil.getloadavg()),
        "cpu_ms_per_request_by_service": {k: round(1000 * v / max(1, total), 2)
                                          for k, v in sorted(by_service.items(), key=lambda kv: -kv[1])},
        **result_extra,
    }
    print(f"\n{'operation':<12}{'n':>7}{'p50 ms':>9}{'p99 ms':>9}  errors")
    for op, row in per_op.items():
        print(f"{op:<12}{row['n']:>7}{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}  {row['errors'] or ''}")
        for s in row["error_samples"]:
            print(f"{'':<14}e.g. {s}")
    print(f"\n{result['mode']}: {users} users, {wall:.1f} s: {result['rps']} req/s, p50 {result['p50_ms']} ms, "
          f"p99 {result['p99_ms']} ms, {n_err} errors")
    print(f"CPU: {cpu_own:.1f} s in the system's {len(own_after)} processes = {result['cpu_ms_per_request']} ms per "
          f"request" + (f"; + {cpu_infra:.1f} s in PostgreSQL/RabbitMQ/moto = "
                        f"{result['cpu_ms_per_request_with_servers']} ms per request" if full else ""))
    print("  by service (ms per request): " + ", ".join(
        f"{k} {v}" for k, v in result["cpu_ms_per_request_by_service"].items()))
    print(f"load average during the run: {result['load_avg']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--full", action="store_true", help="PostgreSQL, RabbitMQ and S3 (moto) instead")
    parser.add_argument("--quick", action="store_true", help="10 users, 10 s")
    parser.add_argument("--per-op", type=float, default=0.0, metavar="SECONDS",
                        help="after the mix, each operation alone for SECONDS: its CPU per request by service")
    parser.add_argument("--only", choices=list(WEIGHTS),
                        help="no mix: this operation alone for --seconds (2 s more for what it sets off)")
    args = parser.parse_args()
    if args.quick:
        args.users, args.seconds = 10, 10.0
    random.seed(17)
    if args.full:
        with FullStack("mix", env_overrides=LIMITS) as fs:
            roots = [p.popen.pid for p in fs.stack.procs]
            result = asyncio.run(run_load(fs.stack.gateway_url, args.users, args.seconds, roots, True, args.per_op,
                                          args.only))
    else:
        var_dir = scratch_dir("mix") / "var"
        try:
            with EmbeddedSystem(Path(var_dir), env=embedded_env(**LIMITS)) as system:
                assert system.proc is not None
                result = asyncio.run(run_load(system.url, args.users, args.seconds, [system.proc.pid], False,
                                              args.per_op, args.only))
        except BaseException:
            keep_scratch(var_dir)
            print(f"logs kept in {var_dir / 'log'}", flush=True)
            raise
    name = ("mix-full" if args.full else "mix") + (f"-{args.only}" if args.only else "")
    print(f"results: {write_results(name, result)}")


if __name__ == "__main__":
    main()
