"""Token pre-check: JWKS-backed EdDSA verification with a cache of verified tokens, and CSRF."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import jwt

from gateway.responses import GatewayError
from shared import auth as shared_auth
from shared.errors import ServiceError

log = logging.getLogger("gateway.auth")

ACCESS_COOKIE = shared_auth.ACCESS_COOKIE
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

JwksFetcher = Callable[[], Awaitable[dict[str, Any]]]


def invalid_token(message: str = "Your access token is invalid, log in again.") -> GatewayError:
    """The 401 for a token that is present but not acceptable."""
    return GatewayError(401, message, "invalid_token", [(b"www-authenticate", b'Bearer error="invalid_token"')])


def not_authenticated() -> GatewayError:
    """The 401 for a protected route without a token."""
    return GatewayError(
        401,
        "Authentication required: log in, or send an access token as 'Authorization: Bearer <token>'.",
        "not_authenticated",
        [(b"www-authenticate", b"Bearer")],
    )


def csrf_failed(message: str) -> GatewayError:
    """The 403 for a browser request failing the CSRF rule."""
    return GatewayError(403, message, "csrf_failed")


def cookie_value(cookie_header: str, name: str) -> str | None:
    """One cookie's value from a Cookie header, without parsing the rest more than needed."""
    if name not in cookie_header:
        return None
    for part in cookie_header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            return value or None
    return None


def extract_token(authorization: str | None, cookie: str | None) -> tuple[str | None, bool]:
    """The access token and whether it came from the cookie (Bearer wins)."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip(), False
    if cookie:
        token = cookie_value(cookie, ACCESS_COOKIE)
        if token:
            return token, True
    return None, False


def from_service_error(exc: ServiceError) -> GatewayError:
    """A shared ServiceError as the gateway's own error."""
    extra = [(k.lower().encode(), str(v).encode()) for k, v in exc.headers.items()]
    if exc.status_code == 401:
        extra.append((b"www-authenticate", b'Bearer error="invalid_token"'))
    return GatewayError(exc.status_code, exc.message, exc.code, extra)


def check_csrf(method: str, headers: Mapping[str, str], claims: Mapping[str, Any], via_cookie: bool) -> None:
    """shared.auth.check_csrf, raising the gateway's 403 (code csrf_failed)."""
    try:
        shared_auth.check_csrf(method, headers, claims, via_cookie)
    except ServiceError as exc:
        raise from_service_error(exc) from exc


class TokenVerifier:
    """shared.auth.TokenVerifier fed by an async JWKS fetch, behind a cache of verified tokens."""

    def __init__(
        self,
        fetch_jwks: JwksFetcher,
        *,
        issuer: str,
        audience: str,
        cache_size: int = 10000,
        min_refetch_s: float = 1.0,
    ) -> None:
        """Configure issuer/audience, the async JWKS fetcher and the cache size."""
        self._fetch = fetch_jwks
        self.cache_size = cache_size
        self.min_refetch_s = min_refetch_s
        self._jwks: Mapping[str, Any] = {"keys": []}
        self.kids: frozenset[str] = frozenset()
        # The shared verifier never does network I/O here: its provider returns the JWKS we fetched.
        self.inner = shared_auth.TokenVerifier(
            None, issuer, audience, jwks_provider=lambda: self._jwks, refetch_interval_s=0.0
        )
        self._cache: dict[str, dict[str, Any]] = {}
        self._last_fetch = float("-inf")
        self._refetch: asyncio.Future[bool] | None = None

    async def refresh(self) -> bool:
        """Fetch the JWKS now (coalescing concurrent callers); False if auth is unreachable."""
        if self._refetch is not None:
            return await asyncio.shield(self._refetch)
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._refetch = fut
        ok = False
        try:
            data = await self._fetch()
            if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
                raise ValueError("not a JWKS")
            self._jwks = data
            self.inner.refresh(force=True)
            self.kids = frozenset(k.get("kid") for k in data["keys"] if isinstance(k, Mapping))
            ok = True
        except Exception as exc:
            log.warning("JWKS fetch failed: %s", exc)
        finally:
            self._last_fetch = time.monotonic()
            self._refetch = None
            fut.set_result(ok)
        return ok

    async def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid access token; GatewayError(401) otherwise."""
        claims = self._cache.get(token)
        if claims is not None:
            if claims["exp"] > time.time():
                return claims
            del self._cache[token]
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            kid = None
        if (
            isinstance(kid, str)
            and kid not in self.kids
            and (self._refetch is not None or time.monotonic() - self._last_fetch >= self.min_refetch_s)
        ):
            await self.refresh()  # unknown kid: the keys may have rotated
        try:
            claims = self.inner.verify(token, "access")
        except ServiceError as exc:
            raise from_service_error(exc) from exc
        cache = self._cache
        if len(cache) >= self.cache_size:
            now = time.time()
            for stale in [t for t, c in cache.items() if c["exp"] <= now]:
                del cache[stale]
            while len(cache) >= self.cache_size:
                del cache[next(iter(cache))]
        cache[token] = claims
        return claims
