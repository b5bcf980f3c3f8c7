"""HTTP streaming proxy: one connection pool per upstream (gateway.client), bodies streamed both ways."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp

from gateway.client import Conn, ConnectFailed, Disconnected, Pool, ReadTimeout, UpstreamError
from gateway.responses import GatewayError, Headers, Receive, Scope, Send
from gateway.routes import Instance, Upstream
from shared.limits import too_large_message

log = logging.getLogger("gateway.proxy")

HOP_BY_HOP = frozenset(
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
    }
)
# Response headers the gateway replaces with its own (uvicorn sets date; CORS is the gateway's job).
DROP_RESPONSE = HOP_BY_HOP | {
    b"date",
    b"server",
    b"x-request-id",
    b"access-control-allow-origin",
    b"access-control-allow-credentials",
    b"access-control-allow-methods",
    b"access-control-allow-headers",
    b"access-control-expose-headers",
    b"access-control-max-age",
}
SMALL_BODY = 64 * 1024
SMALL_RESPONSE = 256 * 1024
NO_BODY_STATUS = frozenset({204, 304})


class ClientGone(Exception):
    """The client disconnected while its request body was being forwarded."""


class BodyTooLarge(Exception):
    """A streamed request body went over the route's limit (forwarding stopped)."""

    def __init__(self, limit: int) -> None:
        """Remember the limit for the 413 message."""
        super().__init__(limit)
        self.limit = limit


def payload_too_large(limit: int) -> GatewayError:
    """413: the request body is over the route's limit."""
    return GatewayError(413, too_large_message(limit), "payload_too_large")


IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def unavailable(service: str) -> GatewayError:
    """503: the service refused or could not be reached."""
    return GatewayError(503, f"The {service} service is unavailable, try again shortly.", "service_unavailable")


def bad_gateway(service: str) -> GatewayError:
    """502: the service answered with something that is not HTTP or dropped the connection."""
    return GatewayError(502, f"The {service} service answered badly, try again shortly.", "bad_gateway")


def gateway_timeout(service: str) -> GatewayError:
    """504: the service took longer than the read timeout."""
    return GatewayError(504, f"The {service} service took too long to answer, try again shortly.", "gateway_timeout")


def make_session(pool_size: int, connect_timeout: float, read_timeout: float) -> aiohttp.ClientSession:
    """A pooled aiohttp session for one upstream (WebSockets, health, docs, JWKS: not the proxy path)."""
    connector = aiohttp.TCPConnector(
        limit=pool_size,
        limit_per_host=0,
        keepalive_timeout=30,
        ttl_dns_cache=300,
        enable_cleanup_closed=False,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None, connect=None, sock_connect=connect_timeout, sock_read=read_timeout),
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
        skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        read_bufsize=2**16,
        raise_for_status=False,
    )


class HttpProxy:
    """Forwards one HTTP request to an upstream instance and streams the answer back (gateway.client)."""

    def __init__(self, pools: dict[str, Pool], idle_timeout: float) -> None:
        """Keep the connection pools (one per upstream) and the read / body idle timeout."""
        self.pools = pools
        self.idle_timeout = idle_timeout

    async def _read_small(self, receive: Receive) -> bytes:
        """Read a small request body completely (so the request can be retried)."""
        chunks: list[bytes] = []
        while True:
            async with asyncio.timeout(self.idle_timeout):
                msg = await receive()
            if msg["type"] == "http.disconnect":
                raise ClientGone
            chunk = msg.get("body", b"")
            if chunk:
                chunks.append(chunk)
            if not msg.get("more_body"):
                return b"".join(chunks)

    async def forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        upstream: Upstream,
        headers: bytes,
        body_kind: int,
        extra_headers: Headers,
        body_limit: int = 0,
        chunked: bool = False,
    ) -> tuple[int, Instance | None]:
        """Proxy the request; returns (status sent, instance used). body_kind: 0 none, 1 small, 2 stream.

        `headers` is the request's header block to forward (`name: value\r\n` lines, Host included).
        A streamed body (2) is counted: past `body_limit` bytes forwarding stops, the upstream connection
        is dropped and the client gets 413 (or, if the response had started, a cut connection). `chunked`:
        the streamed body has no declared length and goes on with chunked transfer coding.
        """
        method: str = scope["method"]
        pool = self.pools[upstream.name]
        target: bytes = scope.get("raw_path") or scope["path"].encode("latin-1")
        qs: bytes = scope["query_string"]
        if qs:
            target = target + b"?" + qs
        head = b"".join((method.encode("latin-1"), b" ", target, b" HTTP/1.1\r\n", headers))
        if body_kind == 2:
            # A streamed body waits for the upstream's "100 Continue" (sent when it first reads): an
            # upstream that refuses at once (no rights on the show, over quota) never gets a byte of it,
            # and neither does the gateway pull it from the client.
            head += b"transfer-encoding: chunked\r\nexpect: 100-continue\r\n\r\n" if chunked else \
                b"expect: 100-continue\r\n\r\n"
        else:
            head += b"\r\n"
            if body_kind == 1:
                head += await self._read_small(receive)
        head_only = method == "HEAD"
        timeout = self.idle_timeout
        state = [False, False]  # body stream started, finished

        inst = upstream.pick()
        attempt = 0
        fresh = False
        while True:
            if inst is None:
                raise unavailable(upstream.name)
            attempt += 1
            inst.active += 1
            conn: Conn | None = None
            try:
                conn = await pool.acquire(inst.base, head_only, fresh)
                conn.write(head)
                if body_kind == 2:
                    await self._send_body(conn, receive, state, body_limit, chunked, timeout)
                else:
                    await conn.head(timeout)
            except ConnectFailed as exc:
                inst.active -= 1
                upstream.eject(inst)
                # Nothing reached the upstream, so one retry elsewhere is safe for every method
                # (idempotent or not) as long as a streamed body was not started.
                can_retry = attempt == 1 and not state[0]
                nxt = upstream.pick(exclude=inst) if can_retry else None
                if nxt is None:
                    log.warning("%s unreachable at %s: %s", upstream.name, inst.base, exc)
                    raise unavailable(upstream.name) from exc
                inst = nxt
                continue
            except Disconnected as exc:
                inst.active -= 1
                self._drop(pool, conn)
                retryable = method in IDEMPOTENT and not state[0]
                if retryable and exc.reused and not exc.answered and not fresh:
                    # A kept-alive connection the upstream had just closed: the request never ran there.
                    fresh = True
                    attempt -= 1
                    continue
                # The instance died with the request in flight: an idempotent request whose body
                # we still hold may safely run again on another replica.
                upstream.eject(inst)
                nxt = upstream.pick(exclude=inst) if retryable and attempt == 1 else None
                if nxt is None:
                    log.warning("%s dropped the connection at %s: %s", upstream.name, inst.base, exc)
                    raise bad_gateway(upstream.name) from exc
                inst = nxt
                fresh = False
                continue
            except ReadTimeout as exc:
                inst.active -= 1
                self._drop(pool, conn)
                raise gateway_timeout(upstream.name) from exc
            except TimeoutError as exc:  # the client's body stalled past the idle timeout
                inst.active -= 1
                self._drop(pool, conn)
                raise gateway_timeout(upstream.name) from exc
            except BodyTooLarge as exc:
                inst.active -= 1
                self._drop(pool, conn)
                raise payload_too_large(exc.limit) from None
            except UpstreamError as exc:
                inst.active -= 1
                self._drop(pool, conn)
                log.warning("%s failed at %s: %r", upstream.name, inst.base, exc)
                raise bad_gateway(upstream.name) from exc
            except BaseException:  # ClientGone, cancellation
                inst.active -= 1
                self._drop(pool, conn)
                raise
            break

        try:
            body_done = body_kind != 2 or state[1]
            return await self._respond(scope, receive, send, conn, extra_headers, upstream, body_done), inst
        finally:
            inst.active -= 1
            pool.release(conn)

    @staticmethod
    def _drop(pool: Pool, conn: Conn | None) -> None:
        if conn is not None:
            conn.reusable = False
            pool.release(conn)

    async def _send_body(
        self, conn: Conn, receive: Receive, state: list[bool], limit: int, chunked: bool, wait_s: float
    ) -> None:
        """After `Expect: 100-continue`, stream the body while watching for an early answer; return on the head."""
        if not await conn.wait_continue(wait_s):
            # answered without the body, which the upstream may still expect: the connection is not reused
            conn.reusable = False
            return
        head = conn.head_future()
        pump = asyncio.ensure_future(self._pump(conn, receive, state, limit, chunked))
        try:
            await asyncio.wait((pump, head), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            pump.cancel()
            raise
        if head.done():
            exc = head.exception()
            if exc is not None or not pump.done():
                pump.cancel()
                with contextlib.suppress(BaseException):
                    await pump
            elif not pump.cancelled():
                pump.exception()  # an answer that came first wins over a body cut short by the upstream
            if exc is not None:
                raise exc
            if not state[1]:
                conn.reusable = False  # answered before the whole body was sent (e.g. a 413 mid-upload)
            return
        head.cancel()
        pump.result()  # ClientGone, BodyTooLarge, TimeoutError or Disconnected surface here
        await conn.head(wait_s)

    async def _pump(self, conn: Conn, receive: Receive, state: list[bool], limit: int, chunked: bool) -> None:
        """Copy the ASGI request body to the upstream chunk by chunk, waiting while its buffer is full."""
        state[0] = True
        idle = self.idle_timeout
        seen = 0
        while True:
            async with asyncio.timeout(idle):
                msg = await receive()
            if msg["type"] == "http.disconnect":
                raise ClientGone
            chunk = msg.get("body", b"")
            if chunk:
                seen += len(chunk)
                if limit and seen > limit:
                    raise BodyTooLarge(limit)
                if chunked:
                    conn.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))  # one write (one syscall)
                else:
                    conn.write(chunk)
                await conn.drain()
            if not msg.get("more_body"):
                if chunked:
                    conn.write(b"0\r\n\r\n")
                state[1] = True
                return

    async def _respond(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        conn: Conn,
        extra_headers: Headers,
        upstream: Upstream,
        body_done: bool,
    ) -> int:
        """Send the upstream's status, headers and body to the client."""
        status = conn.status
        out: Headers = []
        length = -1
        for name, value in conn.headers:
            lname = name.lower()
            if lname in DROP_RESPONSE:
                continue
            if lname == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    continue
            out.append((lname, value))
        out += extra_headers
        timeout = self.idle_timeout
        head = conn.head_only or status in NO_BODY_STATUS
        if head or 0 <= length <= SMALL_RESPONSE:
            try:
                body = b"" if head else await conn.read_all(timeout)
            except ReadTimeout as exc:
                raise gateway_timeout(upstream.name) from exc
            except UpstreamError as exc:
                raise bad_gateway(upstream.name) from exc
            await send({"type": "http.response.start", "status": status, "headers": out})
            await send({"type": "http.response.body", "body": body})
            return status

        # Large or unknown length: stream; the first chunk is read before answering so that an
        # upstream failing right away still gets a clean error response.
        try:
            first = await conn.read_chunk(timeout)
        except ReadTimeout as exc:
            raise gateway_timeout(upstream.name) from exc
        except UpstreamError as exc:
            raise bad_gateway(upstream.name) from exc
        await send({"type": "http.response.start", "status": status, "headers": out})
        if first:
            await send({"type": "http.response.body", "body": first, "more_body": True})
        # uvicorn drops sends after a disconnect, so watch for it to stop pulling from the upstream.
        watcher = asyncio.ensure_future(_until_disconnect(receive)) if body_done else None
        try:
            while first:
                chunk = await conn.read_chunk(timeout)
                if not chunk:
                    break
                if watcher is not None and watcher.done():
                    conn.reusable = False
                    conn.close()
                    return 499
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except UpstreamError as exc:
            # Headers are out: all we can do is cut the connection so the client sees a short body.
            log.warning("%s response stream broke: %r", upstream.name, exc)
            conn.close()
            raise ResponseAborted(status) from exc
        finally:
            if watcher is not None:
                watcher.cancel()
        await send({"type": "http.response.body", "body": b""})
        return status


async def _until_disconnect(receive: Receive) -> None:
    """Return once the client has gone (discarding any unread request body)."""
    while (await receive())["type"] != "http.disconnect":
        pass


class ResponseAborted(Exception):
    """The upstream broke after the response started; the client connection must be cut."""

    def __init__(self, status: int) -> None:
        """Remember the status already sent."""
        super().__init__(status)
        self.status = status
