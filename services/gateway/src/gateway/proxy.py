"""HTTP streaming proxy: one pooled aiohttp session per upstream, bodies streamed both ways."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from yarl import URL

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
    """A pooled session for one upstream: no cookie jar, no decompression, no auto headers."""
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
    """Forwards one HTTP request to an upstream instance and streams the answer back."""

    def __init__(self, sessions: dict[str, aiohttp.ClientSession], idle_timeout: float) -> None:
        """Keep the sessions (one per upstream) and the body idle timeout."""
        self.sessions = sessions
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
        headers: list[tuple[str, str]],
        body_kind: int,
        extra_headers: Headers,
        body_limit: int = 0,
    ) -> tuple[int, Instance | None]:
        """Proxy the request; returns (status sent, instance used). body_kind: 0 none, 1 small, 2 stream.

        A streamed body (2) is counted: past `body_limit` bytes forwarding stops, the upstream connection
        is dropped and the client gets 413 (or, if the response had started, a cut connection).
        """
        method: str = scope["method"]
        session = self.sessions[upstream.name]
        target = scope["raw_path"].decode("latin-1") if scope.get("raw_path") else scope["path"]
        qs: bytes = scope["query_string"]
        if qs:
            target = f"{target}?{qs.decode('latin-1')}"

        data: Any = None
        state = [False, False]  # body stream started, finished
        if body_kind == 1:
            data = await self._read_small(receive)
        elif body_kind == 2:
            data = self._stream_body(receive, state, body_limit)

        inst = upstream.pick()
        attempt = 0
        while True:
            if inst is None:
                raise unavailable(upstream.name)
            attempt += 1
            inst.active += 1
            try:
                # A streamed body waits for the upstream's "100 Continue" (sent when it first reads): an
                # upstream that refuses at once (no rights on the show, over quota) never gets a byte of it,
                # and neither does the gateway pull it from the client.
                resp = await session.request(
                    method,
                    URL(inst.base + target, encoded=True),
                    headers=headers,
                    data=data,
                    allow_redirects=False,
                    expect100=body_kind == 2,
                )
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
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
            except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
                inst.active -= 1
                raise gateway_timeout(upstream.name) from exc
            except ClientGone:
                inst.active -= 1
                raise
            except BodyTooLarge as exc:
                inst.active -= 1
                raise payload_too_large(exc.limit) from None
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                # The instance died with the request in flight: an idempotent request whose body
                # we still hold may safely run again on another replica.
                inst.active -= 1
                upstream.eject(inst)
                can_retry = attempt == 1 and method in IDEMPOTENT and not state[0]
                nxt = upstream.pick(exclude=inst) if can_retry else None
                if nxt is None:
                    log.warning("%s dropped the connection at %s: %r", upstream.name, inst.base, exc)
                    raise bad_gateway(upstream.name) from exc
                inst = nxt
                continue
            except aiohttp.ClientError as exc:
                inst.active -= 1
                if isinstance(exc.__cause__, ClientGone) or isinstance(exc.__context__, ClientGone):
                    raise ClientGone from exc
                too_large = exc.__cause__ or exc.__context__
                if isinstance(too_large, BodyTooLarge):
                    raise payload_too_large(too_large.limit) from None
                log.warning("%s failed at %s: %r", upstream.name, inst.base, exc)
                raise bad_gateway(upstream.name) from exc
            break

        try:
            body_done = body_kind != 2 or state[1]
            return await self._respond(scope, receive, send, resp, extra_headers, upstream, body_done), inst
        finally:
            inst.active -= 1
            resp.release()

    async def _stream_body(self, receive: Receive, state: list[bool], limit: int) -> AsyncIterator[bytes]:
        """The ASGI request body as an async generator (never buffered whole), at most `limit` bytes."""
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
                yield chunk
            if not msg.get("more_body"):
                state[1] = True
                return

    async def _respond(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        resp: aiohttp.ClientResponse,
        extra_headers: Headers,
        upstream: Upstream,
        body_done: bool,
    ) -> int:
        """Send the upstream's status, headers and body to the client."""
        status = resp.status
        out: Headers = []
        length = -1
        for name, value in resp.raw_headers:
            lname = name.lower()
            if lname in DROP_RESPONSE:
                continue
            if lname == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    continue
            out.append((lname, value))
        out.extend(extra_headers)
        head = scope["method"] == "HEAD" or status in NO_BODY_STATUS or status < 200
        if head or 0 <= length <= SMALL_RESPONSE:
            try:
                body = b"" if head else await resp.read()
            except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
                raise gateway_timeout(upstream.name) from exc
            except aiohttp.ClientError as exc:
                raise bad_gateway(upstream.name) from exc
            await send({"type": "http.response.start", "status": status, "headers": out})
            await send({"type": "http.response.body", "body": body})
            return status

        # Large or unknown length: stream; the first chunk is read before answering so that an
        # upstream failing right away still gets a clean error response.
        content = resp.content
        try:
            first = await content.readany()
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise gateway_timeout(upstream.name) from exc
        except aiohttp.ClientError as exc:
            raise bad_gateway(upstream.name) from exc
        await send({"type": "http.response.start", "status": status, "headers": out})
        if first:
            await send({"type": "http.response.body", "body": first, "more_body": True})
        # uvicorn drops sends after a disconnect, so watch for it to stop pulling from the upstream.
        watcher = asyncio.ensure_future(_until_disconnect(receive)) if body_done else None
        try:
            async for chunk in content.iter_any():
                if watcher is not None and watcher.done():
                    resp.close()
                    return 499
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except (TimeoutError, aiohttp.ClientError) as exc:
            # Headers are out: all we can do is cut the connection so the client sees a short body.
            log.warning("%s response stream broke: %r", upstream.name, exc)
            resp.close()
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
