"""uvicorn's httptools protocol with a leaner request cycle for the gateway's hot path.

Everything about connections stays uvicorn's (parsing, pipelining, WebSocket upgrades, flow control,
graceful shutdown, the 400 for bad requests); what changes is the per-request work:

- the response head is held and written together with the first body chunk: one socket write (one
  syscall, the costliest part of proxying on loopback) for the small JSON answers that make most traffic;
- response headers are checked for CR/LF/NUL with two `bytes.count` calls over the whole block instead of
  two regular-expression searches per header (the names are the gateway's own lower-case constants, the
  values its own or an upstream's as parsed by llhttp, so a count is enough to refuse a split response);
- the keep-alive timeout is one timer per idle period, re-armed lazily, instead of a timer created and
  cancelled around every request.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import Any

import httptools
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle


class FastCycle(RequestResponseCycle):
    """RequestResponseCycle whose send() writes the head with the first body chunk."""

    held: bytes | None = None

    async def send(self, message: Any) -> None:
        """ASGI send: the same rules as uvicorn's, fewer steps."""
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        if not self.response_started:
            if message["type"] != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', but got '{message['type']}'.")
            self.response_started = True
            self.waiting_for_100_continue = False
            status = message["status"]
            parts = [STATUS_LINE[status]]
            lines = 0
            for name, value in self.default_headers:
                parts += (name, b": ", value, b"\r\n")
                lines += 1
            close = False
            for name, value in message.get("headers", ()):
                if name == b"content-length":
                    if self.chunked_encoding is None:
                        self.expected_content_length = int(value)
                        self.chunked_encoding = False
                elif name == b"transfer-encoding":
                    if value.lower() == b"chunked":
                        self.expected_content_length = 0
                        self.chunked_encoding = True
                elif name == b"connection" and b"close" in value.lower():
                    self.keep_alive = False
                    close = True
                parts += (name, b": ", value, b"\r\n")
                lines += 1
            if not self.keep_alive and not close:
                parts.append(b"connection: close\r\n")
                lines += 1
            if self.chunked_encoding is None and self.scope["method"] != "HEAD" and status not in (204, 304):
                self.chunked_encoding = True
                parts.append(b"transfer-encoding: chunked\r\n")
                lines += 1
            parts.append(b"\r\n")
            head = b"".join(parts)
            # status line + one line per header + the blank line: any other CR or LF would split the answer
            if head.count(b"\n") != lines + 2 or head.count(b"\r") != lines + 2 or b"\x00" in head:
                raise RuntimeError("Invalid HTTP header name or value.")
            self.held = head
            return

        if self.response_complete:
            raise RuntimeError(f"Unexpected ASGI message '{message['type']}' sent, after response already completed.")
        if message["type"] != "http.response.body":
            raise RuntimeError(f"Expected ASGI message 'http.response.body', but got '{message['type']}'.")
        body = message.get("body", b"")
        more_body = message.get("more_body", False)
        if self.scope["method"] == "HEAD":
            self.expected_content_length = 0
            data = b""
        elif self.chunked_encoding:
            data = b"%x\r\n%b\r\n" % (len(body), body) if body else b""
            if not more_body:
                data += b"0\r\n\r\n"
        else:
            n = len(body)
            if n > self.expected_content_length:
                raise RuntimeError("Response content longer than Content-Length")
            self.expected_content_length -= n
            data = body
        held = self.held
        if held is not None:
            self.held = None
            data = held + data if data else held
        if data:
            self.transport.write(data)
        if not more_body:
            if self.expected_content_length != 0:
                raise RuntimeError("Response content shorter than Content-Length")
            self.response_complete = True
            self.message_event.set()
            if not self.keep_alive:
                self.transport.close()
            self.on_response()


class FastHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol building FastCycles, with a lazily re-armed keep-alive timer (see module doc)."""

    _idle_since: float = 0.0
    _busy: bool = False

    def on_headers_complete(self) -> None:
        """As uvicorn's, building a FastCycle."""
        parser = self.parser
        http_version = parser.get_http_version()
        scope = self.scope
        scope["method"] = parser.get_method().decode("ascii")
        if http_version != "1.1":
            scope["http_version"] = http_version
        if parser.should_upgrade() and self._should_upgrade():
            return
        parsed_url = httptools.parse_url(self.url)
        raw_path = parsed_url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        if self.root_path:
            scope["path"] = self.root_path + path
            scope["raw_path"] = self.root_path.encode("ascii") + raw_path
        else:
            scope["path"] = path
            scope["raw_path"] = raw_path
        scope["query_string"] = parsed_url.query or b""
        if self.limit_concurrency is not None and (
            len(self.connections) >= self.limit_concurrency or len(self.tasks) >= self.limit_concurrency
        ):
            app = service_unavailable
            self.logger.warning("Exceeded concurrency limit.")
        else:
            app = self.app
        existing = self.cycle
        self.cycle = FastCycle(
            scope=scope,
            transport=self.transport,
            flow=self.flow,
            logger=self.logger,
            access_logger=self.access_logger,
            access_log=self.access_log,
            default_headers=self.server_state.default_headers,
            message_event=asyncio.Event(),
            expect_100_continue=self.expect_100_continue,
            keep_alive=http_version != "1.0" and parser.should_keep_alive(),
            on_response=self.on_response_complete,
        )
        if existing is None or existing.response_complete:
            self._start_asgi_task(self.cycle, app)
        else:
            self.flow.pause_reading()
            self.pipeline.appendleft((self.cycle, app))

    # ---- keep-alive: one timer per idle period -------------------------------------------------
    def _unset_keepalive_if_required(self) -> None:
        """Data arrived: the connection is busy (the timer, if armed, finds that when it fires)."""
        self._busy = True

    def on_response_complete(self) -> None:
        """As uvicorn's, arming the keep-alive timer only if none is armed."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._busy = False
        self._idle_since = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self._keep_alive_check)

    def _keep_alive_check(self) -> None:
        """Close the connection if it has been idle for the whole timeout, else look again later."""
        self.timeout_keep_alive_task = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if self._busy or (cycle is not None and not cycle.response_complete):
            return  # a request is in progress: on_response_complete re-arms
        left = self._idle_since + self.timeout_keep_alive - self.loop.time()
        if left <= 0:
            self.transport.close()
        else:
            self.timeout_keep_alive_task = self.loop.call_later(left, self._keep_alive_check)

    def handle_websocket_upgrade(self) -> None:
        """WebSockets become a byte tunnel after the gateway's checks (gateway.wstunnel), unless switched off."""
        app = self.app
        if not getattr(app, "ws_tunnel", False):
            super().handle_websocket_upgrade()
            return
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None
        from gateway import wstunnel

        wstunnel.start(app, self)

    def connection_lost(self, exc: Exception | None) -> None:
        """As uvicorn's, also cancelling an armed keep-alive timer."""
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None
        super().connection_lost(exc)


SUPPORTED = hasattr(HttpToolsProtocol, "_start_asgi_task") and hasattr(RequestResponseCycle, "run_asgi")
