"""WebSocket proxying as a byte tunnel (as nginx does), after the gateway has authorised the handshake.

The frame-by-frame proxy (gateway.websocket.handle_websocket) parses every frame twice and builds it
again twice, in Python: for a chat message fanned out to 200 sockets that is 200 frames through the ASGI
server and 200 through aiohttp's client. Here, once the request is authorised (gateway.websocket.authorize)
and the service has answered its own handshake with 101, the two TCP connections are joined: bytes read on
one side are written to the other, with flow control (a side whose buffer is full stops the other from
reading). Frames, masking, pings and close codes (4401, 4403 with their reason) pass unchanged: the
client's handshake key goes to the service, whose Sec-WebSocket-Accept is valid for the client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from gateway.responses import GatewayError
from gateway.websocket import authorize

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger("gateway.websocket")
WRITE_HIGH_WATER = 256 * 1024


class _Side(asyncio.Protocol):
    """One end of the tunnel: what it reads goes to the peer's transport."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self.closed = False
        self.pending: list[bytes] = []  # bytes read before the tunnel opened

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None:
            peer.transport.write(data)
        else:
            self.pending.append(data)

    def eof_received(self) -> bool:
        return False  # close; connection_lost closes the peer

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.closed:
            peer.transport.close()  # after what is buffered has gone out
        self.on_closed()

    def on_closed(self) -> None:
        """Hook for the owner."""

    # the peer stops reading while this side cannot write
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def join(self, peer: _Side) -> None:
        """Start relaying to `peer` (and flush what was read before)."""
        self.peer = peer
        if peer.transport is not None:
            # absorb a burst (a message fanned out to a slow reader) before pushing back: bounded per socket
            peer.transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        if self.pending and peer.transport is not None:
            peer.transport.write(b"".join(self.pending))
        self.pending = []


class ClientSide(_Side):
    """The client's connection once the HTTP protocol has handed it over."""

    def __init__(self, transport: asyncio.Transport, connections: set[Any], on_closed: Any) -> None:
        super().__init__()
        self.transport = transport
        self._connections = connections
        self._on_closed = on_closed
        connections.add(self)

    def on_closed(self) -> None:
        self._connections.discard(self)
        self._on_closed()

    def shutdown(self) -> None:
        """Server shutdown: cut the tunnel."""
        if self.transport is not None:
            self.transport.close()


class UpstreamSide(_Side):
    """The service's connection: first its handshake answer (parsed), then raw bytes."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers: dict[bytes, bytes] = {}
        self.answer: asyncio.Future[bytes] = loop.create_future()  # the bytes after the 101 head

    def data_received(self, data: bytes) -> None:
        if self.answer.done():
            super().data_received(data)
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self.answer.set_result(data[exc.args[0]:])
        except httptools.HttpParserError as exc:
            self.answer.set_exception(ConnectionError(f"bad handshake answer: {exc}"))

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.status != 101 and not self.answer.done():
            self.answer.set_result(b"")  # refused: the status is all the gateway needs

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answer.done():
            self.answer.set_exception(ConnectionError("connection closed during the handshake"))
        super().connection_lost(exc)


def _http_answer(err: GatewayError, rid: str) -> bytes:
    body = json.dumps({"error": err.message, "code": err.code}).encode()
    head = [STATUS_LINE.get(err.status, b"HTTP/1.1 %d \r\n" % err.status),
            b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n" % len(body)]
    for name, value in err.headers:
        head.append(name + b": " + value + b"\r\n")
    if rid:
        head.append(b"x-request-id: " + rid.encode() + b"\r\n")
    return b"".join(head) + b"\r\n" + body


async def tunnel(
    gw: Gateway, client: ClientSide, url: bytes, headers: list[tuple[bytes, bytes]], peer: Any, scheme: str
) -> None:
    """Authorise the upgrade request, do the service's handshake, answer the client, join the sockets."""
    started = time.perf_counter()
    parsed = httptools.parse_url(url)
    raw_path = parsed.path
    path = raw_path.decode("latin-1")
    if "%" in path:
        path = urllib.parse.unquote(path)
    scope: dict[str, Any] = {"type": "websocket", "path": path, "raw_path": raw_path,
                             "query_string": parsed.query or b"", "headers": headers, "client": peer,
                             "scheme": "wss" if scheme == "https" else "ws"}
    rid = ""
    status = 500
    upstream_side: UpstreamSide | None = None
    try:
        try:
            plan = await authorize(gw, scope)
            rid = plan.rid
            upstream_side, status = await _connect(gw, plan, headers)
        except GatewayError as err:
            rid = rid or gw.request_id(None)
            status = err.status
            if client.transport is not None and not client.closed:
                client.transport.write(_http_answer(err, rid))
                client.transport.close()
            return
        if client.closed:
            upstream_side.transport.close()  # type: ignore[union-attr]
            return
        h = upstream_side.headers
        chosen = h.get(b"sec-websocket-protocol") or (plan.marker.encode() if plan.proto_token and plan.marker
                                                      else None)
        answer = [STATUS_LINE[101], b"upgrade: websocket\r\nconnection: Upgrade\r\n",
                  b"sec-websocket-accept: " + h.get(b"sec-websocket-accept", b"") + b"\r\n"]
        if chosen:
            answer.append(b"sec-websocket-protocol: " + chosen + b"\r\n")
        if b"sec-websocket-extensions" in h:
            answer.append(b"sec-websocket-extensions: " + h[b"sec-websocket-extensions"] + b"\r\n")
        answer.append(b"x-request-id: " + rid.encode() + b"\r\n\r\n")
        client.transport.write(b"".join(answer))  # type: ignore[union-attr]
        early = upstream_side.answer.result()
        if early:
            client.transport.write(early)  # type: ignore[union-attr]
        client.join(upstream_side)
        upstream_side.join(client)
        status = 101
        client._on_closed = lambda: gw._done("WS", path, 101, started, "ws")
    except Exception:
        log.exception("websocket tunnel failed on %s", path)
        if upstream_side is not None and upstream_side.transport is not None:
            upstream_side.transport.close()
        if client.transport is not None:
            client.transport.close()
    finally:
        if status != 101:
            gw._done("WS", path, status, started, "ws")


async def _connect(gw: Gateway, plan: Any, headers: list[tuple[bytes, bytes]]) -> tuple[UpstreamSide, int]:
    """Open the service's side and do its handshake (one retry on another instance if it cannot connect)."""
    upstream = gw.upstreams[plan.service]
    client_h = dict(headers)
    lines = [f"GET {plan.target} HTTP/1.1\r\n".encode("latin-1"),
             b"upgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-version: 13\r\n",
             b"sec-websocket-key: " + client_h.get(b"sec-websocket-key", b"") + b"\r\n"]
    if plan.protocols:
        lines.append(b"sec-websocket-protocol: " + ", ".join(plan.protocols).encode("latin-1") + b"\r\n")
    if b"sec-websocket-extensions" in client_h:
        lines.append(b"sec-websocket-extensions: " + client_h[b"sec-websocket-extensions"] + b"\r\n")
    for name, value in plan.up_headers.items():
        lines.append(f"{name}: {value}\r\n".encode("latin-1"))
    loop = asyncio.get_running_loop()
    settings = gw.settings
    inst = upstream.pick()
    for attempt in (1, 2):
        if inst is None:
            break
        netloc = urllib.parse.urlsplit(inst.base)
        side = UpstreamSide(loop)
        try:
            async with asyncio.timeout(settings.connect_timeout):
                await loop.create_connection(lambda s=side: s, netloc.hostname, netloc.port or 80)
        except (OSError, TimeoutError) as exc:
            upstream.eject(inst)
            log.warning("%s unreachable at %s: %r", plan.service, inst.base, exc)
            inst = upstream.pick(exclude=inst) if attempt == 1 else None
            continue
        side.transport.write(b"".join([*lines, b"host: ", netloc.netloc.encode(), b"\r\n\r\n"]))  # type: ignore[union-attr]
        try:
            async with asyncio.timeout(settings.read_timeout):
                await side.answer
        except (ConnectionError, TimeoutError) as exc:
            side.transport.close()  # type: ignore[union-attr]
            raise GatewayError(502, f"The {plan.service} service answered badly, try again shortly.",
                               "bad_gateway") from exc
        if side.status != 101:
            side.transport.close()  # type: ignore[union-attr]
            status = side.status if 400 <= side.status < 600 else 502
            raise GatewayError(status, "The service refused the connection.", "ws_refused")
        return side, 101
    raise GatewayError(503, f"The {plan.service} service is unavailable, try again shortly.", "service_unavailable")


def start(gw: Gateway, proto: Any) -> None:
    """Take an upgrade request over from uvicorn's HTTP protocol `proto` (its transport and request head)."""
    transport = proto.transport
    client = ClientSide(transport, proto.connections, lambda: None)
    transport.set_protocol(client)
    task = proto.loop.create_task(tunnel(gw, client, proto.url, list(proto.headers), proto.client,
                                         proto.scheme or "http"))
    proto.tasks.add(task)
    task.add_done_callback(proto.tasks.discard)
    proto.connections.discard(proto)
