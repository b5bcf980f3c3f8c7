"""A small pooled HTTP/1.1 client for the proxy path: one asyncio protocol per upstream connection.

aiohttp's client was the largest part of the gateway's CPU per proxied request (a ClientRequest, a
ClientResponse, a StreamReader, a URL, header multidicts, timers and a task per request). This client
keeps only what a reverse proxy needs: the request head is one bytes object written with the body when
it is small, the answer is parsed by httptools (llhttp, C) straight into a list of raw header pairs and a
list of body chunks, and keep-alive connections are reused LIFO per upstream instance. Per request it
allocates one future (the answer's head) and one timer handle (the read timeout).

Bodies stream both ways with flow control: the request body is written chunk by chunk and waits while the
socket's buffer is full (`pause_writing`); the response body is read in chunks and the socket stops
reading while more than `HIGH_WATER` bytes wait for the client.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any
from urllib.parse import urlsplit

import httptools

# Stop reading from the upstream while this much response body waits for the client (memory bound).
HIGH_WATER = 256 * 1024
# An idle keep-alive connection older than this is closed instead of reused (services keep 75 s).
IDLE_S = 30.0


class UpstreamError(Exception):
    """The exchange with the upstream failed."""


class ConnectFailed(UpstreamError):
    """No connection could be made: nothing reached the upstream, so any request may go elsewhere."""


class Disconnected(UpstreamError):
    """The connection broke before the answer was complete."""

    def __init__(self, message: str, *, answered: bool, reused: bool) -> None:
        """`answered`: some of the answer had arrived; `reused`: the connection had served a request before."""
        super().__init__(message)
        self.answered = answered
        self.reused = reused


class ReadTimeout(UpstreamError):
    """The upstream sent nothing for longer than the read timeout."""


class BadResponse(UpstreamError):
    """The upstream's answer is not valid HTTP/1.1."""


class Conn(asyncio.Protocol):
    """One keep-alive connection to an upstream instance, parsing answers with httptools."""

    __slots__ = (
        "_continue",
        "_drain",
        "_timer",
        "_waiter",
        "buffered",
        "chunks",
        "complete",
        "counted",
        "exc",
        "got_bytes",
        "head_done",
        "head_only",
        "headers",
        "idle",
        "idle_since",
        "keep_alive",
        "key",
        "loop",
        "lost",
        "parser",
        "paused_reading",
        "paused_writing",
        "pool",
        "reusable",
        "reused",
        "status",
        "transport",
        "until_close",
    )

    def __init__(self, key: str, loop: asyncio.AbstractEventLoop, pool: Pool) -> None:
        """A connection for the instance `key` (its base URL), counted in `pool` until discarded."""
        self.key = key
        self.loop = loop
        self.pool = pool
        self.idle = False
        self.counted = True
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.lost = False
        self.reused = False
        self.idle_since = 0.0
        self.paused_writing = False
        self.paused_reading = False
        self._drain: asyncio.Future[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._continue: asyncio.Future[bool] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.reset(False)

    def reset(self, head_only: bool) -> None:
        """Forget the previous answer before a new request."""
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.until_close = False
        self.got_bytes = False
        self.head_only = head_only
        self.reusable = True  # False once the exchange went off the rails (a body not sent whole)
        self.exc: UpstreamError | None = None

    # ---- asyncio protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        """Feed the parser (callbacks below fill status, headers and chunks)."""
        if self.idle:
            # bytes nobody asked for would be parsed as the next request's answer: drop the connection
            self.transport.close()  # type: ignore[union-attr]
            return
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(BadResponse(f"invalid answer: {exc}"))
            self.transport.close()  # type: ignore[union-attr]

    def eof_received(self) -> bool:
        """The upstream closed its side: close ours too."""
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """Finish an answer delimited by the close, or fail whatever waits."""
        self.lost = True
        if self.idle:
            self.pool.lost_idle(self)
            return
        if self.head_done and self.until_close and not self.complete and exc is None:
            self.complete = True
            self._wake()
        elif not self.complete:
            self._fail(Disconnected(f"connection closed: {exc!r}" if exc else "connection closed",
                                    answered=self.got_bytes, reused=self.reused))
        if self._drain is not None and not self._drain.done():
            self._drain.set_exception(Disconnected("connection closed while sending", answered=self.got_bytes,
                                                   reused=self.reused))

    def pause_writing(self) -> None:
        """The socket's send buffer is full: the body pump waits in drain()."""
        self.paused_writing = True

    def resume_writing(self) -> None:
        """The send buffer has room again."""
        self.paused_writing = False
        d = self._drain
        if d is not None:
            self._drain = None
            if not d.done():
                d.set_result(None)

    # ---- httptools callbacks ------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        """One header of the answer (names as sent)."""
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        """The head is in: wake the request (interim 1xx heads only release a waiting body)."""
        status = self.parser.get_status_code()
        if status < 200:
            self.headers = []
            c = self._continue
            if c is not None and not c.done():
                c.set_result(True)
            return
        self.status = status
        self.head_done = True
        self.until_close = True
        for name, _ in self.headers:
            n = name.lower()
            if n == b"content-length" or n == b"transfer-encoding":
                self.until_close = False
                break
        if status == 204 or status == 304:
            self.until_close = False
        if self.head_only:
            # llhttp cannot be told that a HEAD answer has no body: the answer ends here and this
            # connection is not reused (its parser would wait for Content-Length bytes).
            self.complete = True
            self.until_close = False
        c = self._continue
        if c is not None and not c.done():
            c.set_result(False)  # a final answer instead of "100 Continue": the body is not wanted
        self._wake()

    def on_body(self, body: bytes) -> None:
        """A piece of the answer's body; stop reading past the high-water mark."""
        if self.head_only or not body:
            return
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self.paused_reading:
            self.paused_reading = True
            self.transport.pause_reading()  # type: ignore[union-attr]
        self._wake()

    def on_message_complete(self) -> None:
        """The answer is complete."""
        if not self.head_done:
            return  # the end of an interim 1xx answer
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive() and not self.head_only and self.reusable
        self._wake()

    # ---- used by the proxy --------------------------------------------------------------------
    def _wake(self) -> None:
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    def _fail(self, exc: UpstreamError) -> None:
        if self.exc is None:
            self.exc = exc
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_exception(exc)
        c = self._continue
        if c is not None and not c.done():
            c.set_exception(exc)

    def _on_timeout(self) -> None:
        self._timer = None
        self._fail(ReadTimeout("the upstream did not answer in time"))

    async def _wait(self, wait_s: float) -> None:
        """Wait for the next parser event (head, chunk, end or failure), at most `wait_s` seconds."""
        if self.exc is not None:
            raise self.exc
        w = self._waiter = self.loop.create_future()
        timer = self.loop.call_later(wait_s, self._on_timeout)
        try:
            await w
        finally:
            timer.cancel()

    async def head(self, wait_s: float) -> None:
        """Wait until the answer's status and headers are in."""
        while not self.head_done:
            await self._wait(wait_s)

    async def wait_continue(self, wait_s: float) -> bool:
        """After `Expect: 100-continue`: True once the upstream asks for the body, False on a final answer."""
        if self.head_done:
            return False
        if self.exc is not None:
            raise self.exc
        c = self._continue = self.loop.create_future()
        timer = self.loop.call_later(wait_s, self._on_timeout)
        try:
            return await c
        finally:
            timer.cancel()
            self._continue = None

    def head_future(self) -> asyncio.Future[None]:
        """A future resolved when the head arrives (or failed with the connection), for racing a body pump."""
        f = self._waiter = self.loop.create_future()
        if self.exc is not None:
            f.set_exception(self.exc)
        elif self.head_done:
            f.set_result(None)
        return f

    async def read_all(self, wait_s: float) -> bytes:
        """The rest of the answer's body (used for small bodies of known length)."""
        while not self.complete:
            await self._wait(wait_s)
        chunks = self.chunks
        self.chunks = []
        self.buffered = 0
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def read_chunk(self, wait_s: float) -> bytes:
        """The body bytes received so far (waiting for some), or b"" at the end."""
        while not self.chunks:
            if self.complete:
                return b""
            await self._wait(wait_s)
        chunks = self.chunks
        self.chunks = []
        self.buffered = 0
        if self.paused_reading:
            self.paused_reading = False
            self.transport.resume_reading()  # type: ignore[union-attr]
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def write(self, data: bytes) -> None:
        """Write to the socket (a closed connection raises Disconnected)."""
        if self.lost:
            raise self.exc or Disconnected("connection closed", answered=self.got_bytes, reused=self.reused)
        self.transport.write(data)  # type: ignore[union-attr]

    async def drain(self) -> None:
        """Wait until the socket's send buffer has room."""
        if self.lost:
            raise self.exc or Disconnected("connection closed", answered=self.got_bytes, reused=self.reused)
        if self.paused_writing:
            d = self._drain = self.loop.create_future()
            await d

    def close(self) -> None:
        """Drop the connection."""
        self.lost = True
        if self.transport is not None:
            self.transport.close()


class Pool:
    """Keep-alive connections of one upstream, per instance, at most `limit` open at once."""

    def __init__(self, limit: int, connect_timeout: float, idle_s: float = IDLE_S) -> None:
        """`limit` open connections over all instances (further requests wait for one to be released)."""
        self.limit = max(1, limit)
        self.connect_timeout = connect_timeout
        self.idle_s = idle_s
        self.open = 0
        self._idle: dict[str, list[Conn]] = {}
        self._addr: dict[str, tuple[str, int]] = {}
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self.closed = False

    def _address(self, base: str) -> tuple[str, int]:
        addr = self._addr.get(base)
        if addr is None:
            parts = urlsplit(base)
            addr = self._addr[base] = (parts.hostname or "127.0.0.1", parts.port or 80)
        return addr

    async def acquire(self, base: str, head_only: bool, fresh: bool = False) -> Conn:
        """An idle connection to `base` (most recently used first) or a new one; ConnectFailed if none."""
        while True:
            idle = self._idle.get(base)
            if idle and not fresh:
                now = time.monotonic()
                while idle:
                    conn = idle.pop()
                    conn.idle = False
                    if now - conn.idle_since > self.idle_s:
                        self._discard(conn)
                        continue
                    conn.reused = True
                    conn.reset(head_only)
                    return conn
            if self.open < self.limit:
                break
            if not self._evict_idle():
                # every connection is busy: wait for one to be released or closed
                w = asyncio.get_running_loop().create_future()
                self._waiters.append(w)
                await w
        self.open += 1
        loop = asyncio.get_running_loop()
        host, port = self._address(base)
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(lambda: Conn(base, loop, self), host, port)
        except (OSError, TimeoutError) as exc:
            self._closed_one()
            raise ConnectFailed(f"cannot connect to {base}: {exc!r}") from exc
        except BaseException:
            self._closed_one()
            raise
        conn.reset(head_only)
        return conn

    def _evict_idle(self) -> bool:
        """Close the oldest idle connection of any instance to make room; False when none is idle."""
        oldest: Conn | None = None
        for conns in self._idle.values():
            if conns and (oldest is None or conns[0].idle_since < oldest.idle_since):
                oldest = conns[0]
        if oldest is None:
            return False
        self._idle[oldest.key].remove(oldest)
        oldest.idle = False
        self._discard(oldest)
        return True

    def lost_idle(self, conn: Conn) -> None:
        """An idle connection was closed by the upstream: forget it."""
        conns = self._idle.get(conn.key)
        if conns is not None and conn in conns:
            conns.remove(conn)
            conn.idle = False
            self._discard(conn)

    def release(self, conn: Conn) -> None:
        """Return a connection after its answer: kept when complete and keep-alive, closed otherwise."""
        keep = conn.complete and conn.keep_alive and conn.reusable
        if keep and not conn.lost and not conn.chunks and not self.closed:
            conn.idle_since = time.monotonic()
            conn.idle = True
            self._idle.setdefault(conn.key, []).append(conn)
            if self._waiters:
                self._wake_one()
            return
        self._discard(conn)

    def _discard(self, conn: Conn) -> None:
        if not conn.counted:
            return
        conn.counted = False
        conn.close()
        self._closed_one()

    def _closed_one(self) -> None:
        self.open -= 1
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            w = self._waiters.popleft()
            if not w.done():
                w.set_result(None)
                return

    async def close(self) -> None:
        """Close every idle connection (busy ones close when released)."""
        self.closed = True
        for conns in self._idle.values():
            for c in conns:
                c.close()
        self._idle.clear()

    def stats(self) -> dict[str, Any]:
        """Open and idle connections (for tests and debugging)."""
        return {"open": self.open, "idle": {k: len(v) for k, v in self._idle.items()}}
