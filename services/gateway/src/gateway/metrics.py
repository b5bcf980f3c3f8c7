"""Prometheus request counts and latency by route prefix and status (shared's metric families)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.metrics import LATENCY, REQUESTS

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "WS"})


class Metrics:
    """Caches labelled children so a request costs two dict lookups and two updates."""

    def __init__(self, service: str = "gateway") -> None:
        """Bind the service label."""
        self.service = service
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request and its latency."""
        if method not in KNOWN_METHODS:
            method = "OTHER"
        key = (method, route, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = REQUESTS.labels(self.service, method, route, str(status))
        counter.inc()
        hkey = (method, route)
        hist = self._histograms.get(hkey)
        if hist is None:
            hist = self._histograms[hkey] = LATENCY.labels(self.service, method, route)
        hist.observe(seconds)

    @staticmethod
    def exposition() -> tuple[bytes, bytes]:
        """(body, content type) of the Prometheus exposition."""
        return generate_latest(), CONTENT_TYPE_LATEST.encode()
