"""uvicorn's httptools protocol, writing a response's header block together with its first body chunk.

Plain uvicorn issues one socket write for the status line and headers and another for the body; for the
small JSON answers that make most API traffic that doubles the send syscalls (the costliest part of
proxying on loopback). Here the header block is held until the next write of the same response (or the
next loop iteration at the latest, e.g. for HEAD answers) and both go out in one write.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _CoalescingTransport:
    """Wraps a transport: the first write is held and sent with the following one."""

    __slots__ = ("_armed", "_handle", "_held", "_loop", "_t")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        """Wrap `transport`."""
        self._t = transport
        self._loop = loop
        self._armed = True
        self._held: bytes | None = None
        self._handle: asyncio.Handle | None = None

    def write(self, data: bytes) -> None:
        """Hold the header block; send it with the next chunk."""
        if self._armed:
            self._armed = False
            self._held = bytes(data)
            self._handle = self._loop.call_soon(self._flush)
            return
        held = self._held
        if held is not None:
            self._held = None
            if self._handle is not None:
                self._handle.cancel()
                self._handle = None
            self._t.write(held + data)
        else:
            self._t.write(data)

    def _flush(self) -> None:
        """Send a held block on its own (nothing followed it in this iteration)."""
        self._handle = None
        held = self._held
        if held is not None:
            self._held = None
            if not self._t.is_closing():
                self._t.write(held)

    def close(self) -> None:
        """Flush, then close."""
        self._flush()
        self._t.close()

    def __getattr__(self, name: str) -> Any:
        """Everything else is the real transport's."""
        return getattr(self._t, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol whose responses go out in one write when they fit (see module doc)."""

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        """Give the cycle a coalescing transport, then start it as uvicorn does."""
        cycle.transport = _CoalescingTransport(cycle.transport, self.loop)
        super()._start_asgi_task(cycle, app)


SUPPORTED = hasattr(HttpToolsProtocol, "_start_asgi_task")
