"""Prometheus metrics: request count and latency by route template and status; the bus's counters."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter("http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# The outbox relay and the event consumer (shared.messaging).
INTERNAL_BUSY_RETRIES = Counter(
    "internal_busy_retries_total", "Internal calls waited for or repeated because the peer was busy",
    ["service", "reason"],
)
OUTBOX_PUBLISHED = Counter("outbox_published_total", "Outbox rows the broker confirmed", ["producer"])
OUTBOX_PUBLISH_FAILURES = Counter(
    "outbox_publish_failures_total", "Outbox rows whose publish failed (retried with backoff)", ["producer", "type"]
)
OUTBOX_UNROUTABLE = Counter(
    "outbox_unroutable_total", "Events the broker found no queue for (no subscriber)", ["producer", "type"]
)
OUTBOX_OLDEST_PENDING = Gauge(
    "outbox_oldest_pending_age_seconds", "Age of the oldest unpublished outbox row (0 when none)", ["producer"]
)
BUS_DEAD_LETTERED = Counter(
    "bus_dead_lettered_total", "Events a consumer gave up on and dead-lettered", ["service", "type"]
)


class MetricsMiddleware:
    """Counts requests by their route template (not the raw path, to bound cardinality)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        # labels() hashes and locks on every call: keep the children (few: routes x methods x statuses)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            key = (scope.get("method", "GET"), template, status["code"])
            children = self._children.get(key)
            if children is None:
                children = (
                    REQUESTS.labels(self.service, key[0], template, str(key[2])),
                    LATENCY.labels(self.service, key[0], template),
                )
                self._children[key] = children
            children[0].inc()
            children[1].observe(time.perf_counter() - started)


async def metrics_endpoint(_: Request) -> Response:
    """The Prometheus exposition."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
