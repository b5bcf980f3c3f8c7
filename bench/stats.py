"""Songs heard live: `GET /api/stats/songs` for a person with 1,000 shows and 20,000 setlist songs (PostgreSQL).

Run: `.venv/bin/python bench/stats.py [--shows 1000] [--songs-per-show 20] [--requests 300]`.

What it does:
1. creates a fresh PostgreSQL database, migrates it and bulk-inserts one person's history: 1,000 shows of 120
   artists at 150 venues (a quarter of them festival days with three acts), 20 songs each (20,000 songs, with
   tape intros and covers), drawn from 40 titles per artist so songs repeat across shows as they do in life;
2. starts the JWKS stub of bench/shows.py and the real shows service (one process);
3. measures, in the same run and alternating, `GET /api/stats/songs?limit=50` over HTTP (sequential requests
   on a keep-alive connection: the latency one person sees; the service reads its per-person summary rows) and,
   as the baseline, the aggregate SQL alone that computes the same page from the setlists (psycopg, one
   connection); then the price of keeping the summary current: `POST /api/shows/{id}/setlist` (one song added,
   its summary row recounted) against `GET /api/shows/{id}/setlist` on the same show;
4. measures the other statistics the same way — `GET /api/dashboard/stats`, `/api/dashboard/artists`,
   `/api/stats/years/{year}`, `/api/stats/map`, `/api/stats/artists/{id}` — each against, as the baseline, the
   service's own domain function answering the same request in this process (same SQL, a SQLAlchemy session,
   no HTTP, no framework, peers answering at once): the ratio is what the HTTP route adds;
5. prints p50/p95 of each against the target (< 50 ms p50) and writes bench/results/stats.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.util
import os
import random
import statistics as pystats
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# this folder holds shows.py: keep it off sys.path so `import shows` finds the service package
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
_spec = importlib.util.spec_from_file_location("bench_common", _HERE / "_common.py")
assert _spec is not None and _spec.loader is not None
_common = importlib.util.module_from_spec(_spec)
sys.modules["bench_common"] = _common
_spec.loader.exec_module(_common)
ISSUER, AUDIENCE = "sharemyshows-auth", "sharemyshows"
TARGET_P50_MS = 50.0


def seed(url: str, n_shows: int, per_show: int, rng: random.Random) -> int:
    """One person's history, inserted in bulk through the shows tables; returns their user id."""
    from sqlalchemy import insert

    from shared.db import make_engine, run_migrations, utcnow
    from shows.catalog.models import ShowAct
    from shows.catalog.text import song_key
    from shows.models import Artist, Concert, SetlistSong, Show, User, Venue

    run_migrations("shows", url)
    engine = make_engine(url)
    user_id, now = 1, utcnow()
    n_artists, n_venues = 120, 150
    with engine.begin() as c:
        c.execute(insert(User), [{"id": user_id, "username": "bench"}])
        c.execute(insert(Artist), [{"id": i, "name": f"Artist {i}", "name_norm": f"artist {i}", "created_at": now}
                                   for i in range(1, n_artists + 1)])
        c.execute(insert(Venue), [{"id": i, "name": f"Venue {i}", "name_norm": f"venue {i}", "city": f"City {i % 40}",
                                   "city_norm": f"city {i % 40}", "state": "", "country": "Somewhere",
                                   "latitude": 40 + i / 100, "longitude": -80 + i / 100, "created_at": now}
                                  for i in range(1, n_venues + 1)])
        start = dt.date(2000, 1, 1)
        concerts, shows, acts, songs = [], [], [], []
        song_id = 0
        for sid in range(1, n_shows + 1):
            day = start + dt.timedelta(days=sid * 9)
            head = rng.randint(1, n_artists)
            concerts.append({"id": sid, "artist_id": head, "venue_id": rng.randint(1, n_venues), "date": day,
                             "created_at": now})
            fest = sid % 4 == 0
            shows.append({"id": sid, "user_id": user_id, "concert_id": sid, "show_date": day, "notes": "",
                          "notes_norm": "", "visibility": "friends", "created_at": now, "updated_at": now,
                          "festival_name": "Bench Fest" if fest else None,
                          "ticket_price": float(rng.randint(20, 150)), "currency": "USD"})
            bill = [head] + (rng.sample([a for a in range(1, n_artists + 1) if a != head], 2) if fest else [])
            acts += [{"show_id": sid, "artist_id": a, "role": "headliner" if i == 0 else "support", "position": i + 1}
                     for i, a in enumerate(bill)]
            for pos in range(1, per_show + 1):
                song_id += 1
                act = bill[(pos - 1) * len(bill) // per_show]
                title = "Intro" if pos == 1 else f"Song {act}-{rng.randint(1, 40)}"
                songs.append({"id": song_id, "show_id": sid, "position": pos, "title": title, "notes": "",
                              "is_cover": pos % 17 == 0, "artist_id": None if act == head else act,
                              "set_number": 1 if pos < per_show - 2 else 2, "set_name": "",
                              "encore": 0 if pos < per_show - 2 else 1, "is_tape": pos == 1,
                              "song_key": song_key(title), "source": "setlistfm"})
        c.execute(insert(Concert), concerts)
        c.execute(insert(Show), shows)
        c.execute(insert(ShowAct), acts)
        for i in range(0, len(songs), 5000):
            c.execute(insert(SetlistSong), songs[i:i + 5000])
        for table in ("artist", "venue", "concert", "show", "show_act", "setlist_song"):
            c.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        c.exec_driver_sql("ANALYZE")
    engine.dispose()
    return user_id


def sql_baseline(url: str, user_id: int) -> tuple[str, Any]:
    """The baseline: the one-pass aggregate over the person's setlists that answers the same page without the
    summary rows (compiled for psycopg), and a connection."""
    import psycopg
    from sqlalchemy import func
    from sqlalchemy.dialects import postgresql

    from shows.catalog import stats_repo
    from shows.models import SetlistSong, Show

    act = stats_repo._act().label("act")
    times = func.count().label("times")
    stmt = (stats_repo._heard(user_id, None)
            .add_columns(act, SetlistSong.song_key, func.min(SetlistSong.title.collate("C")), times,
                         func.min(Show.show_date), func.max(Show.show_date), func.array_agg(Show.id),
                         func.count().over())
            .group_by(act, SetlistSong.song_key).order_by(times.desc(), SetlistSong.song_key, act).limit(50))
    sql = str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    return sql, psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))


async def _no_peers() -> tuple[dict[str, int], list[str]]:
    """Media and social answering at once with zeros (the baseline's peers)."""
    return {"photos": 0, "audio": 0, "videos": 0, "comments": 0, "friends": 0}, []


def other_stats(client: httpx.Client, base: str, url: str, user_id: int, n: int) -> dict[str, dict[str, float]]:
    """Each statistics route over HTTP against its domain function called in-process, alternating."""
    from shared.adb import AsyncReader
    from shared.db import make_engine, make_session_factory
    from shows import dashboard
    from shows.catalog import stats
    from shows.db import outbox

    year = 2015
    artist_id = int(client.get(f"{base}/api/dashboard/artists?limit=1").json()["artists"][0]["artist_id"])
    # the dashboard's totals run on the event loop (shared.adb): the baseline drives the same function on a loop
    loop = asyncio.new_event_loop()
    reader = AsyncReader(url, pool_size=1)
    cases: dict[str, Any] = {
        "/api/dashboard/stats": lambda s: loop.run_until_complete(
            dashboard.stats(reader, user_id=user_id, counts=_no_peers)),
        "/api/dashboard/artists": lambda s: dashboard.artists(s, user_id=user_id, limit=10),
        f"/api/stats/years/{year}": lambda s: stats.year_in_review(s, user_id=user_id, year=year),
        "/api/stats/map": lambda s: stats.venue_map(s, user_id=user_id),
        f"/api/stats/artists/{artist_id}": lambda s: stats.artist_history(s, user_id=user_id, artist_id=artist_id),
    }
    engine = make_engine(url)
    factory = make_session_factory(engine, outbox)
    out: dict[str, dict[str, float]] = {}
    try:
        for path, fn in cases.items():
            http_ms: list[float] = []
            fn_ms: list[float] = []
            for i in range(n + 10):
                t = time.perf_counter()
                resp = client.get(base + path)
                took = (time.perf_counter() - t) * 1000
                assert resp.status_code == 200, (path, resp.text)
                t = time.perf_counter()
                with factory() as s:
                    fn(s)
                took_fn = (time.perf_counter() - t) * 1000
                if i >= 10:  # the first ten warm both up
                    http_ms.append(took)
                    fn_ms.append(took_fn)
            out[path] = {"http_p50_ms": round(pct(http_ms, 50), 2), "http_p95_ms": round(pct(http_ms, 95), 2),
                         "function_p50_ms": round(pct(fn_ms, 50), 2),
                         "http_vs_function": round(pct(http_ms, 50) / max(pct(fn_ms, 50), 1e-6), 2)}
    finally:
        engine.dispose()
        loop.run_until_complete(reader.close())
        loop.close()
    return out


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) in ms."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Seed, start the service, measure both, stop."""
    from shared.auth import TokenSigner
    from shared.stack import Stack
    from shared.testing import infra

    work = _common.scratch_dir("stats")
    db_name = f"sms_bench_stats_{os.getpid()}"
    url = infra.create_database(db_name)
    stub: subprocess.Popen[bytes] | None = None
    stack: Stack | None = None
    try:
        t0 = time.perf_counter()
        user_id = seed(url, args.shows, args.songs_per_show, random.Random(7))
        print(f"seeded {args.shows} shows, {args.shows * args.songs_per_show} songs in {time.perf_counter() - t0:.1f}s")
        signer = TokenSigner(Ed25519PrivateKey.generate(), ISSUER, AUDIENCE)
        token, _ = signer.access_token(user_id, "bench", ttl_s=3600)
        stub, stack = _common.start_shows_alone(work, url, signer.jwks())
        endpoint = f"{stack.url('shows')}/api/stats/songs?limit=50"
        sql, conn = sql_baseline(url, user_id)
        http_ms: list[float] = []
        sql_ms: list[float] = []
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            first = client.get(endpoint)
            assert first.status_code == 200, first.text
            body = first.json()
            print(f"{body['total']} distinct songs; most heard: {body['songs'][0]['title']} "
                  f"x{body['songs'][0]['times_heard']}")
            for _ in range(args.warmup):
                client.get(endpoint)
                conn.execute(sql).fetchall()
            for _ in range(args.requests):
                t = time.perf_counter()
                resp = client.get(endpoint)
                http_ms.append((time.perf_counter() - t) * 1000)
                assert resp.status_code == 200
                t = time.perf_counter()
                conn.execute(sql).fetchall()
                sql_ms.append((time.perf_counter() - t) * 1000)
            show = 500
            add_ms: list[float] = []
            read_ms: list[float] = []
            for i in range(args.writes):
                t = time.perf_counter()
                resp = client.post(f"{stack.url('shows')}/api/shows/{show}/setlist", json={"title": f"New {i % 7}"})
                add_ms.append((time.perf_counter() - t) * 1000)
                assert resp.status_code == 201, resp.text
                t = time.perf_counter()
                client.get(f"{stack.url('shows')}/api/shows/{show}/setlist")
                read_ms.append((time.perf_counter() - t) * 1000)
            after = client.get(endpoint + "&limit=500").json()
            assert any(s["title"].startswith("New ") for s in after["songs"]), "the summary missed the new songs"
            others = other_stats(client, stack.url("shows"), url, user_id, args.requests // 3)
        conn.close()
        figures = {
            "stats_songs_p50_ms": round(pct(http_ms, 50), 2),
            "stats_songs_p95_ms": round(pct(http_ms, 95), 2),
            "sql_only_p50_ms": round(pct(sql_ms, 50), 2),
            "sql_only_p95_ms": round(pct(sql_ms, 95), 2),
            "add_song_p50_ms": round(pct(add_ms, 50), 2),
            "read_setlist_p50_ms": round(pct(read_ms, 50), 2),
            "target_p50_ms": TARGET_P50_MS,
        }
        print(f"\nGET /api/stats/songs?limit=50  p50 {figures['stats_songs_p50_ms']:.1f} ms  "
              f"p95 {figures['stats_songs_p95_ms']:.1f} ms  (target p50 < {TARGET_P50_MS:.0f} ms: "
              f"{'met' if figures['stats_songs_p50_ms'] < TARGET_P50_MS else 'MISSED'})")
        print(f"baseline: the same page aggregated from the setlists (SQL alone)  p50 {figures['sql_only_p50_ms']:.1f} "
              f"ms  p95 {figures['sql_only_p95_ms']:.1f} ms  (mean of the endpoint {pystats.mean(http_ms):.1f} ms "
              f"over {len(http_ms)})")
        print(f"keeping it current: POST a song p50 {figures['add_song_p50_ms']:.1f} ms vs GET the setlist p50 "
              f"{figures['read_setlist_p50_ms']:.1f} ms")
        for path, row in others.items():
            print(f"GET {path:<28} p50 {row['http_p50_ms']:6.1f} ms p95 {row['http_p95_ms']:6.1f} ms | "
                  f"domain function alone p50 {row['function_p50_ms']:6.1f} ms | ratio {row['http_vs_function']:.2f}")
        return {"shows": args.shows, "songs": args.shows * args.songs_per_show, "requests": args.requests,
                "figures": figures, "other_stats": others}
    finally:
        _common.stop_shows_alone(stub, stack)
        infra.drop_database(db_name)


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shows", type=int, default=1000)
    parser.add_argument("--songs-per-show", type=int, default=20)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--writes", type=int, default=50)
    args = parser.parse_args()
    data = run(args)
    print(f"wrote {_common.write_results('stats', data)}")


if __name__ == "__main__":
    main()
