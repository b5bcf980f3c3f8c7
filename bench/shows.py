"""Shows read path: `GET /api/shows?limit=20` and `GET /api/shows/<id>` on PostgreSQL with 10,000 shows.

Run: `.venv/bin/python bench/shows.py [--duration 10] [--connections 32] [--shows 10000] [--users 100] [--rounds 3]`.

What it does:
1. creates a fresh PostgreSQL database, migrates it and bulk-inserts 10,000 shows across 100 users (through the
   shows models, not HTTP): artists, venues, shared concerts, setlists for some shows, counters, user copies;
2. starts a stub process that serves the JWKS of a bench signing key (so no auth service is needed to mint a
   bearer token) and media's/social's internal endpoints (empty lists, as a healthy but empty peer);
3. starts the real shows service with `--workers` processes (SHOWS_API_WORKERS, default: one per CPU), the
   gateway and, when installed, nginx proxying to the service (`proxy_pass`, keep-alive upstream), the baseline proxy;
4. starts a "bare" FastAPI + SQLAlchemy app (as many processes) that runs the same repository queries without
   auth, middleware, gateway or peer calls;
5. drives each endpoint at concurrency 32 with wrk (or the asyncio client) through the gateway, through nginx,
   straight to the service and against the bare app, prints rps and p50/p99 and the ratios (gateway vs nginx,
   each vs bare), writes bench/results/shows.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# this file is bench/shows.py: keep its folder off sys.path so `import shows` finds the service package
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.append(str(_HERE))  # last: `_shows_apps` (the helper apps uvicorn imports) resolves, `shows` does not
_spec = importlib.util.spec_from_file_location("bench_common", _HERE / "_common.py")
assert _spec is not None and _spec.loader is not None
_common = importlib.util.module_from_spec(_spec)
sys.modules["bench_common"] = _common
_spec.loader.exec_module(_common)
LoadResult, scratch_dir, table, write_results = (
    _common.LoadResult,
    _common.scratch_dir,
    _common.table,
    _common.write_results,
)
# plain wrk prints "Latency Distribution" lines like "     50%    1.23ms" (wrk2 prints "50.000%")
_WRK_LAT = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)


def load(label: str, url: str, *, headers: dict[str, str], connections: int, duration_s: int) -> Any:
    """wrk with latency percentiles parsed for both wrk and wrk2 output; the asyncio client without wrk."""
    if not shutil.which("wrk"):
        return _common.load(label, url, headers=headers, connections=connections, duration_s=duration_s)
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration_s}s", "--latency"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=duration_s + 60).stdout
    if os.environ.get("BENCH_DEBUG"):
        print(out)
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    lat = {q: float(v) * unit[u] for q, v, u in _WRK_LAT.findall(out)}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    errors = sum(int(x) for x in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors += sum(int(x) for x in sock.groups())
    return LoadResult(
        label,
        float(rps.group(1)) if rps else 0.0,
        lat.get("50", float("nan")),
        lat.get("99", float("nan")),
        int(total.group(1)) if total else 0,
        errors,
        "wrk",
    )


ISSUER, AUDIENCE = "sharemyshows-auth", "sharemyshows"
_PREFIX = {"bare": "/bare/shows", "floor": "/floor/shows"}


# ---------------------------------------------------------------- helper processes (same file, other modes)


def serve(mode: str, port: int) -> None:
    """Run a helper app with the same uvicorn settings as the services (the bare app with SHOWS_API_WORKERS)."""
    import uvicorn

    workers = int(os.environ.get("SHOWS_API_WORKERS", "1")) if mode in ("bare", "floor") else 1
    uvicorn.run(
        f"_shows_apps:{mode}_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


# ---------------------------------------------------------------- seeding


def seed(url: str, n_shows: int, n_users: int, rng: random.Random) -> tuple[int, int]:
    """Bulk-insert the data set through the shows models; returns (bench user id, a show id of theirs)."""
    from sqlalchemy import insert, select, text

    from shared.db import make_engine, make_session_factory, run_migrations, utcnow
    from shows.db import outbox
    from shows.models import Artist, Concert, SetlistSong, Show, ShowCounter, User, Venue
    from shows.normalize import normalize

    run_migrations("shows", url)
    engine = make_engine(url)
    factory = make_session_factory(engine, outbox)
    now = utcnow()
    with factory() as s:
        artists = [f"Artist {i:03d} {w}" for i, w in enumerate(rng.choices(["Ø", "é", "Band", "Trio"], k=400))]
        s.execute(insert(Artist), [{"name": a, "name_norm": normalize(a), "created_at": now} for a in artists])
        cities = [("New York", "NY", ""), ("London", "", "UK"), ("Paris", "", "France"), ("Austin", "TX", "")]
        venues = []
        for i in range(150):
            city, state, country = cities[i % len(cities)]
            venues.append(
                {
                    "name": f"Venue {i:03d}",
                    "name_norm": f"venue {i:03d}",
                    "city": city,
                    "city_norm": normalize(city),
                    "state": state,
                    "country": country,
                    "created_at": now,
                }
            )
        s.execute(insert(Venue), venues)
        artist_ids = list(s.scalars(select(Artist.id)))
        venue_ids = list(s.scalars(select(Venue.id)))
        concerts, seen = [], set()
        while len(concerts) < max(n_shows // 2, 200):
            key = (
                rng.choice(artist_ids),
                rng.choice(venue_ids),
                dt.date(2000, 1, 1) + dt.timedelta(days=rng.randrange(0, 27 * 365)),
            )
            if key not in seen:
                seen.add(key)
                concerts.append({"artist_id": key[0], "venue_id": key[1], "date": key[2], "created_at": now})
        s.execute(insert(Concert), concerts)
        concert_rows = list(s.execute(select(Concert.id, Concert.date)))
        s.execute(insert(User), [{"id": u, "username": f"bench{u}"} for u in range(1, n_users + 1)])
        per_user = n_shows // n_users
        shows = []
        for u in range(1, n_users + 1):
            for cid, date in rng.sample(concert_rows, per_user):
                shows.append(
                    {
                        "user_id": u,
                        "concert_id": cid,
                        "show_date": date,
                        "time": "20:00",
                        "notes": "seeded",
                        "notes_norm": "seeded",
                        "rating": rng.choice([None, 3, 4, 5]),
                        "visibility": rng.choice(["private", "friends", "public"]),
                        "visible_to": None,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
        s.execute(insert(Show), shows)
        show_ids = list(s.scalars(select(Show.id)))
        songs = []
        for sid in rng.sample(show_ids, len(show_ids) // 10):
            songs.extend(
                {"show_id": sid, "position": p, "title": f"Song {p}", "notes": "", "is_cover": False}
                for p in range(1, 16)
            )
        s.execute(insert(SetlistSong), songs)
        s.execute(
            insert(ShowCounter),
            [
                {
                    "show_id": sid,
                    "photos": rng.randint(0, 20),
                    "audio": rng.randint(0, 3),
                    "videos": rng.randint(0, 5),
                    "comments": rng.randint(0, 10),
                }
                for sid in rng.sample(show_ids, len(show_ids) // 2)
            ],
        )
        s.commit()
        if engine.dialect.name == "postgresql":
            s.execute(text("ANALYZE"))  # fresh statistics, as autovacuum would have after a real load
            s.commit()
        target = s.scalar(
            select(SetlistSong.show_id).join(Show, Show.id == SetlistSong.show_id).where(Show.user_id == 1).limit(1)
        ) or s.scalar(select(Show.id).where(Show.user_id == 1))
    engine.dispose()
    return 1, int(target)


# ---------------------------------------------------------------- the run


def _spawn(mode: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as fh:
        return subprocess.Popen(
            [sys.executable, __file__, "--serve", mode, "--port", str(port)],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait(url: str, proc: subprocess.Popen[bytes] | None = None, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url} exited early")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Seed, start everything, measure, stop everything."""
    from shared.auth import TokenSigner
    from shared.stack import SERVICES as SPECS
    from shared.stack import Stack, available, free_port
    from shared.testing import infra

    rng = random.Random(42)
    work = scratch_dir("shows")
    db_name = f"sms_bench_shows_{os.getpid()}"
    url = infra.create_database(db_name)
    procs: list[subprocess.Popen[bytes]] = []
    stack: Stack | None = None
    try:
        t0 = time.perf_counter()
        user_id, show_id = seed(url, args.shows, args.users, rng)
        seed_s = time.perf_counter() - t0
        print(f"seeded {args.shows} shows across {args.users} users in {seed_s:.1f}s (detail show {show_id})")

        signer = TokenSigner(Ed25519PrivateKey.generate(), ISSUER, AUDIENCE)
        token, _ = signer.access_token(user_id, f"bench{user_id}", ttl_s=3600)
        jwks_file = work / "jwks.json"
        jwks_file.write_text(json.dumps(signer.jwks()))
        env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL")}
        stub_port, bare_port, floor_port = free_port(), free_port(), free_port()
        stub = f"http://127.0.0.1:{stub_port}"
        env.update(
            {
                "BENCH_JWKS_FILE": str(jwks_file),
                "BENCH_DATABASE_URL": url,
                "BENCH_USER_ID": str(user_id),
                "BENCH_PEERS_URL": stub,
                "SHOWS_DATABASE_URL": url,
                "JWKS_URL": f"{stub}/jwks.json",
                "MEDIA_URL": stub,
                "SOCIAL_URL": stub,
                "AUTH_URL": stub,
                "ENV": "testing",
                "LOG_LEVEL": "WARNING",
                "BUS_CONSUMER_ENABLED": "false",
                "GATEWAY_RATE_LIMIT_IP": "100000000",
                "GATEWAY_RATE_LIMIT_USER": "100000000",
                "GATEWAY_RATE_LIMIT_IP_PER_MIN": "100000000",
                "GATEWAY_RATE_LIMIT_USER_PER_MIN": "100000000",
                "GATEWAY_ACCESS_LOG": "false",
                "SHOWS_API_WORKERS": str(args.workers),
            }
        )
        procs.append(_spawn("stub", stub_port, env, work / "stub.log"))
        _wait(f"{stub}/health", procs[-1])
        procs.append(_spawn("bare", bare_port, env, work / "bare.log"))
        _wait(f"http://127.0.0.1:{bare_port}/health", procs[-1])
        bare_pid = procs[-1].pid
        procs.append(_spawn("floor", floor_port, env, work / "floor.log"))
        _wait(f"http://127.0.0.1:{floor_port}/health", procs[-1])
        floor_pid = procs[-1].pid

        have_gateway = any(s.name == "gateway" and available(s) for s in SPECS)
        services = ["shows", "gateway"] if have_gateway else ["shows"]
        ports = {"shows": free_port(), "gateway": free_port()}
        stack = Stack(work / "stack", env=env, ports=ports, services=services, quiet=True)
        stack.start(timeout_s=120)
        direct = stack.url("shows")
        headers = {"Authorization": f"Bearer {token}"}
        check = httpx.get(f"{direct}/api/shows?limit=20", headers=headers, timeout=10)
        assert check.status_code == 200 and check.headers["X-Total-Count"] == str(args.shows // args.users), check.text

        targets: list[tuple[str, str, dict[str, str]]] = []
        if have_gateway:
            gw = stack.gateway_url
            gw_check = httpx.get(f"{gw}/api/shows?limit=20", headers=headers, timeout=10)
            if gw_check.status_code == 200:
                targets.append(("gateway", gw, headers))
            else:
                print(f"gateway answered {gw_check.status_code}; measuring without it: {gw_check.text[:200]}")
        _, nginx = _common.ensure_tools()
        if nginx:
            nginx_dir = work / "nginx"
            nginx_dir.mkdir()
            nginx_port = free_port()
            conf = _common.NGINX_CONF.format(tmp=nginx_dir, upstream=ports["shows"], port=nginx_port, workers=1)
            (nginx_dir / "nginx.conf").write_text(conf)
            procs.append(subprocess.Popen([nginx, "-p", str(nginx_dir), "-c", str(nginx_dir / "nginx.conf")]))
            _wait(f"http://127.0.0.1:{nginx_port}/health", procs[-1])
            targets.append(("nginx", f"http://127.0.0.1:{nginx_port}", headers))
        targets.append(("direct", direct, headers))
        targets.append(("bare", f"http://127.0.0.1:{bare_port}", {}))
        targets.append(("floor", f"http://127.0.0.1:{floor_port}", {}))

        # the floor must answer the same JSON as the service, or the comparison means nothing
        for path in ("?limit=20", f"/{show_id}"):
            mine = httpx.get(f"{direct}/api/shows{path}", headers=headers, timeout=10).json()
            floor = httpx.get(f"http://127.0.0.1:{floor_port}/floor/shows{path}", timeout=10).json()
            assert mine == floor, f"the floor answers {path} differently from the service"
        if args.targets:
            wanted = set(args.targets.split(","))
            targets = [t for t in targets if t[0] in wanted]

        pids = _common.stack_pids(stack)
        owners = {"shows": pids["shows"], "gateway": pids.get("gateway", 0), "bare": bare_pid, "floor": floor_pid,
                  "postgres": 0}
        if nginx:
            owners["nginx"] = procs[-1].pid

        def _cpu(name: str) -> float:
            return _common.postgres_cpu_seconds() if name == "postgres" else _common.cpu_seconds(owners[name])

        # rounds interleave the targets so a noisy neighbour hurts all of them alike; the median round counts
        rounds: dict[str, dict[str, list[Any]]] = {"list": {}, "detail": {}}
        for name, base, hdrs in targets:
            prefix = _PREFIX.get(name, "/api/shows")
            for path in (f"{prefix}?limit=20", f"{prefix}/{show_id}"):
                load(f"warmup {name}", base + path, headers=hdrs, connections=args.connections, duration_s=2)
        for _ in range(args.rounds):
            for name, base, hdrs in targets:
                prefix = _PREFIX.get(name, "/api/shows")
                for kind, path in (("list", f"{prefix}?limit=20"), ("detail", f"{prefix}/{show_id}")):
                    before = {k: _cpu(k) for k in owners}
                    res = load(
                        f"{kind} {name}",
                        base + path,
                        headers=hdrs,
                        connections=args.connections,
                        duration_s=args.duration,
                    )
                    # CPU per request of each process involved (the load generator's own CPU excluded)
                    res.extra["cpu_ms_per_request"] = {
                        k: round((_cpu(k) - before[k]) * 1000 / res.requests, 3)
                        for k in owners
                        if res.requests and _cpu(k) - before[k] > 0.001
                    }
                    rounds[kind].setdefault(name, []).append(res)
        results: dict[str, dict[str, Any]] = {
            kind: {name: sorted(rs, key=lambda r: r.rps)[len(rs) // 2] for name, rs in per.items()}
            for kind, per in rounds.items()
        }
        # conditional GETs: the client's copy is current, so each request is answered 304 from the versions
        for name, base, hdrs in targets:
            if name not in ("gateway", "direct"):
                continue
            for kind, path in (("list", "/api/shows?limit=20"), ("detail", f"/api/shows/{show_id}")):
                tag = httpx.get(base + path, headers=hdrs, timeout=10).headers.get("ETag")
                if not tag:
                    continue
                cond = {**hdrs, "If-None-Match": tag}
                assert httpx.get(base + path, headers=cond, timeout=10).status_code == 304
                before = {k: _cpu(k) for k in owners}
                res = load(f"{kind} {name} 304", base + path, headers=cond, connections=args.connections,
                           duration_s=args.duration)
                res.extra["cpu_ms_per_request"] = {
                    k: round((_cpu(k) - before[k]) * 1000 / res.requests, 3)
                    for k in owners
                    if res.requests and _cpu(k) - before[k] > 0.001
                }
                results[kind][f"{name} 304"] = res
        flat = [r for kind in results.values() for r in kind.values()]
        print(table(flat))
        ratios: dict[str, dict[str, float]] = {}
        for kind, per in results.items():
            bare = per["bare"].rps if "bare" in per and per["bare"].rps else float("nan")
            ratios[kind] = {f"{name}_vs_bare_rps": round(r.rps / bare, 3) for name, r in per.items() if name != "bare"}
            if "floor" in per and per["floor"].rps:
                for name in ("gateway", "direct"):
                    if name in per:
                        ratios[kind][f"{name}_vs_floor_rps"] = round(per[name].rps / per["floor"].rps, 3)
                # on a shared machine rps follows the neighbours; CPU per request does not
                floor_cpu = per["floor"].extra.get("cpu_ms_per_request", {}).get("floor")
                shows_cpu = per.get("gateway", per.get("direct")).extra.get("cpu_ms_per_request", {}).get("shows")
                if floor_cpu and shows_cpu:
                    ratios[kind]["shows_cpu_vs_floor_cpu"] = round(shows_cpu / floor_cpu, 2)
            if "nginx" in per and "gateway" in per and per["nginx"].rps:
                ratios[kind]["gateway_vs_nginx_rps"] = round(per["gateway"].rps / per["nginx"].rps, 3)
                ratios[kind]["gateway_added_p50_ms_vs_nginx"] = round(per["gateway"].p50_ms - per["nginx"].p50_ms, 2)
            print(f"{kind}: " + ", ".join(f"{k} = {v:.2f}" for k, v in ratios[kind].items()))
            for name, r in per.items():
                cpu = r.extra.get("cpu_ms_per_request", {})
                print(f"  {kind} {name}: CPU ms per request " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items()))
        return {
            "data_set": {
                "shows": args.shows,
                "users": args.users,
                "seed_seconds": round(seed_s, 2),
                "detail_show_id": show_id,
            },
            "connections": args.connections,
            "shows_workers": args.workers,
            "duration_s": args.duration,
            "gateway_measured": "gateway" in results["list"],
            "peers": "stub process answering media/social internal calls with empty lists",
            "rounds": args.rounds,
            "results": {kind: {name: r for name, r in per.items()} for kind, per in results.items()},
            "all_rounds_rps": {k: {n: [r.rps for r in rs] for n, rs in per.items()} for k, per in rounds.items()},
            "load_average_after": os.getloadavg(),
            "ratios": ratios,
        }
    finally:
        if stack is not None:
            stack.stop()
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        infra.drop_database(db_name)


def main() -> None:
    """Command line: run the benchmark, or serve a helper app (internal use)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--shows", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median one is reported")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="processes of the shows service and the bare app"
    )
    parser.add_argument("--targets", default="", help="comma-separated subset of gateway,nginx,direct,bare,floor")
    parser.add_argument("--serve", choices=["stub", "bare", "floor"])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    data = run(args)
    path = write_results("shows", data)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
