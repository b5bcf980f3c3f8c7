"""A cheap JSON access log: one line per request, same fields as shared's JsonFormatter, written in batches."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from typing import TextIO


class AccessLog:
    """Formats access lines directly (no LogRecord) and writes them every `flush_s` or `max_lines`."""

    def __init__(self, service: str = "gateway", flush_s: float = 0.2, max_lines: int = 256,
                 stream: TextIO | None = None) -> None:
        """Lines go to `stream` (stderr by default), like every other log line of the process."""
        self.service = service
        self.flush_s = flush_s
        self.max_lines = max_lines
        self.stream = stream
        self.enabled = logging.getLogger("gateway.access").isEnabledFor(logging.INFO)
        self._buf: list[str] = []
        self._sec = -1
        self._sec_text = ""
        self._task: asyncio.Task[None] | None = None

    def write(self, method: str, path: str, status: int, duration_ms: float, upstream: str | None,
              request_id: str) -> None:
        """Queue one access line."""
        now = time.time()
        sec = int(now)
        if sec != self._sec:
            self._sec = sec
            self._sec_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        ts = f"{self._sec_text}.{int((now - sec) * 1000):03d}Z"
        # a path of printable ASCII without quote or backslash is its own JSON string (most are)
        plain = path.isascii() and path.isprintable() and '"' not in path and "\\" not in path
        p = f'"{path}"' if plain else json.dumps(path)
        msg = f'"{method} {path} {status}"' if plain else json.dumps(f"{method} {path} {status}")
        up = "null" if upstream is None else f'"{upstream}"'
        self._buf.append(
            f'{{"ts": "{ts}", "level": "info", "service": "{self.service}", "logger": "gateway.access", '
            f'"msg": {msg}, "request_id": "{request_id}", '
            f'"method": "{method}", "path": {p}, "status": {status}, "duration_ms": {duration_ms:.2f}, '
            f'"upstream": {up}}}\n'
        )
        if len(self._buf) >= self.max_lines:
            self.flush()

    def flush(self) -> None:
        """Write the queued lines in one call."""
        if not self._buf:
            return
        data = "".join(self._buf)
        self._buf.clear()
        stream = self.stream or sys.stderr
        with contextlib.suppress(Exception):
            stream.write(data)
            stream.flush()

    async def _run(self) -> None:
        """Flush periodically."""
        while True:
            await asyncio.sleep(self.flush_s)
            self.flush()

    def start(self) -> None:
        """Start the periodic flush."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop and flush what is left."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.flush()
