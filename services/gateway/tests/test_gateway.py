"""Gateway behaviour through a real gateway process in front of real (in-thread) upstream servers."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import jwt
import psutil
import pytest
from gw_helpers import (
    AUDIENCE,
    ISSUER,
    Gw,
    Keys,
    Stack,
    alg_none_token,
    bearer,
    running_gateway,
    start_gateway,
    stop_gateway,
)
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from shared.testing.client import response_head_to

MB = 1024 * 1024


# ---- routing ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/auth/me", "auth"),
        ("/api/shows/1", "shows"),
        ("/api/artists", "shows"),
        ("/api/venues/3", "shows"),
        ("/api/dashboard/stats", "shows"),
        ("/api/dashboard/venues", "shows"),
        ("/api/photos/9", "media"),
        ("/api/me/usage", "media"),
        ("/api/audio", "media"),
        ("/api/dashboard/videos/recent", "media"),
        ("/api/comments/show/1", "social"),
        ("/api/friends", "social"),
        ("/api/chat/show/1/messages", "social"),
        ("/api/feed", "social"),
        ("/api/dashboard/comments/recent", "social"),
    ],
)
def test_routes_by_prefix(gw: Gw, keys: Keys, path: str, service: str) -> None:
    with gw.client() as c:
        r = c.get(path, params={"q": "a b"}, headers=bearer(keys.token()))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["service"] == service
    assert body["path"] == path
    assert body["query"] == "q=a+b"


@pytest.mark.parametrize(
    "path", ["/internal/shows/1/access", "/api/internal/x", "/api/unknown", "/api/dashboard", "/api/showsX", "/api/me",
             "/api/me/other"]
)
def test_unrouted_and_internal_are_404(gw: Gw, keys: Keys, path: str) -> None:
    with gw.client() as c:
        r = c.get(path, headers=bearer(keys.token()))
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"


def test_dot_segments_refused(gw: Gw, keys: Keys) -> None:
    with gw.client() as c:
        r = c.get("/api/shows/%2e%2e/%2e%2e/internal/x", headers=bearer(keys.token()))
    assert r.status_code in (400, 404)
    assert "service" not in r.json()


def test_headers_forwarded_and_hop_by_hop_dropped(gw: Gw, keys: Keys) -> None:
    with gw.client() as c:
        r = c.get(
            "/api/photos/1",
            headers={
                **bearer(keys.token()),
                "X-Forwarded-For": "6.6.6.6",
                "X-Internal-Token": "stolen",
                "Connection": "keep-alive, X-Foo",
                "X-Custom": "yes",
            },
        )
    h = r.json()["headers"]
    assert h["x-forwarded-for"] == "127.0.0.1"  # the client-sent value is not trusted (0 hops)
    assert h["x-forwarded-proto"] == "http"
    assert "x-internal-token" not in h
    assert h["x-custom"] == "yes"
    assert "access-control-allow-origin" not in r.headers  # upstream CORS headers are the gateway's job
    assert r.headers["x-upstream"] == "media"


def test_multiple_set_cookie_preserved(gw: Gw, keys: Keys) -> None:
    with gw.client() as c:
        r = c.get("/api/shows/cookies", headers=bearer(keys.token()))
    assert r.status_code == 200
    assert r.headers.get_list("set-cookie") == ["a=1; Path=/; HttpOnly", "b=2; Path=/"]


def test_post_body_and_content_length(gw: Gw, keys: Keys) -> None:
    with gw.client() as c:
        r = c.post("/api/videos/upload", content=b"z" * 1000, headers=bearer(keys.token()))
        assert r.json() == {"received": 1000, "content_length": "1000", "transfer_encoding": None}

        def gen() -> Iterator[bytes]:
            yield b"a" * 100
            yield b"b" * 200

        r = c.post("/api/videos/upload", content=gen(), headers=bearer(keys.token()))
        assert r.json()["received"] == 300
        assert r.json()["transfer_encoding"] == "chunked"


# ---- streaming without buffering -------------------------------------------------------------
class RssSampler:
    """Peak RSS of a process, sampled in a thread."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / MB


def test_200mb_upload_streams(gw: Gw, keys: Keys) -> None:
    size = 200 * MB
    chunk = b"u" * MB

    def gen() -> Iterator[bytes]:
        for _ in range(size // MB):
            yield chunk

    with gw.client() as c:
        c.get("/health")
        with RssSampler(gw.proc.pid) as rss:
            r = c.post("/api/videos", content=gen(), headers={**bearer(keys.token()),
                                                               "Content-Length": str(size)})
    assert r.status_code == 200, r.text
    assert r.json()["received"] == size
    assert r.json()["content_length"] == str(size)
    print(f"RSS growth {rss.growth_mb:.1f} MB")
    assert rss.growth_mb < 30, rss.growth_mb


# ---- body limits ---------------------------------------------------------------------------------
def _raw_request(gw: Gw, head: str) -> bytes:
    """Send only a request head; the response head (a timeout if the gateway waited for the body)."""
    return response_head_to(gw.url, head, timeout=5.0)


def test_declared_body_over_the_limit_is_refused_before_it_is_sent(gw: Gw, keys: Keys) -> None:
    # only the head goes out: the answer cannot wait for (or forward) a single body byte
    for path in ("/api/shows", "/api/auth/register", "/api/photos"):
        head = _raw_request(gw, f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {keys.token()}\r\n"
                                   f"Content-Type: application/json\r\nContent-Length: {50 * MB}\r\n"
                                   "Expect: 100-continue\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413"), (path, head[:200])
        assert b"100 Continue" not in head


def test_upstream_refusing_from_the_head_never_waits_for_the_body(gw: Gw, keys: Keys) -> None:
    # a streamed body (over 64 KiB) goes out only after the upstream's 100 Continue: a refusal needs no body
    head = _raw_request(gw, f"POST /api/photos/refuse HTTP/1.1\r\nHost: x\r\n"
                                  f"Authorization: Bearer {keys.token()}\r\nContent-Length: {500_000}\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 403"), head[:200]
    # an upstream that reads gets the whole body, as before
    with gw.client() as c:
        r = c.post("/api/videos", content=b"v" * 500_000, headers=bearer(keys.token()))
    assert r.json()["received"] == 500_000


def test_json_body_limit_exact_boundary(gw: Gw, keys: Keys) -> None:
    limit = MB  # MAX_BODY_BYTES default
    with gw.client() as c:
        for size, expected in ((limit, 200), (limit + 1, 413)):
            r = c.post("/api/shows", content=b"x" * size, headers=bearer(keys.token()))
            assert r.status_code == expected, (size, r.text[:200])

            def gen(n: int = size) -> Iterator[bytes]:
                for i in range(0, n, 100_000):
                    yield b"x" * min(100_000, n - i)

            r = c.post("/api/shows", content=gen(), headers=bearer(keys.token()))
            assert r.status_code == expected, (size, "chunked", r.text[:200])
        assert r.json() == {"error": "The request body is larger than the 1 MiB this endpoint accepts.",
                            "code": "payload_too_large"}
        assert c.post("/api/shows", content=b"x" * limit, headers=bearer(keys.token())).json()["body_len"] == limit


def test_chunked_body_over_the_limit_stops_forwarding_with_memory_flat(gw: Gw, keys: Keys) -> None:
    sent = 0

    def gen() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(50):
            sent += MB
            yield b"j" * MB

    with gw.client() as c:
        c.get("/health")
        with RssSampler(gw.proc.pid) as rss:
            started = time.perf_counter()
            r = c.post("/api/shows", content=gen(), headers=bearer(keys.token()))
            elapsed = time.perf_counter() - started
        assert r.status_code == 413, r.text
        assert r.json()["code"] == "payload_too_large"
        # the same connection goes on working after the refused body was discarded
        assert c.get("/api/shows/1", headers=bearer(keys.token())).status_code == 200
    print(f"50 MB chunked: 413 after {elapsed:.2f} s, gateway RSS growth {rss.growth_mb:.1f} MB")
    assert rss.growth_mb < 15, rss.growth_mb
    time.sleep(0.3)
    assert "Traceback" not in gw.log_text()


def test_upload_routes_allow_their_kind_size(gw: Gw, keys: Keys) -> None:
    from shared.limits import MULTIPART_SLACK

    limit = 100_000 + MULTIPART_SLACK  # MEDIA_PHOTO_MAX_BYTES of this gateway + multipart slack
    with gw.client() as c:
        r = c.post("/api/photos", content=b"p" * limit, headers=bearer(keys.token()))
        assert r.status_code == 200 and r.json()["body_len"] == limit
        r = c.post("/api/photos", content=b"p" * (limit + 1), headers=bearer(keys.token()))
        assert r.status_code == 413
        assert "1124 KiB" in r.json()["error"] or "bytes" in r.json()["error"]
        # PUT on the same path is not an upload: the JSON limit applies
        assert c.put("/api/photos", content=b"p" * (MB + 1), headers=bearer(keys.token())).status_code == 413


@pytest.mark.parametrize("with_length", [False, True])
def test_200mb_download_streams(gw: Gw, keys: Keys, with_length: bool) -> None:
    size = 200 * MB
    params = {"size": str(size), **({"cl": "1"} if with_length else {})}
    got = 0
    with (
        gw.client() as c,
        RssSampler(gw.proc.pid) as rss,
        c.stream("GET", "/api/videos/download", params=params, headers=bearer(keys.token())) as r,
    ):
        assert r.status_code == 200
        if with_length:
            assert r.headers["content-length"] == str(size)
        else:
            assert r.headers.get("transfer-encoding") == "chunked"
        for part in r.iter_raw():
            got += len(part)
    assert got == size
    print(f"RSS growth {rss.growth_mb:.1f} MB")
    assert rss.growth_mb < 30, rss.growth_mb


# ---- auth pre-check --------------------------------------------------------------------------
def test_protected_route_without_token_is_401(gw: Gw) -> None:
    with gw.client() as c:
        r = c.get("/api/shows")
    assert r.status_code == 401
    assert r.json()["code"] == "not_authenticated"
    assert "x-request-id" in r.headers


def _bad_tokens(keys: Keys) -> dict[str, str]:
    stranger = keys.new_signer()  # not published in the JWKS
    other = keys.new_signer()
    forged = jwt.encode(
        {"sub": "1", "typ": "access", "iss": ISSUER, "aud": AUDIENCE, "iat": int(time.time()),
         "exp": int(time.time()) + 600, "jti": "j"},
        other.private_key,
        algorithm="EdDSA",
        headers={"kid": keys.active[0].kid},  # right kid, wrong key
    )
    good = keys.token()
    head, payload, sig = good.split(".")
    return {
        "garbage": "not-a-jwt",
        "expired": keys.token(ttl=-120),
        "alg_none": alg_none_token(),
        "unknown_kid": keys.token(signer=stranger),
        "refresh_typ": keys.token(typ="refresh"),
        "mfa_typ": keys.token(typ="mfa"),
        "bad_signature": forged,
        "tampered": f"{head}.{payload[:-4]}AAAA.{sig}",
        "no_sid": keys.token(sid=None),
        "wrong_audience": jwt.encode(
            {"sub": "1", "typ": "access", "iss": ISSUER, "aud": "other", "iat": int(time.time()),
             "exp": int(time.time()) + 600, "jti": "j"},
            keys.active[0].private_key, algorithm="EdDSA", headers={"kid": keys.active[0].kid}),
    }


@pytest.mark.parametrize(
    "kind", ["garbage", "expired", "alg_none", "unknown_kid", "refresh_typ", "mfa_typ", "bad_signature",
             "tampered", "wrong_audience"]
)
def test_bad_tokens_are_401_before_forwarding(gw: Gw, keys: Keys, kind: str) -> None:
    token = _bad_tokens(keys)[kind]
    with gw.client() as c:
        r = c.get("/api/shows/1", headers=bearer(token))
        assert r.status_code == 401, (kind, r.text)
        assert r.json()["code"] in ("invalid_token", "token_expired")
        assert "service" not in r.json()
        c.cookies.set("access_token_cookie", token)
        assert c.get("/api/friends").status_code == 401


def test_stale_cookie_does_not_block_login(gw: Gw, keys: Keys) -> None:
    with gw.client() as c:
        c.cookies.set("access_token_cookie", keys.token(ttl=-120))
        r = c.post("/api/auth/login", json={"username": "a", "password": "b"})
        assert r.status_code == 200
        assert r.json()["service"] == "auth"
        assert c.post("/api/auth/register", json={}).status_code == 200
        assert c.get("/api/auth/.well-known/jwks.json").status_code == 200
        # auth judges tokens itself (it answers 401 for /me with this cookie: tests/e2e); no list of its
        # public paths is kept in the gateway
        assert c.get("/api/auth/me").json()["service"] == "auth"
        # every other service is refused a stale token before forwarding
        assert c.get("/api/shows/1").status_code == 401


def test_unknown_kid_refetches_jwks(gw: Gw, keys: Keys) -> None:
    with gw.client() as c:
        assert c.get("/api/shows/1", headers=bearer(keys.token())).status_code == 200
        rotated = keys.new_signer()
        keys.active.append(rotated)  # auth publishes a new key...
        try:
            before = keys.fetches
            r = c.get("/api/shows/1", headers=bearer(keys.token(signer=rotated)))  # ...and signs with it
            assert r.status_code == 200, r.text
            assert keys.fetches > before
        finally:
            keys.active.remove(rotated)


def test_token_in_cookie_accepted(gw: Gw, keys: Keys) -> None:
    with gw.client() as c:
        c.cookies.set("access_token_cookie", keys.token())
        r = c.get("/api/friends")
    assert r.status_code == 200
    assert "access_token_cookie=" in r.json()["headers"]["cookie"]


# ---- CSRF ------------------------------------------------------------------------------------
def test_csrf_rules(gw: Gw, keys: Keys) -> None:
    token = keys.token(csrf="the-csrf")
    with gw.client() as c:
        c.cookies.set("access_token_cookie", token)
        # browser request (Origin) without the header: refused
        r = c.post("/api/comments", json={}, headers={"Origin": "http://good.example"})
        assert r.status_code == 403
        assert r.json()["code"] == "csrf_failed"
        # wrong header value
        r = c.post("/api/comments", json={}, headers={"Origin": "http://good.example", "X-CSRF-TOKEN": "nope"})
        assert r.status_code == 403
        # right header: accepted
        r = c.post("/api/comments", json={}, headers={"Origin": "http://good.example", "X-CSRF-TOKEN": "the-csrf"})
        assert r.status_code == 200
        # cross-site is refused even with the right header
        r = c.post("/api/comments", json={}, headers={"Sec-Fetch-Site": "cross-site", "X-CSRF-TOKEN": "the-csrf"})
        assert r.status_code == 403
        # no browser headers (curl): not subject to CSRF
        assert c.post("/api/comments", json={}).status_code == 200
        # safe methods are never checked
        assert c.get("/api/comments/show/1", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200
    # bearer requests are exempt
    with gw.client() as c:
        r = c.post("/api/comments", json={}, headers={**bearer(token), "Origin": "http://evil.example"})
        assert r.status_code == 200


# ---- CORS ------------------------------------------------------------------------------------
def test_cors_preflight_and_no_echo_of_evil_origins(gw: Gw, keys: Keys) -> None:
    with gw.client() as c:
        r = c.options(
            "/api/shows",
            headers={"Origin": "http://good.example", "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "content-type, x-csrf-token"},
        )
        assert r.status_code == 204
        assert r.headers["access-control-allow-origin"] == "http://good.example"
        assert r.headers["access-control-allow-credentials"] == "true"
        assert "POST" in r.headers["access-control-allow-methods"]
        assert "x-csrf-token" in r.headers["access-control-allow-headers"].lower()

        r = c.options("/api/shows", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"})
        assert r.status_code == 403
        assert "access-control-allow-origin" not in r.headers

        r = c.get("/api/shows/1", headers={**bearer(keys.token()), "Origin": "http://good.example"})
        assert r.headers["access-control-allow-origin"] == "http://good.example"
        assert r.headers["access-control-allow-credentials"] == "true"
        assert "X-Request-ID" in r.headers["access-control-expose-headers"]

        r = c.get("/api/shows/1", headers={**bearer(keys.token()), "Origin": "http://evil.example"})
        assert r.status_code == 200
        assert "access-control-allow-origin" not in r.headers
        # errors made by the gateway carry CORS headers too (the browser can read the 401)
        r = c.get("/api/shows/1", headers={"Origin": "http://good.example"})
        assert r.status_code == 401
        assert r.headers["access-control-allow-origin"] == "http://good.example"


# ---- rate limits -----------------------------------------------------------------------------
def test_rate_limit_per_ip(gw_limited: Gw) -> None:
    with gw_limited.client() as c:
        codes = [c.get("/api/auth/login").status_code for _ in range(7)]
        assert codes[:5] == [200] * 5
        r = c.get("/api/auth/login")
    assert r.status_code == 429
    assert r.json()["code"] == "rate_limited"
    assert 1 <= int(r.headers["retry-after"]) <= 60
    # not under /api: never limited
    with gw_limited.client() as c:
        assert c.get("/health").status_code == 200


def test_rate_limit_per_user(stack: Stack, keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> None:
    g = start_gateway(stack, tmp_path_factory.mktemp("gwu"), GATEWAY_RATE_LIMIT_USER="3")
    try:
        with g.client() as c:
            codes = [c.get("/api/friends", headers=bearer(keys.token(user_id=77))).status_code for _ in range(4)]
            assert codes == [200, 200, 200, 429]
            # another user is not affected
            assert c.get("/api/friends", headers=bearer(keys.token(user_id=78))).status_code == 200
    finally:
        stop_gateway(g)


# ---- request id and logging -------------------------------------------------------------------
def test_request_id_passed_through_and_created(gw: Gw, keys: Keys) -> None:
    with gw.client() as c:
        r = c.get("/api/shows/1", headers={**bearer(keys.token()), "X-Request-ID": "abc-123_x.y"})
        assert r.headers["x-request-id"] == "abc-123_x.y"
        assert r.json()["headers"]["x-request-id"] == "abc-123_x.y"
        r = c.get("/api/shows/1", headers={**bearer(keys.token()), "X-Request-ID": "bad id<script>"})
        rid = r.headers["x-request-id"]
        assert rid != "bad id<script>" and len(rid) == 32
        assert r.json()["headers"]["x-request-id"] == rid
        r = c.get("/api/shows/1", headers={**bearer(keys.token()), "X-Request-ID": "a" * 129})
        assert r.headers["x-request-id"] != "a" * 129
        assert c.get("/").headers["x-request-id"]
    time.sleep(0.2)
    lines = [json.loads(line) for line in gw.log_text().splitlines() if line.startswith("{")]
    mine = [entry for entry in lines if entry.get("request_id") == "abc-123_x.y"]
    assert mine and mine[0]["method"] == "GET" and mine[0]["path"] == "/api/shows/1"
    assert mine[0]["status"] == 200 and mine[0]["upstream"] == "shows" and "duration_ms" in mine[0]


# ---- upstream failures -----------------------------------------------------------------------
def test_service_down_is_503_fast(gw_degraded: Gw, keys: Keys) -> None:
    with gw_degraded.client() as c:
        started = time.monotonic()
        r = c.get("/api/comments/show/1", headers=bearer(keys.token()))
        elapsed = time.monotonic() - started
    assert r.status_code == 503
    assert r.json() == {"error": "The social service is unavailable, try again shortly.",
                        "code": "service_unavailable"}
    assert elapsed < 1.0
    with gw_degraded.client() as c:
        r = c.post("/api/comments", json={"text": "x"}, headers=bearer(keys.token()))
    assert r.status_code == 503


def test_slow_upstream_is_504(gw: Gw, keys: Keys) -> None:
    with gw.client() as c:
        started = time.monotonic()
        r = c.get("/api/shows/slow", headers=bearer(keys.token()))
    assert r.status_code == 504
    assert r.json()["code"] == "gateway_timeout"
    assert "Traceback" not in r.text
    assert time.monotonic() - started < 3


def test_get_retried_on_second_instance(gw: Gw, keys: Keys) -> None:
    # SHOWS_URL lists a dead instance first: every request still succeeds.
    with gw.client() as c:
        for _ in range(6):
            r = c.get("/api/shows/1", headers=bearer(keys.token()))
            assert r.status_code == 200
            assert r.json()["service"] == "shows"
        # a POST never reached the dead instance either (connection refused: nothing was sent)
        assert c.post("/api/shows", json={}, headers=bearer(keys.token())).status_code == 200


# ---- utility endpoints -----------------------------------------------------------------------
def test_health_aggregate(gw: Gw, gw_degraded: Gw) -> None:
    with gw.client() as c:
        assert c.get("/health").json() == {
            "status": "ok", "services": {"auth": "ok", "shows": "ok", "media": "ok", "social": "ok"}
        }
    with gw_degraded.client() as c:
        started = time.monotonic()
        r = c.get("/health")
        assert time.monotonic() - started < 2
    assert r.status_code == 200
    assert r.json() == {"status": "degraded",
                        "services": {"auth": "ok", "shows": "ok", "media": "ok", "social": "down"}}
    with gw_degraded.client() as c:
        assert c.get("/ready").status_code == 200


def test_merged_openapi(gw: Gw, gw_degraded: Gw) -> None:
    with gw.client() as c:
        spec = c.get("/openapi.json").json()
    paths = spec["paths"]
    assert {"/api/auth/things", "/api/shows/things", "/api/photos/things", "/api/comments/things", "/health"} <= set(
        paths
    )
    assert not [p for p in paths if "internal" in p]
    schemas = spec["components"]["schemas"]
    # same name, different definitions: prefixed per service, refs rewritten
    assert {"auth_Thing", "shows_Thing", "media_Thing", "social_Thing"} <= set(schemas)
    assert "Thing" not in schemas
    ref = paths["/api/shows/things"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/shows_Thing"
    # identical definitions are shared
    assert "HTTPValidationError" in schemas
    op_ids = [op["operationId"] for item in paths.values() for op in item.values() if "operationId" in op]
    assert len(op_ids) == len(set(op_ids))
    with gw_degraded.client() as c:
        spec = c.get("/openapi.json").json()
    assert "/api/comments/things" not in spec["paths"]
    assert spec["x-unavailable-services"] == ["social"]


def test_docs_page(gw: Gw) -> None:
    with gw.client() as c:
        r = c.get("/docs")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "/api/shows/things" in r.text and "/openapi.json" in r.text
    assert "/internal" not in r.text
    assert "cdn" not in r.text.lower()


def test_root_json_or_html(gw: Gw, gw_degraded: Gw) -> None:
    with gw.client() as c:
        r = c.get("/")
        assert r.json() == {"message": "ShareMyShows API", "version": "1.0", "documentation": "/docs"}
        r = c.get("/", headers={"Accept": "application/json"})
        assert r.json()["message"] == "ShareMyShows API"
        browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
        r = c.get("/", headers=browser)
        assert r.headers["content-type"].startswith("text/html")
        assert "SPA" in r.text
        # SPA routing fallback for browsers, 404 for API clients
        assert "SPA" in c.get("/shows/12", headers=browser).text
        assert c.get("/shows/12").status_code == 404
        # static files with cache headers
        r = c.get("/assets/app-3f9a1c2b.js")
        assert r.status_code == 200
        assert "immutable" in r.headers["cache-control"]
        assert r.headers["content-type"].startswith(("text/javascript", "application/javascript"))
        etag = r.headers["etag"]
        assert c.get("/assets/app-3f9a1c2b.js", headers={"If-None-Match": etag}).status_code == 304
        assert c.get("/robots.txt").headers["cache-control"] == "public, max-age=3600"
        assert c.get("/", headers=browser).headers["cache-control"] == "no-cache"
        # the web app's security headers: a CSP without inline script, no framing, no sniffing, no referrer
        page = c.get("/shows/12", headers=browser).headers
        csp = {d.split()[0]: d.split()[1:] for d in page["content-security-policy"].split("; ")}
        assert csp["script-src"] == ["'self'"] and csp["frame-ancestors"] == ["'none'"]
        assert csp["object-src"] == ["'none'"] and "'unsafe-inline'" not in page["content-security-policy"]
        host = gw.url.removeprefix("http://")
        assert csp["connect-src"] == ["'self'", f"ws://{host}", f"wss://{host}"]
        # hls.js: MediaSource blob: URLs for <video>; its worker is a file of the build (workerPath), not a blob:
        assert csp["media-src"] == ["'self'", "blob:"] and csp["worker-src"] == ["'self'"]
        assert page["x-content-type-options"] == "nosniff" and page["referrer-policy"] == "same-origin"
        assert "geolocation=(self)" in page["permissions-policy"] and "camera=()" in page["permissions-policy"]
        assert c.get("/assets/app-3f9a1c2b.js").headers["x-content-type-options"] == "nosniff"
        evil = c.get("/", headers={**browser, "Host": "x; script-src *"}).headers["content-security-policy"]
        assert "script-src *" not in evil and "ws://" not in evil
        # no escape from the web dir
        assert c.get("/..%2f..%2fetc/passwd").status_code == 404
    with gw_degraded.client() as c:
        r = c.get("/", headers=browser)
        assert r.status_code == 200
        assert "make web" in r.text
        assert "script-src" not in r.headers["content-security-policy"]  # default-src 'none': no script
        assert r.headers["x-frame-options"] == "DENY"


def test_metrics(gw: Gw, gw_degraded: Gw, keys: Keys) -> None:
    with gw.client() as c:
        c.get("/api/shows/1", headers=bearer(keys.token()))
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers=bearer("wrong")).status_code == 401
        assert c.get("/metrics", headers=bearer(keys.token())).status_code == 401
        r = c.get("/metrics", headers=bearer("scrape-secret"))
        assert r.status_code == 200
        text = r.text
    with gw_degraded.client() as c:  # no GATEWAY_METRICS_TOKEN: not served at all
        assert c.get("/metrics").status_code == 404
        assert c.get("/metrics", headers=bearer("scrape-secret")).status_code == 404
    assert 'http_requests_total{method="GET",route="/api/shows",service="gateway",status="200"}' in text
    assert "http_request_duration_seconds_bucket" in text


# ---- websockets ------------------------------------------------------------------------------
def _ws_url(gw: Gw, path: str = "/api/chat/show/1/ws") -> str:
    return gw.url.replace("http://", "ws://") + path


def test_websocket_echo_with_bearer(gw: Gw, keys: Keys) -> None:
    token = keys.token()
    with ws_connect(_ws_url(gw), additional_headers={**bearer(token), "X-Request-ID": "ws-rid-1"}) as ws:
        hello = json.loads(ws.recv(timeout=5))
        assert hello["type"] == "hello" and hello["service"] == "social"
        assert hello["authorization"] == f"Bearer {token}"
        assert hello["request_id"] == "ws-rid-1"
        ws.send("hi")
        assert ws.recv(timeout=5) == "echo:hi"
        ws.send(b"\x00\x01")
        assert ws.recv(timeout=5) == b"\x00\x01"


def test_websocket_cookie_and_subprotocol_auth(gw: Gw, keys: Keys) -> None:
    token = keys.token()
    with ws_connect(_ws_url(gw), additional_headers={"Cookie": f"access_token_cookie={token}"}) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "hello"
    with ws_connect(_ws_url(gw), subprotocols=["access_token", token]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "access_token"
        assert json.loads(ws.recv(timeout=5))["authorization"] == f"Bearer {token}"


def test_websocket_close_code_propagates(gw: Gw, keys: Keys) -> None:
    with ws_connect(_ws_url(gw), additional_headers=bearer(keys.token())) as ws:
        ws.recv(timeout=5)
        ws.send("close:4001")
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
    assert info.value.rcvd is not None and info.value.rcvd.code == 4001
    assert info.value.rcvd.reason == "closed by upstream"  # e.g. "You were signed out." reaches the web app


def test_websocket_rejects_unauthenticated(gw: Gw, keys: Keys) -> None:
    with pytest.raises(InvalidStatus) as info, ws_connect(_ws_url(gw)):
        pass
    assert info.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as info:
        ws_connect(_ws_url(gw), additional_headers=bearer(keys.token(ttl=-120))).close()
    assert info.value.response.status_code == 401
    # a cookie-authenticated socket opened by a foreign page (cross-site WebSocket hijacking)
    with pytest.raises(InvalidStatus) as info:
        ws_connect(_ws_url(gw), additional_headers={"Cookie": f"access_token_cookie={keys.token()}"},
                        origin="http://evil.example").close()  # type: ignore[arg-type]
    assert info.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as info:
        ws_connect(_ws_url(gw, "/internal/ws"), additional_headers=bearer(keys.token())).close()
    assert info.value.response.status_code == 404


def test_head_and_empty_answers(gw: Gw, keys: Keys) -> None:
    with gw.client() as c:
        r = c.head("/api/shows/1", headers=bearer(keys.token()))
        assert r.status_code == 200 and r.content == b""
        assert int(r.headers["content-length"]) > 0
        r = c.head("/", headers={"Accept": "text/html"})
        assert r.status_code == 200 and r.content == b""
        # keep-alive connection still healthy after HEAD answers
        assert c.get("/api/shows/1", headers=bearer(keys.token())).json()["service"] == "shows"


def _redis_available() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_available(), reason="no Redis on 127.0.0.1:6379")
def test_rate_limit_in_redis_with_trusted_proxy_hop(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import uuid

    import redis

    prefix_probe = uuid.uuid4().hex[:8]
    g = start_gateway(stack, tmp_path_factory.mktemp("gwr"), REDIS_URL="redis://127.0.0.1:6379/15",
                      GATEWAY_RATE_LIMIT_IP="3", GATEWAY_TRUSTED_PROXY_HOPS="1")
    try:
        with g.client() as c:
            ip_a, ip_b = f"10.{int(prefix_probe[:2], 16)}.0.1", f"10.{int(prefix_probe[:2], 16)}.0.2"
            codes = [c.get("/api/auth/login", headers={"X-Forwarded-For": ip_a}).status_code for _ in range(4)]
            assert codes == [200, 200, 200, 429]
            # one trusted hop: the client address is the last X-Forwarded-For entry, so B has its own budget
            r = c.get("/api/auth/login", headers={"X-Forwarded-For": f"6.6.6.6, {ip_b}"})
            assert r.status_code == 200
            assert r.json()["headers"]["x-forwarded-for"] == f"{ip_b}, 127.0.0.1"
        time.sleep(0.4)  # the counters are flushed to Redis in batches
        keys = redis.Redis.from_url("redis://127.0.0.1:6379/15").keys(f"sms:rl:gw:ip:{ip_a}:*")
        assert keys, "the per-IP counter is shared through Redis"
    finally:
        stop_gateway(g)


def test_client_abort_mid_upload_leaves_gateway_healthy(gw: Gw, keys: Keys) -> None:
    class Boom(Exception):
        pass

    def gen() -> Iterator[bytes]:
        yield b"x" * MB
        yield b"y" * MB
        raise Boom

    with gw.client() as c, pytest.raises(Boom):
        c.post("/api/videos", content=gen(), headers={**bearer(keys.token()), "Content-Length": str(50 * MB)})
    with gw.client() as c:
        assert c.get("/api/shows/1", headers=bearer(keys.token())).status_code == 200
    time.sleep(0.3)
    assert "Traceback" not in gw.log_text()


def test_upstream_dying_mid_body_cuts_the_client_connection(gw: Gw, keys: Keys) -> None:
    with gw.client() as c:
        with (
            pytest.raises(httpx.HTTPError),
            c.stream("GET", "/api/videos/broken", headers=bearer(keys.token())) as r,
        ):
            assert r.status_code == 200
            for _ in r.iter_raw():
                pass
        assert c.get("/api/shows/1", headers=bearer(keys.token())).status_code == 200
    time.sleep(0.3)
    assert "Traceback" not in gw.log_text()


def test_idempotent_request_retried_when_an_instance_dies_mid_request(
    stack: Stack, keys: Keys, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import socket

    # an "instance" that reads the request and then drops the connection, like a replica killed in flight
    dropper = socket.socket()
    dropper.bind(("127.0.0.1", 0))
    dropper.listen(16)

    def drop_all() -> None:
        while True:
            try:
                conn, _ = dropper.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.close()

    threading.Thread(target=drop_all, daemon=True).start()
    media = f"http://127.0.0.1:{dropper.getsockname()[1]},http://127.0.0.1:{stack.ports['media']}"
    g = start_gateway(stack, tmp_path_factory.mktemp("gwdrop"), MEDIA_URL=media, GATEWAY_BALANCER="round_robin")
    try:
        with g.client() as c:
            for _ in range(4):
                r = c.get("/api/photos/1", headers=bearer(keys.token()))
                assert r.status_code == 200, r.text
    finally:
        stop_gateway(g)
        dropper.close()


def test_merged_openapi_keeps_a_restarting_services_last_document() -> None:
    """A service that does not answer one refresh (restarting, or slow to build its first schema) keeps its
    last good document in the merged spec instead of vanishing from /docs for everyone."""
    import asyncio

    from gateway.docs import DocsCache

    docs = {"shows": {"openapi": "3.1.0", "paths": {"/api/shows": {"get": {"operationId": "list_shows"}}}},
            "social": {"openapi": "3.1.0", "paths": {"/api/friends": {"get": {"operationId": "friends"}}}}}
    up: dict[str, bool] = {"shows": True, "social": True}
    cache = DocsCache({}, {"shows": None, "social": None}, ttl_s=0.0)  # type: ignore[dict-item]

    async def fetch(name: str) -> dict | None:
        return docs[name] if up[name] else None

    cache._fetch_one = fetch  # type: ignore[method-assign]
    assert {"/api/shows", "/api/friends"} <= set(asyncio.run(cache.spec())["paths"])
    up["shows"] = False
    spec = asyncio.run(cache.spec())
    assert "/api/shows" in spec["paths"] and "x-unavailable-services" not in spec
# ---- revoked sessions ------------------------------------------------------------------------
def _push_revocation(gw: Gw, sid: str) -> None:
    """What auth does after a logout: a notice on the broadcast (the embedded mode's tailed file here)."""
    from shared.broadcast import Broadcast, FileBackend
    from shared.revocation import CHANNEL

    b = Broadcast(FileBackend(gw.var_dir / "broadcast"), "test-auth")
    b.start()
    b.publish(CHANNEL, {"sid": sid, "user_id": 1, "expires_at": time.time() + 600})
    assert b.flush()
    b.stop()


def _refused_within(c: httpx.Client, token: str, seconds: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        r = c.get("/api/shows/1", headers=bearer(token))
        if r.status_code == 401:
            assert r.json()["code"] == "session_revoked"
            return time.monotonic() - started
        time.sleep(0.02)
    pytest.fail(f"the revoked session was still accepted after {seconds}s")


def test_pushed_revocation_is_refused_at_once_even_for_a_cached_token(gw: Gw, keys: Keys) -> None:
    sid = uuid.uuid4().hex
    token = keys.token(sid=sid)
    other = keys.token()
    with gw.client() as c:
        assert c.get("/api/shows/1", headers=bearer(token)).status_code == 200  # now in the verified-token cache
        _push_revocation(gw, sid)
        took = _refused_within(c, token, 5)
        assert c.get("/api/shows/1", headers=bearer(other)).status_code == 200  # other sessions unaffected
        c.cookies.set("access_token_cookie", token)
        assert c.get("/api/friends").status_code == 401
    print(f"push to refusal: {took * 1000:.0f} ms")


@contextlib.contextmanager
def _revoked_at_auth(keys: Keys, sid: str) -> Iterator[None]:
    """auth lists `sid` as revoked (catch-up) for the length of the block."""
    keys.revoked[sid] = time.time() + 600
    try:
        yield
    finally:
        keys.revoked.pop(sid, None)


def test_missed_push_converges_by_catch_up(stack: Stack, keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> None:
    sid = uuid.uuid4().hex
    token = keys.token(sid=sid)
    with running_gateway(stack, tmp_path_factory.mktemp("gwc"), REVOCATION_CATCHUP_S="0.5") as g, g.client() as c:
        assert c.get("/api/shows/1", headers=bearer(token)).status_code == 200
        with _revoked_at_auth(keys, sid):  # auth knows; the push never came
            _refused_within(c, token, 5)


def test_a_restarted_gateway_refuses_revoked_sessions_from_its_first_request(
    stack: Stack, keys: Keys, tmp_path_factory: pytest.TempPathFactory
) -> None:
    sid = uuid.uuid4().hex
    with _revoked_at_auth(keys, sid), running_gateway(stack, tmp_path_factory.mktemp("gwr")) as g, \
            g.client() as c:
        r = c.get("/api/shows/1", headers=bearer(keys.token(sid=sid)))
        assert r.status_code == 401 and r.json()["code"] == "session_revoked"
        assert c.get("/api/shows/1", headers=bearer(keys.token())).status_code == 200
        assert c.get("/ready").json()["status"] == "ready"


def test_tokens_are_refused_503_until_revocations_load(
    stack: Stack, keys: Keys, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # auth's catch-up endpoint unreachable: the gateway cannot know revoked sessions, so it accepts none
    with running_gateway(stack, tmp_path_factory.mktemp("gwu"), AUTH_URL=f"http://127.0.0.1:{stack.dead_port}",
                         JWKS_URL=f"http://127.0.0.1:{stack.ports['auth']}/api/auth/.well-known/jwks.json",
                         REVOCATION_STARTUP_WAIT_S="0.5") as g, g.client() as c:
        r = c.get("/api/shows/1", headers=bearer(keys.token()))
        assert r.status_code == 503 and r.json()["code"] == "sessions_unavailable"
        assert c.get("/ready").status_code == 503


def test_websocket_token_in_the_query_string_is_refused(gw: Gw, keys: Keys) -> None:
    token = keys.token()
    for param in ("access_token", "token"):
        with pytest.raises(InvalidStatus) as info:
            ws_connect(_ws_url(gw) + f"?{param}={token}").close()
        assert info.value.response.status_code == 401
