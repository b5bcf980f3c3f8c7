"""Service-to-service HTTP: a pooled client with short timeouts, and the guard for /internal routes."""

from __future__ import annotations

import hmac
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn, TypeVar

import httpx
from fastapi import Request

from shared import metrics
from shared.errors import NotFound, ServiceUnavailable, Unauthorized
from shared.logging import REQUEST_ID_HEADER, request_id_var

log = logging.getLogger("shared.internal")
T = TypeVar("T")
INTERNAL_HEADER = "X-Internal-Token"
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class _PeerDown(Exception):
    """No replica accepted a connection."""


def _retry_after(resp: httpx.Response, default: float = 0.2, cap: float = 2.0) -> float:
    """The peer's Retry-After in seconds (bounded), else a short pause."""
    try:
        return min(cap, max(0.05, float(resp.headers.get("Retry-After", default))))
    except ValueError:
        return default


class InternalClient:
    """Calls another service's /internal API; any of its replicas (comma-separated base URLs).

    A peer that refuses connections is down: the next replica is tried, then the call fails at once (503).
    A peer that accepts but answers slowly, or answers 429/503 with Retry-After, is busy: the caller waits, up to
    `busy_wait_s` in all. An idempotent request is sent again with a doubled read timeout (and after the
    peer's Retry-After); any other request is sent once with the whole budget as its read timeout, since a
    repeat could apply it twice. Only when the budget is spent does the call fail, as a 503 with Retry-After.
    """

    def __init__(self, base_urls: str, token: str, *, service: str, timeout_s: float = 1.5,
                 busy_wait_s: float = 15.0) -> None:
        self.service = service
        self.timeout_s = timeout_s
        self.busy_wait_s = max(busy_wait_s, timeout_s)
        self._bases = [u.strip().rstrip("/") for u in base_urls.split(",") if u.strip()]
        self._cycle = itertools.cycle(range(len(self._bases)))
        self._lock = threading.Lock()
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 1.0)),
            headers={INTERNAL_HEADER: token},
            # Idle connections are dropped before uvicorn's 5 s keep-alive timeout closes them from the
            # other side: reusing one the server is closing fails with a reset.
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20, keepalive_expiry=2.0),
        )

    def _next_bases(self) -> list[str]:
        with self._lock:
            start = next(self._cycle)
        return self._bases[start:] + self._bases[:start]

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """Send a request; wait (bounded) for a busy peer, try the next replica of a down one; 503 at the end."""
        headers = kw.pop("headers", {}) or {}
        rid = request_id_var.get()
        if rid:
            headers[REQUEST_ID_HEADER] = rid
        idempotent = method.upper() in IDEMPOTENT
        deadline = time.monotonic() + self.busy_wait_s
        read_s = self.timeout_s
        last: Exception | None = None
        dropped = 0
        while True:
            remaining = deadline - time.monotonic()
            # waiting for a free pooled connection is waiting for a busy peer too
            timeout = httpx.Timeout(read_s if idempotent else max(remaining, self.timeout_s),
                                    connect=min(self.timeout_s, 1.0), pool=max(remaining, 0.05))
            try:
                resp = self._send(method, path, headers, timeout, kw)
            except _PeerDown as exc:
                self._unavailable(method, path, exc.__cause__)
            except httpx.TimeoutException as exc:  # read, write or pool: the peer is busy
                last = exc
                if not idempotent or deadline - time.monotonic() <= 0.05:
                    self._unavailable(method, path, last)
                metrics.INTERNAL_BUSY_RETRIES.labels(self.service, "timeout").inc()
                read_s = min(read_s * 2, max(0.05, deadline - time.monotonic()))
                continue
            except httpx.TransportError as exc:
                # The connection dropped mid-request (a reused keep-alive connection being closed, a replica
                # dying): an idempotent request runs once more, others fail cleanly.
                last = exc
                dropped += 1
                if not idempotent or dropped >= 2:
                    self._unavailable(method, path, last)
                continue
            # 429/503 with Retry-After is a busy peer asking to come back; without it, a failure to pass on
            if resp.status_code in (429, 503) and idempotent and "Retry-After" in resp.headers:
                wait = _retry_after(resp)
                if time.monotonic() + wait < deadline:
                    metrics.INTERNAL_BUSY_RETRIES.labels(self.service, str(resp.status_code)).inc()
                    resp.close()
                    time.sleep(wait)
                    continue
            return resp

    def _send(self, method: str, path: str, headers: dict[str, str], timeout: httpx.Timeout,
              kw: dict[str, Any]) -> httpx.Response:
        """One attempt on the first replica that accepts a connection (_PeerDown when none does)."""
        refused: Exception | None = None
        for base in self._next_bases():
            try:
                return self._client.request(method, base + path, headers=headers, timeout=timeout, **kw)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                refused = exc  # nothing was sent: the next replica
        raise _PeerDown() from refused

    def _unavailable(self, method: str, path: str, last: BaseException | None) -> NoReturn:
        log.warning("%s unreachable for %s %s: %s", self.service, method, path, last)
        raise ServiceUnavailable(f"The {self.service} service is unavailable; try again shortly.",
                                 headers={"Retry-After": "2"})

    def get_json(self, path: str, *, params: dict[str, Any] | None = None) -> Any:
        """GET a JSON document; NotFound on 404, ServiceUnavailable on errors."""
        resp = self.request("GET", path, params=params)
        if resp.status_code == 404:
            raise NotFound()
        if resp.status_code >= 400:
            log.warning("%s answered %s for %s", self.service, resp.status_code, path)
            raise ServiceUnavailable(f"The {self.service} service failed; try again shortly.")
        return resp.json()

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="internal-fetch")


def fetch_concurrently(
    calls: dict[str, Callable[[], T]], default: T, timeout_s: float = 2.0
) -> tuple[dict[str, T], list[str]]:
    """Run calls in parallel; a failing or slow one yields `default` and is listed as degraded."""
    futures = {name: _pool.submit(fn) for name, fn in calls.items()}
    results: dict[str, T] = {}
    degraded: list[str] = []
    for name, fut in futures.items():
        try:
            results[name] = fut.result(timeout=timeout_s)
        except Exception as exc:
            log.warning("degraded answer: %s failed: %s", name, exc)
            results[name] = default
            degraded.append(name)
    return results, degraded


async def require_internal(request: Request) -> None:
    """FastAPI dependency for /internal routes: the caller must present the internal token."""
    expected: str = request.app.state.settings.internal_token
    sent = request.headers.get(INTERNAL_HEADER, "")
    if not sent or not hmac.compare_digest(sent, expected):
        raise Unauthorized("Internal endpoint.", code="internal_only")
