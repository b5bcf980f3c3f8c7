"""Chat fan-out: N WebSocket clients in one concert, straight to one social instance vs through the gateway.

Run: `.venv/bin/python bench/chat.py [--clients 200] [--senders 10] [--messages 20] [--rate 5] [--burst 50]`.

Self-contained: it starts a fake shows/JWKS server (in this process), one social instance and one gateway
(real uvicorn processes, embedded SQLite + filesystem bus in a temp dir) and signs its own tokens, so it
needs nothing else running. Every client joins the same concert; `--senders` of them each send
`--messages` messages at `--rate` messages/s (paced phase: latency at a steady load), then `--burst`
messages as fast as they can (burst phase: throughput); every client (senders included) must receive every
message. Measured per target and phase: deliveries/s (message frames received by all clients / time from
first send to last receive), p50/p99 send-to-receive latency, lost and duplicate deliveries; then the
gateway/direct ratios, and the CPU each server process spent per 1000 deliveries (the gateway's own cost, far
less sensitive to other load on the machine than the latencies). `GATEWAY_WS_TUNNEL=false` in the environment
measures the gateway's frame-by-frame WebSocket proxy instead of its byte tunnel.
The load generator runs in one Python process on the same machine as the servers, so on a small machine it
competes with them for CPU: compare the two rows with each other, not with other machines.
Writes bench/results/chat.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import websockets
from _common import cpu_seconds, percentile  # bench/ is on sys.path when a benchmark runs
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.auth import TokenSigner
from shared.stack import free_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "chat.json"
SHOW_ID, CONCERT_ID = 1, 1
ACCESS_RE = re.compile(r"^/internal/shows/(\d+)/access$")


# ---------------------------------------------------------------- fake shows + JWKS


def start_fake(jwks: dict[str, Any]) -> tuple[str, ThreadingHTTPServer]:
    """A tiny server answering shows' access endpoint (everyone checked in) and the JWKS."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path.endswith("jwks.json") or path == "/jwks":
                body: dict[str, Any] = jwks
            elif m := ACCESS_RE.match(path):
                body = {"show_id": int(m.group(1)), "owner_id": 1, "concert_id": CONCERT_ID, "visibility": "public",
                        "can_view": True, "can_edit": False, "logged_concert": False, "checked_in": True,
                        "show_name": "Bench at Arena", "date": "2026-11-25"}
            elif path == "/internal/snapshot/users":  # auth's account snapshot: every bench user exists
                ids = parse_qs(urlsplit(self.path).query).get("ids", [""])[0]
                body = {"items": [{"user_id": int(i), "username": f"bench{i}", "email": f"bench{i}@example.com",
                                   "version": 1, "deleted": False} for i in ids.split(",") if i.isdigit()]}
            elif path == "/internal/sessions/revoked":  # auth's catch-up: nothing revoked
                body = {"revocations": [], "cursor": 0}
            elif path == "/health":
                body = {"status": "ok"}
            else:
                self.send_response(404)
                self.end_headers()
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_a: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


@contextlib.contextmanager
def processes(fake: str, clients: int) -> Iterator[tuple[str, str, dict[str, int]]]:
    """One social instance and one gateway in front of it; yields (social_url, gateway_url, pids)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-chat-"))
    social_port, gw_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.endswith("_DATABASE_URL") and k not in ("DATABASE_URL", "BROKER_URL", "REDIS_URL")}
    env.update({
        "ENV": "development", "VAR_DIR": str(tmp / "var"), "LOG_LEVEL": "WARNING", "LOG_FORMAT": "text",
        "JWKS_URL": f"{fake}/jwks", "AUTH_URL": fake, "SHOWS_URL": fake, "MEDIA_URL": fake,
        "SOCIAL_URL": f"http://127.0.0.1:{social_port}", "PYTHONUNBUFFERED": "1",
        "BUS_CONSUMER_ENABLED": "false",
        # measure fan-out, not the limiters
        "SOCIAL_CHAT_RATE_LIMIT": "1000000", "GATEWAY_RATE_LIMIT_IP": "100000000",
        "GATEWAY_RATE_LIMIT_USER": "100000000", "GATEWAY_ACCESS_LOG": "false",
        "SOCIAL_CHAT_EXCHANGE": f"sms.chat.bench{os.getpid()}",
    })
    db = f"sqlite:///{tmp / 'social.db'}"
    subprocess.run([sys.executable, "-c", "import social.main as m; m.migrate()"],
                   env={**env, "DATABASE_URL": db}, check=True, cwd=ROOT)
    procs = [
        subprocess.Popen([sys.executable, "-c", "import social.main as m; m.main()"],
                         env={**env, "DATABASE_URL": db, "PORT": str(social_port)}, cwd=ROOT,
                         stdout=(tmp / "social.log").open("wb"), stderr=subprocess.STDOUT, start_new_session=True),
        subprocess.Popen([sys.executable, "-c", "import gateway.main as m; m.main()"],
                         env={**env, "PORT": str(gw_port)}, cwd=ROOT,
                         stdout=(tmp / "gateway.log").open("wb"), stderr=subprocess.STDOUT, start_new_session=True),
    ]
    urls = (f"http://127.0.0.1:{social_port}", f"http://127.0.0.1:{gw_port}")
    try:
        for url, path in ((urls[0], "/ready"), (urls[1], "/health")):
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url + path, timeout=1).status_code < 500:
                        break
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    logs = "\n".join((tmp / f).read_text(errors="replace")[-2000:]
                                     for f in ("social.log", "gateway.log"))
                    raise RuntimeError(f"{url} did not start:\n{logs}")
                time.sleep(0.2)
        yield (*urls, {"social": procs[0].pid, "gateway": procs[1].pid})
    except BaseException:
        for f in ("social.log", "gateway.log"):  # the temp dir goes below: say why before it does
            text = (tmp / f).read_text(errors="replace")
            print(f"---- {f} (head and tail)\n{text[:4000]}\n...\n{text[-3000:]}", file=sys.stderr)
        raise
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- the load


class Run:
    """Bookkeeping of one measured phase (message texts carry their send time)."""

    def __init__(self, tag: str, total_messages: int, clients: int) -> None:
        self.tag = tag
        self.latencies: list[float] = []
        self.received = 0
        self.duplicates = 0
        self.expected = total_messages * clients
        self.first_send = 0.0
        self.last_recv = 0.0
        self.done = asyncio.Event()


class Room:
    """Every client socket of one target and the phase currently being measured."""

    def __init__(self) -> None:
        self.run: Run | None = None
        self.last_frame = time.perf_counter()
        self.sockets: list[Any] = []
        self.tasks: list[asyncio.Task[None]] = []


MARK = '"message": "'


async def client(base: str, token: str, room: Room) -> None:
    """One socket: wait for history, then record every bench message frame of the current phase."""
    url = base.replace("http://", "ws://") + f"/api/chat/show/{SHOW_ID}/ws"
    ws = await websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"},
                                  open_timeout=60, max_queue=None, ping_interval=None)
    first = json.loads(await ws.recv())
    assert first["type"] == "history", first
    seen: set[str] = set()

    async def reader() -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in ws:
                now = time.perf_counter()
                room.last_frame = now
                run = room.run
                if run is None or not raw.startswith('{"type": "message"'):
                    continue
                # the text is "<tag>|<sender>|<seq>|<perf_counter at send>"; no full JSON parse needed
                i = raw.index(MARK) + len(MARK)
                text = raw[i:raw.index('"', i)]
                tag, _, rest = text.partition("|")
                if tag != run.tag:
                    continue
                if text in seen:
                    run.duplicates += 1
                    continue
                seen.add(text)
                run.latencies.append((now - float(rest.rsplit("|", 1)[1])) * 1000)
                run.received += 1
                run.last_recv = now
                if run.received >= run.expected:
                    run.done.set()

    room.sockets.append(ws)
    room.tasks.append(asyncio.create_task(reader()))


async def sender(ws: Any, idx: int, run: Run, messages: int, rate: float | None) -> None:
    """Send `messages` frames at `rate`/s (None: as fast as the socket takes them)."""
    start = time.perf_counter()
    for seq in range(messages):
        if rate:
            delay = start + seq / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        now = time.perf_counter()
        if not run.first_send:
            run.first_send = now
        await ws.send(json.dumps({"type": "message", "message": f"{run.tag}|{idx}|{seq}|{now:.6f}"}))


async def quiet(room: Room, for_s: float = 0.7, max_s: float = 60.0) -> float:
    """Wait until no frame arrived for `for_s` (e.g. the n² presence storm of 200 joins); returns the wait."""
    t0 = time.perf_counter()
    while time.perf_counter() - room.last_frame < for_s and time.perf_counter() - t0 < max_s:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    return time.perf_counter() - t0


async def phase(room: Room, tag: str, args: argparse.Namespace, messages: int, rate: float | None) -> dict[str, Any]:
    """Let the senders talk and summarise what every client received."""
    run = room.run = Run(tag, args.senders * messages, len(room.sockets))
    await asyncio.gather(*(sender(room.sockets[i], i, run, messages, rate) for i in range(args.senders)))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(run.done.wait(), args.timeout)
    room.run = None
    duration = max(1e-9, run.last_recv - run.first_send)
    return {
        "messages": args.senders * messages,
        "offered_messages_per_s": args.senders * rate if rate else "max",
        "expected_deliveries": run.expected,
        "deliveries": run.received,
        "lost": run.expected - run.received,
        "duplicates": run.duplicates,
        "duration_s": round(duration, 3),
        "deliveries_per_s": round(run.received / duration, 1),
        "messages_per_s": round(run.received / len(room.sockets) / duration, 1),
        "p50_ms": round(percentile(run.latencies, 50), 2),
        "p99_ms": round(percentile(run.latencies, 99), 2),
        "max_ms": round(max(run.latencies), 2) if run.latencies else None,
    }


async def measure(base: str, label: str, tokens: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Connect every client to `base`, then a paced phase (latency) and a burst phase (throughput)."""
    room = Room()
    sem = asyncio.Semaphore(25)

    async def connect(tok: str) -> None:
        async with sem:
            await client(base, tok, room)

    t0 = time.perf_counter()
    await asyncio.gather(*(connect(t) for t in tokens))
    connect_s = time.perf_counter() - t0
    presence_drain_s = await quiet(room)
    paced = await phase(room, f"{label}-paced", args, args.messages, args.rate)
    await quiet(room)
    burst = await phase(room, f"{label}-burst", args, args.burst, None)
    for ws in room.sockets:
        with contextlib.suppress(Exception):
            await ws.close()
    for task in room.tasks:
        task.cancel()
    return {"target": label, "clients": len(tokens), "connect_all_s": round(connect_s, 2),
            "join_presence_drain_s": round(presence_drain_s, 2), "paced": paced, "burst": burst}


def run_measured(base: str, label: str, tokens: list[str], args: argparse.Namespace,
                 pids: dict[str, int]) -> dict[str, Any]:
    """measure() plus the CPU each server process spent on it (connects, both phases), per 1000 deliveries."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    result = asyncio.run(measure(base, label, tokens, args))
    deliveries = result["paced"]["deliveries"] + result["burst"]["deliveries"]
    result["cpu_ms_per_1000_deliveries"] = {
        name: round((cpu_seconds(pid) - before[name]) * 1e6 / max(deliveries, 1), 1) for name, pid in pids.items()}
    return result


def main() -> None:
    """Run the benchmark and write bench/results/chat.json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument("--messages", type=int, default=20, help="per sender")
    parser.add_argument("--rate", type=float, default=5.0, help="messages/s per sender")
    parser.add_argument("--burst", type=int, default=50, help="messages per sender in the burst phase")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    signer = TokenSigner(Ed25519PrivateKey.generate(), "sharemyshows-auth", "sharemyshows")
    tokens = [signer.access_token(i + 1, f"bench{i + 1}", ttl_s=3600)[0] for i in range(args.clients)]
    fake, server = start_fake(signer.jwks())
    results: dict[str, Any] = {
        "benchmark": "chat fan-out",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "loadavg_at_start": os.getloadavg()},
        "setup": ("1 social instance (SQLite, filesystem bus) and 1 gateway; load generator in one process on "
                  "the same machine"),
        "params": vars(args),
    }
    try:
        with processes(fake, args.clients) as (social_url, gateway_url, pids):
            direct = run_measured(social_url, "direct", tokens, args, pids)
            print(json.dumps(direct), flush=True)
            via_gw = run_measured(gateway_url, "gateway", tokens, args, pids)
            print(json.dumps(via_gw), flush=True)
    finally:
        server.shutdown()
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    results["direct"] = direct
    results["gateway"] = via_gw
    ratio = lambda ph, key: round(via_gw[ph][key] / max(direct[ph][key], 1e-9), 3)  # noqa: E731
    results["ratio_gateway_over_direct"] = {
        "paced_p50_ms": ratio("paced", "p50_ms"),
        "paced_p99_ms": ratio("paced", "p99_ms"),
        "burst_deliveries_per_s": ratio("burst", "deliveries_per_s"),
        "burst_p50_ms": ratio("burst", "p50_ms"),
        "burst_p99_ms": ratio("burst", "p99_ms"),
    }
    # the gateway's own cost, less sensitive to the machine's load than latency: its CPU per delivery
    results["gateway_cpu_ms_per_1000_deliveries"] = via_gw["cpu_ms_per_1000_deliveries"]["gateway"]
    results["social_cpu_ms_per_1000_deliveries_direct"] = direct["cpu_ms_per_1000_deliveries"]["social"]
    results["ws_mode"] = "frames" if os.environ.get("GATEWAY_WS_TUNNEL", "true").lower() in ("0", "false", "no") \
        else "tunnel"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(json.dumps(results["ratio_gateway_over_direct"]), flush=True)
    print(f"gateway CPU per 1000 deliveries ({results['ws_mode']}): {results['gateway_cpu_ms_per_1000_deliveries']} ms;"
          f" social's (direct): {results['social_cpu_ms_per_1000_deliveries_direct']} ms -> {RESULTS}", flush=True)


if __name__ == "__main__":
    main()
