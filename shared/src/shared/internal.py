"""Service-to-service HTTP: a pooled client with short timeouts, and the guard for /internal routes."""

from __future__ import annotations

import hmac
import itertools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn, TypeVar

import httpx
from fastapi import Request

from shared.errors import NotFound, ServiceUnavailable, Unauthorized
from shared.logging import REQUEST_ID_HEADER, request_id_var

log = logging.getLogger("shared.internal")
T = TypeVar("T")
INTERNAL_HEADER = "X-Internal-Token"
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class InternalClient:
    """Calls another service's /internal API; any of its replicas (comma-separated base URLs)."""

    def __init__(self, base_urls: str, token: str, *, service: str, timeout_s: float = 1.5) -> None:
        self.service = service
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
        """Send a request, trying the next replica on connection errors; 503 if none answers."""
        headers = kw.pop("headers", {}) or {}
        rid = request_id_var.get()
        if rid:
            headers[REQUEST_ID_HEADER] = rid
        last: Exception | None = None
        for base in self._next_bases():
            for attempt in (1, 2):
                try:
                    return self._client.request(method, base + path, headers=headers, **kw)
                except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                    last = exc
                    break  # nothing was sent: the next replica
                except httpx.TimeoutException as exc:
                    last = exc
                    self._unavailable(method, path, last)
                except httpx.TransportError as exc:
                    # The connection dropped mid-request (a reused keep-alive connection being closed, a
                    # replica dying): an idempotent request runs once more, others fail cleanly.
                    last = exc
                    if method.upper() not in IDEMPOTENT or attempt == 2:
                        self._unavailable(method, path, last)
        self._unavailable(method, path, last)

    def _unavailable(self, method: str, path: str, last: Exception | None) -> NoReturn:
        log.warning("%s unreachable for %s %s: %s", self.service, method, path, last)
        raise ServiceUnavailable(f"The {self.service} service is unavailable; try again shortly.")

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
