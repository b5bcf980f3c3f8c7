"""The gateway as one raw ASGI app: routing, auth pre-check, CORS, rate limits, proxying, utilities."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import itertools
import logging
import os
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from gateway import health
from gateway.accesslog import AccessLog
from gateway.auth import check_csrf, from_service_error, not_authenticated
from gateway.client import Pool
from gateway.config import GatewaySettings, get_settings
from gateway.cors import Cors
from gateway.docs import DocsCache
from gateway.metrics import Metrics
from gateway.proxy import ClientGone, HttpProxy, ResponseAborted, make_session, payload_too_large
from gateway.ratelimit import make_limiter
from gateway.responses import (
    HTML_CT,
    JSON_CT,
    GatewayError,
    Headers,
    Receive,
    Scope,
    Send,
    send_bytes,
    send_error,
    send_json,
)
from gateway.routes import SELF_AUTHENTICATING, Upstream, is_public, is_unsafe_path, match_route, route_label
from gateway.static import CSP_NO_SCRIPT, SECURITY_HEADERS, StaticSite, prefers_html
from gateway.websocket import handle_websocket
from shared.auth import TokenVerifier, extract_token
from shared.broadcast import Broadcast
from shared.errors import ServiceError
from shared.internal import InternalClient
from shared.logging import configure_logging, request_id_var
from shared.revocation import RevocationFeed, RevocationList, http_fetch

log = logging.getLogger("gateway")

RID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
# Request headers never forwarded: hop-by-hop, the ones the gateway sets itself, and internal secrets.
DROP_REQUEST = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-forwarded-port",
        b"forwarded",
        b"x-real-ip",
        b"x-request-id",
        b"x-internal-token",
        b"expect",
    }
)
SMALL_BODY = 64 * 1024
CRLF = b"\r\n"
ROOT_INFO = {"message": "ShareMyShows API", "version": "1.0", "documentation": "/docs"}
NOT_FOUND = GatewayError(404, "Not found.", "not_found")


class Gateway:
    """The ASGI application (see create_app)."""

    def __init__(self, settings: GatewaySettings) -> None:
        """Build everything that needs no event loop; sessions are made at start-up."""
        self.settings = settings
        urls = settings.upstream_urls()
        self.upstreams = {
            name: Upstream(name, bases, settings.balancer, settings.eject_seconds) for name, bases in urls.items()
        }
        self.cors = Cors(settings.cors_origin_set())
        self.static = StaticSite(settings.web_dir, settings.content_security_policy)
        self.metrics = Metrics() if settings.metrics_enabled else None
        self.limiter = make_limiter(settings.redis_url or None)
        self.sessions: dict[str, aiohttp.ClientSession] = {}  # WebSockets, health, docs, JWKS
        self.pools = {name: Pool(settings.pool_size, settings.connect_timeout) for name in urls}  # the proxy path
        self.proxy = HttpProxy(self.pools, settings.read_timeout)
        # Host for a request that came without one (HTTP/1.0): the service's first instance
        self._host_of = {name: urlsplit(bases[0]).netloc.encode() if bases else b"localhost"
                         for name, bases in urls.items()}
        self.docs = DocsCache(self.sessions, self.upstreams, settings.openapi_cache_seconds)
        # the one verifier: JWKS fetched asynchronously, revoked sessions pushed and caught up in a thread
        self.revocations = RevocationList()
        self.verifier = TokenVerifier(
            None,
            settings.jwt_issuer,
            settings.jwt_audience,
            async_jwks_fetch=self._fetch_jwks,
            revocations=self.revocations,
            refetch_interval_s=settings.jwks_min_refetch_seconds,
            cache_size=settings.token_cache_size,
        )
        self.broadcast = Broadcast.from_settings(settings, "gateway")
        self._auth_client = InternalClient(settings.auth_url, settings.internal_token, service="auth",
                                           timeout_s=max(settings.internal_timeout_s, 3.0))
        self.revocation_feed = RevocationFeed(self.revocations, http_fetch(self._auth_client),
                                              interval_s=settings.revocation_catchup_s)
        self.revocation_feed.attach(self.broadcast)
        self.started = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._hops = settings.trusted_proxy_hops
        self._ip_limit = settings.rate_limit_ip
        self._user_limit = settings.rate_limit_user
        self._window = settings.rate_limit_window
        self.access_log = AccessLog("gateway") if settings.access_log else None
        self.ws_tunnel = settings.ws_tunnel  # read by gateway.server at a WebSocket upgrade
        # largest request body: MAX_BODY_BYTES, or the kind's file size (+ multipart slack) on upload routes
        self.max_body = settings.max_body_bytes
        self.body_limits = settings.upload_body_limits()
        # Request ids: a random per-process prefix and a counter (unique, and far cheaper than uuid4).
        self._rid_prefix = os.urandom(6).hex()
        self._rid_counter = itertools.count(1)

    # ---- ASGI entry -------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch by scope type."""
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "websocket":
            started = time.perf_counter()
            status = await handle_websocket(self, scope, receive, send)
            self._done("WS", scope["path"], status, started, "ws")
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    # ---- lifecycle --------------------------------------------------------------------------
    async def startup(self) -> None:
        """Create one pooled session per upstream, load the JWKS, start background tasks."""
        s = self.settings
        for name in self.upstreams:
            self.sessions[name] = make_session(s.pool_size, s.connect_timeout, s.read_timeout)
        await self.verifier.refresh_async(force=True)
        self._tasks.append(asyncio.create_task(self._refresh_jwks_forever()))
        if self.metrics is not None:
            self._tasks.append(asyncio.create_task(self.metrics.flush_forever()))
        self.broadcast.start()
        self.revocation_feed.start()
        # refuse already-revoked sessions from the first request on (tokens get 503 until loaded)
        if not await asyncio.to_thread(self.revocations.wait_ready, s.revocation_startup_wait_s):
            log.warning("revoked sessions not loaded yet: tokens are refused (503) until auth answers")
        await self.limiter.start()
        if self.access_log is not None:
            self.access_log.start()
        # Everything imported and built so far lives for the whole process: keep it out of the cyclic
        # GC's scans (a full collection over FastAPI/pydantic's import-time objects is costly).
        gc.collect()
        gc.freeze()
        self.started = True

    async def shutdown(self) -> None:
        """Stop background tasks and close the sessions."""
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await self.limiter.stop()
        await asyncio.to_thread(self.revocation_feed.stop)
        await asyncio.to_thread(self.broadcast.stop)
        self._auth_client.close()
        if self.access_log is not None:
            await self.access_log.stop()
        for session in self.sessions.values():
            await session.close()
        self.sessions.clear()
        for pool in self.pools.values():
            await pool.close()

    async def lifespan(self, receive: Receive, send: Send) -> None:
        """ASGI lifespan protocol."""
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("gateway start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _fetch_jwks(self) -> dict[str, Any]:
        """The JWKS from JWKS_URL or the first auth instance that answers."""
        session = self.sessions.get("auth")
        if session is None:
            raise RuntimeError("not started")
        urls = [self.settings.jwks_url] if self.settings.jwks_url else [
            f"{i.base}/api/auth/.well-known/jwks.json" for i in self.upstreams["auth"].instances
        ]
        last: Exception | None = None
        for url in urls:
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=2.0)) as resp:
                    resp.raise_for_status()
                    data: dict[str, Any] = await resp.json(content_type=None)
                    return data
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                last = exc
        raise RuntimeError(f"JWKS unavailable: {last}")

    async def _refresh_jwks_forever(self) -> None:
        """Refresh the keys periodically (sooner while auth has not answered yet)."""
        while True:
            await asyncio.sleep(self.settings.jwks_refresh_seconds if self.verifier.kids else 5.0)
            await self.verifier.refresh_async(force=True)

    # ---- helpers used by the HTTP and WebSocket paths ----------------------------------------
    def request_id(self, incoming: str | None) -> str:
        """A sane incoming X-Request-ID, or a new one (32 hex chars)."""
        if incoming and len(incoming) <= 128 and RID_CHARS.issuperset(incoming):
            rid = incoming
        else:
            rid = f"{self._rid_prefix}{next(self._rid_counter):020x}"
        request_id_var.set(rid)
        return rid

    def client_ip(self, scope: Scope, xff: str | None) -> str:
        """The client address, trusting X-Forwarded-For only for the configured number of proxy hops."""
        client = scope.get("client")
        peer = client[0] if client else "unknown"
        if not self._hops or not xff:
            return peer
        chain = [p.strip() for p in xff.split(",") if p.strip()]
        chain.append(peer)
        return chain[max(0, len(chain) - 1 - self._hops)]

    def forwarded_for(self, scope: Scope, xff: str | None) -> str:
        """X-Forwarded-For for the upstream: the trusted part of the chain, starting at the client."""
        client = scope.get("client")
        peer = client[0] if client else "unknown"
        if not self._hops or not xff:
            return peer
        chain = [p.strip() for p in xff.split(",") if p.strip()]
        chain.append(peer)
        return ", ".join(chain[max(0, len(chain) - 1 - self._hops) :])

    def check_rate(self, key: str, limit: int) -> None:
        """Count a hit; GatewayError(429) with Retry-After when over the limit."""
        if limit <= 0:
            return
        allowed, retry = self.limiter.hit(key, limit, self._window)
        if not allowed:
            raise GatewayError(
                429,
                "Too many requests; slow down and try again shortly.",
                "rate_limited",
                [(b"retry-after", str(retry).encode())],
            )

    @staticmethod
    def not_authenticated() -> GatewayError:
        """The 401 for a protected route without a token."""
        return not_authenticated()

    @staticmethod
    def same_origin(origin: str, host: str | None) -> bool:
        """Whether an Origin points at the host the request was sent to."""
        if not host:
            return False
        return origin.split("://", 1)[-1].rstrip("/") == host

    def _done(
        self, method: str, path: str, status: int, started: float, upstream: str | None = None
    ) -> None:
        """Access log line and metrics for a finished request."""
        elapsed = time.perf_counter() - started
        if self.metrics is not None:
            self.metrics.observe(method, route_label(path), status, elapsed)
        if self.access_log is not None and self.access_log.enabled:
            self.access_log.write(method, path, status, elapsed * 1000, upstream, request_id_var.get() or "-")

    # ---- HTTP -------------------------------------------------------------------------------
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one HTTP request."""
        started = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        service = match_route(path)
        authorization = cookie = origin = rid_in = xff = None
        h: dict[bytes, str] = {}
        fwd: list[bytes] = []  # the forwarded header block, as `name: value\r\n` pieces (joined once)
        content_length: str | None = None
        chunked = False
        proxied = service is not None
        for name, value in scope["headers"]:
            v = value.decode("latin-1")
            if name == b"authorization":
                authorization = v
            elif name == b"cookie":
                cookie = v if cookie is None else f"{cookie}; {v}"
                continue  # forwarded once, joined, below
            elif name == b"origin":
                origin = v
            elif name == b"x-request-id":
                rid_in = v
                continue
            elif name == b"x-forwarded-for":
                xff = v
                continue
            elif name == b"content-length":
                content_length = v
                continue  # forwarded below unless the body is chunked
            elif name == b"transfer-encoding":
                chunked = True
                continue
            else:
                h[name] = v
                if name in DROP_REQUEST:
                    continue
            if proxied:
                fwd += (name, b": ", value, CRLF)
        rid = self.request_id(rid_in)
        rid_b = rid.encode()
        extra: Headers = [(b"x-request-id", rid_b)]
        if origin is not None:
            extra.extend(self.cors.response_headers(origin))
        status = 500
        try:
            if method == "OPTIONS" and origin is not None and b"access-control-request-method" in h:
                status = await self._preflight(send, origin, h, rid_b)
            elif service is not None:
                status = await self._proxy(
                    scope, receive, send, service, method, path, fwd, h, authorization, cookie, origin, xff,
                    content_length, chunked, rid, extra,
                )
                self._done(method, path, status, started, service)
                return
            else:
                status = await self._local(scope, receive, send, method, path, h, extra)
        except GatewayError as err:
            status = err.status
            await send_error(send, err, extra)
        except ClientGone:
            status = 499
        except ResponseAborted as exc:
            # Returning with the body incomplete makes uvicorn cut the connection, so the client can
            # tell the body is short (no traceback: the proxy already logged why).
            status = exc.status
        except Exception:
            log.exception("unexpected error on %s %s", method, path)
            status = 500
            err = GatewayError(500, "Something went wrong on our side.", "internal_error")
            # If the response had started, sending fails and uvicorn closes the connection instead.
            with contextlib.suppress(RuntimeError):
                await send_error(send, err, extra)
        self._done(method, path, status, started, service)

    async def _preflight(self, send: Send, origin: str, h: dict[bytes, str], rid: bytes) -> int:
        """Answer a CORS preflight (only for configured origins)."""
        if not self.cors.allowed(origin):
            raise GatewayError(403, "This origin is not allowed.", "origin_not_allowed")
        headers = self.cors.preflight_headers(origin, h.get(b"access-control-request-headers"))
        headers.append((b"x-request-id", rid))
        await send_bytes(send, 204, b"", headers)
        return 204

    async def _proxy(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        service: str,
        method: str,
        path: str,
        fwd: list[bytes],
        h: dict[bytes, str],
        authorization: str | None,
        cookie: str | None,
        origin: str | None,
        xff: str | None,
        content_length: str | None,
        chunked: bool,
        rid: str,
        extra: Headers,
    ) -> int:
        """Auth pre-check, CSRF, rate limits, then forward to the service."""
        if is_unsafe_path(path):
            raise GatewayError(400, "The path is not valid.", "bad_path")
        self.check_rate(f"ip:{self.client_ip(scope, xff)}", self._ip_limit)
        # Body size before anything else reads the body: a declared length is refused now (nothing is
        # read, no 100-continue is sent), a chunked body is counted while it streams (proxy.forward).
        body_limit = 0
        length = 0
        if chunked or content_length is not None:
            body_limit = self.body_limits.get((method, path.rstrip("/")), self.max_body)
            if content_length is not None and not chunked:
                length = int(content_length) if content_length.isascii() and content_length.isdigit() else -1
                if length < 0:
                    raise GatewayError(400, "Content-Length is not a number.", "bad_request")
                if length > body_limit:
                    raise payload_too_large(body_limit)
        token, via_cookie = extract_token(authorization, cookie)
        if token is not None:
            try:
                claims = await self.verifier.verify_async(token)
            except ServiceError as exc:
                if service not in SELF_AUTHENTICATING and not is_public(path):
                    raise from_service_error(exc) from None
                claims = None  # the service judges it (a stale cookie must not block signing in)
            if claims is not None:
                if via_cookie and method not in ("GET", "HEAD", "OPTIONS"):
                    check_csrf(method, {k.decode(): v for k, v in h.items()} | _origin(origin), claims,
                               via_cookie)
                self.check_rate(f"user:{claims['sub']}", self._user_limit)
        elif service not in SELF_AUTHENTICATING and not is_public(path):
            raise not_authenticated()

        if cookie is not None:
            fwd += (b"cookie: ", cookie.encode("latin-1"), CRLF)
        fwd += (b"x-request-id: ", rid.encode(), CRLF,
                b"x-forwarded-for: ", self.forwarded_for(scope, xff).encode("latin-1"), CRLF)
        proto = h.get(b"x-forwarded-proto") if self._hops else None
        fwd += (b"x-forwarded-proto: ", (proto or scope.get("scheme", "http")).encode("latin-1"), CRLF)
        host = h.get(b"host")
        if host:
            fwd += (b"x-forwarded-host: ", host.encode("latin-1"), CRLF)  # Host itself went with the others
        else:
            fwd += (b"host: ", self._host_of[service], CRLF)  # HTTP/1.1 requires one
        if chunked:
            body_kind = 2
        elif length:
            body_kind = 1 if length <= SMALL_BODY else 2
            fwd += (b"content-length: ", content_length.encode(), CRLF)  # type: ignore[union-attr]
        else:
            body_kind = 0
            if content_length is not None:
                fwd += (b"content-length: ", content_length.encode(), CRLF)
        upstream = self.upstreams[service]
        status, _ = await self.proxy.forward(scope, receive, send, upstream, b"".join(fwd), body_kind, extra,
                                             body_limit, chunked)
        return status

    async def _local(
        self, scope: Scope, receive: Receive, send: Send, method: str, path: str, h: dict[bytes, str],
        extra: Headers,
    ) -> int:
        """Paths the gateway answers itself: /, /health, /ready, /docs, /openapi.json, /metrics, files."""
        head = method == "HEAD"
        if method not in ("GET", "HEAD"):
            if path.startswith(("/api", "/internal")):
                raise NOT_FOUND
            raise GatewayError(405, "Method not allowed.", "method_not_allowed", [(b"allow", b"GET, HEAD")])
        if path == "/health":
            data = await health.aggregate(self.sessions, self.upstreams, self.settings.health_timeout)
            await send_json(send, 200, data, [*extra, (b"cache-control", b"no-store")], head=head)
            return 200
        if path == "/ready":
            data = await health.aggregate(self.sessions, self.upstreams, self.settings.health_timeout)
            ready = self.started and self.revocations.ready
            data["status"] = "ready" if ready else "starting"
            status = 200 if ready else 503
            await send_json(send, status, data, [*extra, (b"cache-control", b"no-store")], head=head)
            return status
        if path in ("/openapi.json", "/docs") and not self.settings.docs_enabled:
            raise NOT_FOUND
        if path == "/openapi.json":
            await send_json(send, 200, await self.docs.spec(), extra, head=head)
            return 200
        if path == "/docs":
            headers = [HTML_CT, *SECURITY_HEADERS, (b"content-security-policy", CSP_NO_SCRIPT), *extra]
            await send_bytes(send, 200, await self.docs.html(), headers, head=head)
            return 200
        if path == "/metrics":
            self._check_metrics_token(scope)
            body, ctype = self.metrics.exposition() if self.metrics else (b"", b"text/plain")
            await send_bytes(send, 200, body, [(b"content-type", ctype), (b"cache-control", b"no-store"), *extra],
                             head=head)
            return 200
        if path.startswith(("/api/", "/internal")) or path in ("/api", "/internal"):
            raise NOT_FOUND
        html = prefers_html(h.get(b"accept"))
        host = h.get(b"host")
        if path == "/":
            if html:
                return await self.static.send_index(send, extra, head=head, host=host)
            await send_json(send, 200, ROOT_INFO, extra, head=head)
            return 200
        if not is_unsafe_path(path):
            file = self.static.find(path)
            if file is not None:
                return await self.static.send_file(
                    send, file, extra, head=head, if_none_match=h.get(b"if-none-match"), host=host
                )
            if html:
                return await self.static.send_index(send, extra, head=head, host=host)
        raise NOT_FOUND

    def _check_metrics_token(self, scope: Scope) -> None:
        """/metrics only with `Authorization: Bearer <GATEWAY_METRICS_TOKEN>` (404 when no token is set)."""
        expected = self.settings.metrics_token
        if not expected:
            raise NOT_FOUND
        authorization = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), "")
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
            raise GatewayError(401, "The metrics need the scrape token.", "not_authenticated",
                               [(b"www-authenticate", b'Bearer realm="metrics"')])


def _origin(origin: str | None) -> dict[str, str]:
    """The Origin header as a mapping entry (it is parsed apart from the others)."""
    return {"origin": origin} if origin is not None else {}


def create_app(settings: GatewaySettings | None = None) -> Gateway:
    """The gateway ASGI app (sessions are created by the lifespan)."""
    settings = settings or get_settings()
    configure_logging("gateway", settings.log_level, settings.log_format)
    return Gateway(settings)


__all__ = ["JSON_CT", "Gateway", "create_app"]
