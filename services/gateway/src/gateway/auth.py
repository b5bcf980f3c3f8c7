"""Token pre-check: JWKS-backed EdDSA verification with a cache of verified tokens, and CSRF."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import jwt

from gateway.responses import GatewayError

log = logging.getLogger("gateway.auth")

ACCESS_COOKIE = "access_token_cookie"
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


def check_csrf(
    method: str,
    origin: str | None,
    sec_fetch_site: str | None,
    csrf_header: str | None,
    claims: dict[str, Any],
    via_cookie: bool,
) -> None:
    """Refuse a cookie-authenticated unsafe browser request without the double-submit header."""
    if not via_cookie or method in SAFE_METHODS:
        return
    if origin is None and sec_fetch_site is None:
        return  # not a browser (curl, mobile): not subject to CSRF
    if sec_fetch_site is not None and sec_fetch_site.lower() == "cross-site":
        raise csrf_failed("Cross-site requests are not allowed.")
    expected = claims.get("csrf")
    if not expected or not csrf_header or not hmac.compare_digest(str(expected), csrf_header):
        raise csrf_failed("Missing or wrong X-CSRF-TOKEN header: send the csrf_access_token cookie's value.")


class TokenVerifier:
    """Verifies access tokens locally with the JWKS (EdDSA only) and caches verified tokens until exp."""

    def __init__(
        self,
        fetch_jwks: JwksFetcher,
        *,
        issuer: str,
        audience: str,
        cache_size: int = 10000,
        min_refetch_s: float = 1.0,
    ) -> None:
        """Configure issuer/audience, the JWKS fetcher and the cache size."""
        self._fetch = fetch_jwks
        self.issuer = issuer
        self.audience = audience
        self.cache_size = cache_size
        self.min_refetch_s = min_refetch_s
        self.keys: dict[str, Any] = {}
        self._cache: dict[str, dict[str, Any]] = {}
        self._last_fetch = 0.0
        self._refetch: asyncio.Future[None] | None = None

    async def refresh(self) -> bool:
        """Fetch the JWKS now (coalescing concurrent callers); False if auth is unreachable."""
        if self._refetch is not None:
            await asyncio.shield(self._refetch)
            return True
        loop = asyncio.get_running_loop()
        self._refetch = loop.create_future()
        try:
            data = await self._fetch()
            keys: dict[str, Any] = {}
            for jwk in data.get("keys", []):
                kid = jwk.get("kid")
                if not kid or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
                    continue
                try:
                    keys[kid] = jwt.PyJWK(jwk, algorithm="EdDSA").key
                except (jwt.PyJWKError, ValueError, TypeError):
                    log.warning("ignoring an unusable JWK %s", kid)
            self.keys = keys
            return True
        except Exception as exc:
            log.warning("JWKS fetch failed: %s", exc)
            return False
        finally:
            self._last_fetch = time.monotonic()
            self._refetch.set_result(None)
            self._refetch = None

    async def _key_for(self, kid: str) -> Any:
        """The public key for a kid, refetching the JWKS once on an unknown kid."""
        key = self.keys.get(kid)
        if key is None and (
            self._refetch is not None or time.monotonic() - self._last_fetch >= self.min_refetch_s
        ):
            await self.refresh()
            key = self.keys.get(kid)
        return key

    async def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid access token; GatewayError(401) otherwise."""
        claims = self._cache.get(token)
        if claims is not None:
            if claims["exp"] > time.time():
                return claims
            self._cache.pop(token, None)
            raise invalid_token("Your session has expired, log in again.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise invalid_token() from exc
        kid = header.get("kid")
        if header.get("alg") != "EdDSA" or not isinstance(kid, str) or not kid:
            raise invalid_token()
        key = await self._key_for(kid)
        if key is None:
            raise invalid_token("Your access token was signed by an unknown key, log in again.")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["EdDSA"],
                issuer=self.issuer,
                audience=self.audience,
                options={"require": ["exp", "sub", "iat"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise invalid_token("Your session has expired, log in again.") from exc
        except jwt.PyJWTError as exc:
            raise invalid_token() from exc
        if claims.get("typ") != "access" or not isinstance(claims.get("exp"), int | float):
            raise invalid_token("Only access tokens are accepted here.")
        cache = self._cache
        if len(cache) >= self.cache_size:
            now = time.time()
            for stale in [t for t, c in cache.items() if c["exp"] <= now]:
                del cache[stale]
            while len(cache) >= self.cache_size:
                del cache[next(iter(cache))]
        cache[token] = claims
        return claims
