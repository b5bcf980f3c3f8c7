"""What every source client shares: one request at a time per source, Retry-After honoured, answers cached."""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

log = logging.getLogger("shows.catalog")


class SourceError(Exception):
    """A source could not give an answer; `reason` is shown to the person, `retryable` drives task retries."""

    retryable = False

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class SourceNotFound(SourceError):
    """The source does not know the thing asked for (404)."""


class SourceMalformed(SourceError):
    """The source answered something that is not the documented JSON."""


class SourceRefused(SourceError):
    """The source refused the request (bad or missing API key, blocked client)."""


class SourceNotConfigured(SourceError):
    """The source needs a setting (an API key) that this installation does not have."""


class SourceUnavailable(SourceError):
    """The source is down, rate-limiting or unreachable: worth retrying later."""

    retryable = True


class RateLimiter:
    """At most one call per `min_interval_s` in this process (the worker runs one catalog process per host)."""

    def __init__(self, min_interval_s: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        """Block until the next call is allowed, then reserve the slot."""
        with self._lock:
            now = self._clock()
            if self._next > now:
                self._sleep(self._next - now)
                now = self._clock()
            self._next = now + self.min_interval_s

    def hold_off(self, seconds: float) -> None:
        """The source asked us to wait (Retry-After): no call before then."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)


class Cache:
    """Where answers are kept with their fetch time (the `source_cache` table; a dict in unit tests)."""

    def get(self, source: str, key: str) -> tuple[int, Any] | None:  # pragma: no cover - interface
        """(status, body) of a fresh cached answer, or None."""
        raise NotImplementedError

    def put(self, source: str, key: str, status: int, body: Any) -> None:  # pragma: no cover - interface
        """Remember an answer."""
        raise NotImplementedError


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class SourceClient:
    """GET JSON from one source over a pooled httpx client, politely."""

    def __init__(
        self,
        name: str,
        label: str,
        base_url: str,
        *,
        headers: Mapping[str, str],
        limiter: RateLimiter,
        timeout_s: float = 10.0,
        max_wait_s: float = 30.0,
        attempts: int = 3,
        cache: Cache | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.label = label
        self.limiter = limiter
        self.max_wait_s = max_wait_s
        self.attempts = attempts
        self.cache = cache
        self._sleep = sleep
        self.http = httpx.Client(base_url=base_url.rstrip("/"), headers=dict(headers), timeout=timeout_s,
                                 transport=transport, follow_redirects=True)

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def get_json(self, path: str, params: Mapping[str, Any] | None = None, *, cache: bool = True) -> Any:
        """The JSON answer of GET path?params; SourceError subclasses for everything else."""
        query = sorted((k, str(v)) for k, v in (params or {}).items() if v is not None and v != "")
        key = f"{path}?{urlencode(query)}"[:500]
        if cache and self.cache is not None:
            hit = self.cache.get(self.name, key)
            if hit is not None:
                status, body = hit
                if status == 404:
                    raise SourceNotFound(f"{self.label} does not know this.")
                return body
        last: SourceError | None = None
        for attempt in range(1, self.attempts + 1):
            self.limiter.wait()
            try:
                resp = self.http.get(path, params=query)
            except httpx.HTTPError as exc:
                last = SourceUnavailable(f"Could not reach {self.label} ({type(exc).__name__}).")
                if attempt < self.attempts:
                    self._sleep(min(self.max_wait_s, 2.0 ** attempt))
                continue
            if resp.status_code in (429, 503) or resp.status_code >= 500:
                wait = parse_retry_after(resp.headers.get("Retry-After"))
                what = "is rate-limiting us" if resp.status_code in (429, 503) else f"answered {resp.status_code}"
                last = SourceUnavailable(f"{self.label} {what}; try again later.", retry_after=wait)
                log.info("%s %s on %s (Retry-After %s)", self.name, resp.status_code, path, wait)
                pause = wait if wait is not None else 2.0 ** attempt
                if pause > self.max_wait_s or attempt == self.attempts:
                    break
                self.limiter.hold_off(pause)
                continue
            if resp.status_code == 404:
                if cache and self.cache is not None:
                    self.cache.put(self.name, key, 404, None)
                raise SourceNotFound(f"{self.label} does not know this.")
            if resp.status_code in (401, 403):
                raise SourceRefused(f"{self.label} refused the request ({resp.status_code}); check the API key.")
            if resp.status_code >= 400:
                raise SourceMalformed(f"{self.label} answered {resp.status_code} to a request we built.")
            try:
                body = resp.json()
            except ValueError as exc:
                raise SourceMalformed(f"{self.label} answered something that is not JSON.") from exc
            if not isinstance(body, dict | list):
                raise SourceMalformed(f"{self.label} answered JSON of an unexpected shape.")
            if cache and self.cache is not None:
                self.cache.put(self.name, key, resp.status_code, body)
            return body
        assert last is not None
        raise last
