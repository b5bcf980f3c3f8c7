"""Prometheus request counts and latency by route prefix and status (shared's metric families).

prometheus_client takes a lock per counter increment and walks the histogram's buckets in Python on
every observation: a few microseconds per request, a noticeable share of a proxied request's CPU. The
gateway is single-threaded per process, so requests are tallied in plain lists here and added to the
prometheus children in bulk when /metrics is scraped (and every second by `flush_forever`).
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.metrics import LATENCY, REQUESTS

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "WS"})


class Metrics:
    """Tallies per (method, route, status): count, latency sum and per-bucket counts, flushed in bulk."""

    def __init__(self, service: str = "gateway") -> None:
        """Bind the service label."""
        self.service = service
        # bulk updates use prometheus_client's bucket bounds and value objects (checked per child below);
        # without them every request is observed as before
        bounds = getattr(LATENCY, "_upper_bounds", None)
        self._bulk = bool(bounds)
        self._bounds: tuple[float, ...] = tuple(bounds or (float("inf"),))  # ends with +Inf
        self._tally: dict[tuple[str, str, int], list[Any]] = {}
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request and its latency."""
        if method not in KNOWN_METHODS:
            method = "OTHER"
        key = (method, route, status)
        t = self._tally.get(key)
        if t is None:
            t = self._tally[key] = [0, 0.0, [0] * len(self._bounds)]
        t[0] += 1
        t[1] += seconds
        t[2][bisect_left(self._bounds, seconds)] += 1  # first bucket whose bound >= seconds, as prometheus
        if not self._bulk:
            self.flush()

    def flush(self) -> None:
        """Add the tallies to the prometheus children."""
        for key, t in self._tally.items():
            n = t[0]
            if not n:
                continue
            children = self._children.get(key)
            if children is None:
                method, route, status = key
                children = self._children[key] = (
                    REQUESTS.labels(self.service, method, route, str(status)),
                    LATENCY.labels(self.service, method, route),
                )
            counter, hist = children
            counter.inc(n)
            if self._bulk and not (hasattr(hist, "_buckets") and hasattr(hist, "_sum")):
                self._bulk = False
            if self._bulk:
                for i, c in enumerate(t[2]):
                    if c:
                        hist._buckets[i].inc(c)
                hist._sum.inc(t[1])
            else:
                for _ in range(n):
                    hist.observe(t[1] / n)
            t[0] = 0
            t[1] = 0.0
            t[2] = [0] * len(self._bounds)

    async def flush_forever(self, every_s: float = 1.0) -> None:
        """Keep the prometheus values at most `every_s` behind."""
        while True:
            await asyncio.sleep(every_s)
            self.flush()

    def exposition(self) -> tuple[bytes, bytes]:
        """(body, content type) of the Prometheus exposition, tallies included."""
        self.flush()
        return generate_latest(), CONTENT_TYPE_LATEST.encode()
