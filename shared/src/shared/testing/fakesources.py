"""A stand-in for MusicBrainz, setlist.fm and Wikidata that serves recorded answers over real sockets.

    python -m shared.testing.fakesources --port 8765 --fixtures tests/fixtures --setlistfm-key KEY

Point SHOWS_MUSICBRAINZ_URL at http://127.0.0.1:PORT, SHOWS_SETLISTFM_URL at http://127.0.0.1:PORT/rest and
SHOWS_WIKIDATA_URL at http://127.0.0.1:PORT. The sources' rules are enforced the way they document them:
MusicBrainz answers 403 without a User-Agent and 503 to a client faster than one request a second, setlist.fm
answers 403 without the API key and 429 beyond two requests a second. Fixture names ask for the rest:
setlist id `ratelimited1` answers 429 (Retry-After: 1) once, `busy1` always 503 (Retry-After: 120), `malformed1`
a truncated body; unknown ids 404 with the source's documented error body. GET /_requests lists what was asked.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, dict[str, str], bytes]


def slug(text: str) -> str:
    """File-name form of a name: lower case, runs of other characters as one dash."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Answer:
    return status, {"Content-Type": "application/json;charset=UTF-8", **(headers or {})}, json.dumps(body).encode()


class FakeSources:
    """The routing and the per-source rules (also used in-process through an httpx.MockTransport)."""

    def __init__(self, fixtures: Path, *, setlistfm_key: str = "test-key", mb_min_interval_s: float = 0.9,
                 sf_min_interval_s: float = 0.45) -> None:
        self.fixtures = fixtures
        self.setlistfm_key = setlistfm_key
        self.mb_min_interval_s = mb_min_interval_s
        self.sf_min_interval_s = sf_min_interval_s
        self.lock = threading.Lock()
        self.last: dict[str, float] = {}
        self.seen: dict[str, int] = {}
        self.requests: list[dict[str, Any]] = []

    def _file(self, source: str, name: str) -> Any | None:
        path = self.fixtures / source / f"{name}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def _too_fast(self, source: str, interval: float) -> bool:
        now = time.monotonic()
        previous = self.last.get(source)
        self.last[source] = now
        return previous is not None and now - previous < interval

    def handle(self, method: str, target: str, headers: dict[str, str]) -> Answer:
        """The answer to one request."""
        parts = urlsplit(target)
        path, query = parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}
        lower = {k.lower(): v for k, v in headers.items()}
        with self.lock:
            self.requests.append({"method": method, "path": path, "query": query, "at": time.time(),
                                  "user_agent": lower.get("user-agent", "")})
            if path == "/_requests":
                return _json(200, {"requests": self.requests})
            if path.startswith("/ws/2/"):
                return self._musicbrainz(path, query, lower)
            if path.startswith("/rest/1.0/"):
                return self._setlistfm(path.removeprefix("/rest"), query, lower)
            if path.startswith("/wiki/Special:EntityData/"):
                qid = path.rsplit("/", 1)[1].removesuffix(".json")
                data = self._file("wikidata", qid)
                return _json(200, data) if data is not None else _json(404, {"error": "no such entity"})
        return _json(404, {"error": "not a route of the fake sources"})

    # ------------------------------------------------------------------ MusicBrainz (ws/2)

    def _musicbrainz(self, path: str, q: dict[str, str], h: dict[str, str]) -> Answer:
        ua = h.get("user-agent", "")
        if not ua or ua.startswith(("python-httpx", "python-requests", "Python-urllib")):
            return _json(403, {"error": "Anonymous user-agents are blocked: identify your application."})
        if self.mb_min_interval_s and self._too_fast("musicbrainz", self.mb_min_interval_s):
            return _json(503, {"error": "Your requests are exceeding the allowable rate limit. Please see "
                                        "http://wiki.musicbrainz.org/XMLWebService for more information."},
                         {"Retry-After": "1"})
        not_found = _json(404, {"error": "Not Found", "help": "For usage, please see: "
                                                              "https://musicbrainz.org/development/mmd"})
        m = re.fullmatch(r"/ws/2/(artist|event)/([0-9a-f-]{36})", path)
        if m:
            data = self._file("musicbrainz", f"{m.group(1)}-{m.group(2)}")
            return _json(200, data) if data is not None else not_found
        phrase = re.search(r'"((?:[^"\\]|\\.)*)"', q.get("query", ""))
        name = slug(re.sub(r"\\(.)", r"\1", phrase.group(1))) if phrase else ""
        created = "2026-11-30T12:00:00.000Z"
        if path == "/ws/2/artist":
            if name == "malformed":
                return 200, {"Content-Type": "application/json"}, b"<html><body>502 Bad Gateway</body></html>"
            data = self._file("musicbrainz", f"artist-search-{name}")
            return _json(200, data if data is not None else {"created": created, "count": 0, "offset": 0,
                                                              "artists": []})
        if path == "/ws/2/recording":
            data = self._file("musicbrainz", f"recordings-{q.get('artist', '')}-{q.get('offset', '0')}")
            return _json(200, data if data is not None else {"recording-count": 0, "recording-offset": 0,
                                                              "recordings": []})
        if path == "/ws/2/event":
            begin = re.search(r"begin:(\d{4}-\d{2}-\d{2})", q.get("query", ""))
            data = self._file("musicbrainz", f"event-search-{name}-{begin.group(1) if begin else ''}")
            return _json(200, data if data is not None else {"created": created, "count": 0, "offset": 0,
                                                              "events": []})
        return not_found

    # ------------------------------------------------------------------ setlist.fm (rest/1.0)

    def _setlistfm(self, path: str, q: dict[str, str], h: dict[str, str]) -> Answer:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())

        def error(code: int, status: str, message: str, extra: dict[str, str] | None = None) -> Answer:
            return _json(code, {"code": code, "status": status, "message": message, "timestamp": stamp}, extra)

        if h.get("x-api-key") != self.setlistfm_key:
            return error(403, "Forbidden", "Access denied: invalid or missing API key")
        if self.sf_min_interval_s and self._too_fast("setlistfm", self.sf_min_interval_s):
            return error(429, "Too Many Requests", "Too Many Requests")
        if "json" not in h.get("accept", ""):
            return 200, {"Content-Type": "application/xml"}, b"<?xml version='1.0'?><setlist/>"
        m = re.fullmatch(r"/1.0/setlist/([A-Za-z0-9-]+)", path)
        if m:
            sid = m.group(1)
            self.seen[sid] = self.seen.get(sid, 0) + 1
            if sid == "ratelimited1" and self.seen[sid] == 1:
                return error(429, "Too Many Requests", "Too Many Requests", {"Retry-After": "1"})
            if sid == "busy1":
                return error(503, "Service Unavailable", "Service Unavailable", {"Retry-After": "120"})
            if sid == "malformed1":
                return 200, {"Content-Type": "application/json"}, b'{"artist": {"name": "The Lant'
            data = self._file("setlistfm", f"setlist-{sid}")
            return _json(200, data) if data is not None else error(404, "Not Found", "not found")
        if path == "/1.0/search/setlists":
            who = slug(q.get("artistName", "")) or q.get("artistMbid", "")
            data = self._file("setlistfm", f"search-{who}-{q.get('date', '')}")
            return _json(200, data) if data is not None else error(404, "Not Found", "not found")
        m = re.fullmatch(r"/1.0/user/([^/]+)/attended", path)
        if m:
            data = self._file("setlistfm", f"attended-{slug(m.group(1))}-{q.get('p', '1')}")
            return _json(200, data) if data is not None else error(404, "Not Found", "unknown userId")
        return error(404, "Not Found", "not found")


def mock_transport(fake: FakeSources) -> Any:
    """An httpx transport answering from `fake` in-process (unit and API tests)."""
    import httpx

    def respond(request: httpx.Request) -> httpx.Response:
        target = request.url.raw_path.decode()
        status, headers, body = fake.handle(request.method, target, dict(request.headers))
        return httpx.Response(status, headers=headers, content=body)

    return httpx.MockTransport(respond)


def serve(fake: FakeSources, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """An HTTP server for `fake` (call serve_forever, or run it in a thread)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            status, headers, body = fake.handle("GET", self.path, dict(self.headers.items()))
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            return

    return ThreadingHTTPServer((host, port), Handler)


def main(argv: list[str] | None = None) -> None:
    """Run the fake sources until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fixtures", type=Path, required=True)
    parser.add_argument("--setlistfm-key", default="test-key")
    parser.add_argument("--mb-min-interval", type=float, default=0.9)
    args = parser.parse_args(argv)
    fake = FakeSources(args.fixtures, setlistfm_key=args.setlistfm_key, mb_min_interval_s=args.mb_min_interval)
    server = serve(fake, args.port)
    print(f"fake sources on http://127.0.0.1:{args.port} from {args.fixtures}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
