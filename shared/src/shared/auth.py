"""Token verification against the auth service's JWKS, CSRF checks and FastAPI dependencies."""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import Depends, Request, WebSocket

from shared.errors import Forbidden, Unauthorized
from shared.revocation import RevocationList

log = logging.getLogger("shared.auth")

ACCESS_COOKIE = "access_token_cookie"
REFRESH_COOKIE = "refresh_token_cookie"
CSRF_COOKIE = "csrf_access_token"
CSRF_HEADER = "x-csrf-token"
ALGORITHM = "EdDSA"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SESSION_TYPES = frozenset({"access", "refresh"})  # tokens of a session: they carry `sid`
TOKEN_PROTOCOLS = ("access_token", "bearer")  # Sec-WebSocket-Protocol: access_token, <jwt>


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request."""

    user_id: int
    username: str
    jti: str
    csrf: str | None
    via_cookie: bool
    claims: Mapping[str, Any]
    sid: str = ""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(public_key: Ed25519PublicKey, kid: str) -> dict[str, str]:
    """The JWK of an Ed25519 public key (RFC 8037)."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw), "kid": kid, "alg": ALGORITHM, "use": "sig"}


def key_id(public_key: Ed25519PublicKey) -> str:
    """A stable key id: the first 16 chars of the key's base64url SHA-256 thumbprint."""
    import hashlib

    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return _b64url(hashlib.sha256(raw).digest())[:16]


class TokenSigner:
    """Issues EdDSA JWTs with a `kid` header (used by the auth service and by tests)."""

    def __init__(self, private_key: Ed25519PrivateKey, issuer: str, audience: str) -> None:
        self.private_key = private_key
        self.kid = key_id(private_key.public_key())
        self.issuer = issuer
        self.audience = audience

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public key set for this signer."""
        return {"keys": [public_jwk(self.private_key.public_key(), self.kid)]}

    def issue(self, typ: str, sub: int | str, ttl_s: int, **extra: Any) -> tuple[str, dict[str, Any]]:
        """A signed token of type `typ` for subject `sub`, and its claims."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(sub),
            "typ": typ,
            "jti": extra.pop("jti", None) or uuid.uuid4().hex,
            "iat": now,
            "nbf": now - 1,
            "exp": now + ttl_s,
        }
        claims.update(extra)
        token = jwt.encode(claims, self.private_key, algorithm=ALGORITHM, headers={"kid": self.kid})
        return token, claims

    def access_token(
        self, user_id: int, username: str, ttl_s: int = 300, *, sid: str | None = None
    ) -> tuple[str, dict[str, Any]]:
        """An access token of session `sid` carrying a fresh CSRF value (auth always names the session;
        tests and benchmarks get a random one)."""
        return self.issue("access", user_id, ttl_s, name=username, csrf=secrets.token_urlsafe(24),
                          sid=sid or uuid.uuid4().hex)


class KeyFetchNeeded(Exception):
    """The token names a key id this verifier has not loaded; verifying it needs a JWKS fetch."""


AsyncJwksFetch = Callable[[], Awaitable[Mapping[str, Any]]]


def _invalid(message: str = "Your session is not valid; sign in again.") -> Unauthorized:
    return Unauthorized(message, code="invalid_token")


class TokenVerifier:
    """The one token verifier of every process (services and gateway).

    EdDSA only (the header's alg, jku, jwk and x5u are never trusted), iss/aud/exp/type checked, keys
    from a JWKS (static, a provider, a URL fetched with httpx, or an async fetch for the gateway; refetched
    when an unknown kid shows up, at most every `refetch_interval_s`). Access and refresh tokens must
    carry the session id `sid`, which is checked against the process's revocation list on every call,
    cached or not. Verified access tokens are cached (token -> claims), so a repeated token costs a dict
    lookup plus the revocation lookup.
    """

    def __init__(
        self,
        jwks_url: str | None,
        issuer: str,
        audience: str,
        *,
        jwks: Mapping[str, Any] | None = None,
        jwks_provider: Callable[[], Mapping[str, Any]] | None = None,
        async_jwks_fetch: AsyncJwksFetch | None = None,
        revocations: RevocationList | None = None,
        leeway_s: int = 30,
        refetch_interval_s: float = 2.0,
        cache_size: int = 4096,
    ) -> None:
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self.leeway_s = leeway_s
        self.revocations = revocations
        self._provider = jwks_provider
        self._async_fetch = async_jwks_fetch
        self._keys: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._last_fetch = float("-inf")
        self._refetch_interval_s = refetch_interval_s
        self._refetching: asyncio.Future[bool] | None = None
        # token -> (claims, accepted until): a verified access token is a dict lookup the next time
        self._cache: dict[str, tuple[dict[str, Any], float]] = {}
        self._cache_size = cache_size
        if jwks is not None:
            self._load(jwks)

    # ------------------------------------------------------------ keys

    @property
    def kids(self) -> frozenset[str]:
        """Key ids loaded now."""
        return frozenset(self._keys)

    def _load(self, jwks: Mapping[str, Any]) -> None:
        if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
            raise ValueError("not a JWKS")
        keys: dict[str, Any] = {}
        for jwk in jwks["keys"]:
            if not isinstance(jwk, Mapping) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
                continue
            if not isinstance(jwk.get("kid"), str):
                continue
            keys[jwk["kid"]] = jwt.PyJWK(dict(jwk), algorithm=ALGORITHM).key
        self._keys = keys

    def _fetch(self) -> Mapping[str, Any]:
        if self._provider is not None:
            return self._provider()
        if not self.jwks_url:
            return {"keys": []}
        resp = httpx.get(self.jwks_url, timeout=2.0)
        resp.raise_for_status()
        data: Mapping[str, Any] = resp.json()
        return data

    def _may_refetch(self) -> bool:
        return time.monotonic() - self._last_fetch >= self._refetch_interval_s

    def refresh(self, *, force: bool = False) -> None:
        """Fetch the JWKS again, blocking (rate limited unless forced); keeps the old keys on failure."""
        with self._lock:
            if not force and not self._may_refetch():
                return
            self._last_fetch = time.monotonic()
            try:
                self._load(self._fetch())
            except Exception as exc:  # auth down: keep the keys we have
                log.warning("could not fetch JWKS from %s: %s", self.jwks_url, exc)

    async def refresh_async(self, *, force: bool = False) -> bool:
        """Fetch the JWKS without blocking the loop; False on failure.

        Concurrent callers share the fetch in flight: a request that arrives while the keys are being
        fetched waits for them instead of being refused for an unknown key.
        """
        if self._refetching is not None:
            return await asyncio.shield(self._refetching)
        if not force and not self._may_refetch():
            return False
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._refetching = fut
        ok = False
        try:
            if self._async_fetch is None:
                await asyncio.to_thread(self.refresh, force=True)
                ok = bool(self._keys)
            else:
                self._load(await self._async_fetch())
                ok = True
        except Exception as exc:
            log.warning("JWKS fetch failed: %s", exc)
        finally:
            self._last_fetch = time.monotonic()
            self._refetching = None
            fut.set_result(ok)
        return ok

    # ------------------------------------------------------------ verification

    def _check_session(self, claims: Mapping[str, Any]) -> None:
        if self.revocations is not None:
            self.revocations.check(claims["sid"])

    def cached(self, token: str) -> dict[str, Any] | None:
        """The claims of an access token verified before and still valid (revocation checked); None if unknown."""
        hit = self._cache.get(token)
        if hit is None:
            return None
        if hit[1] <= time.time():
            self._cache.pop(token, None)
            return None
        self._check_session(hit[0])
        return hit[0]

    def verify(self, token: str, expected_type: str = "access", *, may_fetch: bool = True) -> dict[str, Any]:
        """The claims of a valid token of `expected_type`; Unauthorized (or 503 before revocations load) otherwise.

        With may_fetch=False a token signed by a key not loaded yet raises KeyFetchNeeded instead of
        fetching the JWKS (blocking I/O), so callers on the event loop can fetch asynchronously.
        """
        if expected_type == "access":
            claims = self.cached(token)
            if claims is not None:
                return claims
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _invalid() from exc
        if header.get("alg") != ALGORITHM or not isinstance(header.get("kid"), str):
            raise _invalid()
        key = self._keys.get(header["kid"])
        if key is None:
            if not may_fetch:
                raise KeyFetchNeeded(header["kid"])
            self.refresh()
            key = self._keys.get(header["kid"])
            if key is None:
                raise _invalid()
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": ["exp", "iat", "sub", "iss", "aud", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("Your session has expired; sign in again.", code="token_expired") from exc
        except jwt.PyJWTError as exc:
            raise _invalid() from exc
        if claims.get("typ") != expected_type:
            raise Unauthorized("This token cannot be used here.", code="invalid_token")
        if expected_type in SESSION_TYPES:
            if not isinstance(claims.get("sid"), str) or not claims["sid"]:
                raise _invalid()  # issued before sessions had ids (or forged without one)
            self._check_session(claims)
        if expected_type == "access":
            try:
                int(claims["sub"])
            except (TypeError, ValueError) as exc:
                raise _invalid() from exc
            cache = self._cache
            if len(cache) >= self._cache_size:
                now = time.time()
                for stale in [t for t, (_, until) in cache.items() if until <= now]:
                    del cache[stale]
                while len(cache) >= self._cache_size:
                    del cache[next(iter(cache))]
            cache[token] = (claims, float(claims["exp"]) + self.leeway_s)
        return claims

    async def verify_async(self, token: str, expected_type: str = "access") -> dict[str, Any]:
        """`verify` for the event loop: a cached token or a known key is checked inline, a JWKS fetch awaited."""
        if expected_type == "access":  # the gateway's hot path, inlined: one dict lookup + the revocation check
            hit = self._cache.get(token)
            if hit is not None and hit[1] > time.time():
                if self.revocations is not None:
                    self.revocations.check(hit[0]["sid"])
                return hit[0]
        try:
            return self.verify(token, expected_type, may_fetch=False)
        except KeyFetchNeeded:
            await self.refresh_async()
            try:
                return self.verify(token, expected_type, may_fetch=False)
            except KeyFetchNeeded:
                raise _invalid() from None


def cookie_value(cookie_header: str, name: str) -> str | None:
    """One cookie's value from a raw Cookie header, without parsing more of it than needed."""
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


def extract_token(authorization: str | None, cookies: Mapping[str, str] | str | None) -> tuple[str | None, bool]:
    """(access token, via_cookie) from `Authorization: Bearer` (preferred) or the access cookie.

    `cookies` is parsed cookies (Starlette) or the raw Cookie header (the gateway parses lazily).
    """
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip(), False
    if cookies:
        token = cookie_value(cookies, ACCESS_COOKIE) if isinstance(cookies, str) else cookies.get(ACCESS_COOKIE)
        if token:
            return token, True
    return None, False


def token_from_subprotocols(header: str | None) -> tuple[str | None, list[str], str | None]:
    """(token, other protocols, marker) from `Sec-WebSocket-Protocol: access_token, <jwt>[, ...]`.

    Browsers cannot set headers on a WebSocket; the subprotocol list is the one place besides the cookie
    where a token may travel (never the query string, which ends up in access logs).
    """
    if not header:
        return None, [], None
    items = [p.strip() for p in header.split(",") if p.strip()]
    for marker in TOKEN_PROTOCOLS:
        if marker in items:
            i = items.index(marker)
            if i + 1 < len(items):
                return items[i + 1], items[:i] + items[i + 2 :], marker
    return None, items, None


def is_browser_request(headers: Mapping[str, str]) -> bool:
    """Browsers send Origin or Sec-Fetch-Site on unsafe requests; curl and mobile clients don't."""
    return "origin" in headers or "sec-fetch-site" in headers


def check_csrf(method: str, headers: Mapping[str, str], claims: Mapping[str, Any], via_cookie: bool) -> None:
    """Signed double-submit: a cookie-authenticated unsafe browser request must echo the token's csrf."""
    if not via_cookie or method.upper() not in UNSAFE_METHODS or not is_browser_request(headers):
        return
    if headers.get("sec-fetch-site", "").lower() == "cross-site":
        raise Forbidden("Cross-site requests are not allowed.", code="csrf_failed")
    sent = headers.get(CSRF_HEADER, "")
    expected = str(claims.get("csrf") or "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise Forbidden("Missing or wrong CSRF token (send the csrf_access_token cookie as X-CSRF-TOKEN).",
                        code="csrf_failed")


def principal_from_claims(claims: Mapping[str, Any], via_cookie: bool) -> Principal:
    """Build the Principal of verified access-token claims."""
    return Principal(
        user_id=int(claims["sub"]),
        username=str(claims.get("name", "")),
        jti=str(claims.get("jti", "")),
        csrf=claims.get("csrf"),
        via_cookie=via_cookie,
        claims=claims,
        sid=str(claims.get("sid", "")),
    )


def _verifier(app_state: Any) -> TokenVerifier:
    verifier: TokenVerifier | None = getattr(app_state, "token_verifier", None)
    if verifier is None:
        raise RuntimeError("app.state.token_verifier is not set (use shared.app.create_service_app)")
    return verifier


def authenticate(request: Request, *, required: bool = True) -> Principal | None:
    """Verify the caller's token (and CSRF), blocking for a JWKS fetch if needed; None when anonymous."""
    token, via_cookie = extract_token(request.headers.get("authorization"), request.cookies)
    if token is None:
        if required:
            raise Unauthorized("Sign in to do this.", code="not_authenticated")
        return None
    claims = _verifier(request.app.state).verify(token)
    check_csrf(request.method, request.headers, claims, via_cookie)
    return principal_from_claims(claims, via_cookie)


async def _authenticate_async(request: Request, required: bool) -> Principal | None:
    # On the event loop: a cached token or a known key verifies in microseconds, less than the hop to a
    # worker thread that a sync dependency costs; only a JWKS fetch (an unknown key id) is awaited.
    token, via_cookie = extract_token(request.headers.get("authorization"), request.cookies)
    if token is None:
        if required:
            raise Unauthorized("Sign in to do this.", code="not_authenticated")
        return None
    claims = await _verifier(request.app.state).verify_async(token)
    check_csrf(request.method, request.headers, claims, via_cookie)
    return principal_from_claims(claims, via_cookie)


async def get_current_user(request: Request) -> Principal:
    """FastAPI dependency: the signed-in caller, or 401."""
    principal = await _authenticate_async(request, True)
    assert principal is not None
    return principal


async def get_optional_user(request: Request) -> Principal | None:
    """FastAPI dependency: the signed-in caller, or None for anonymous requests."""
    return await _authenticate_async(request, False)


CurrentUser = Annotated[Principal, Depends(get_current_user)]
OptionalUser = Annotated[Principal | None, Depends(get_optional_user)]


def websocket_token(websocket: WebSocket) -> tuple[str | None, bool, str | None]:
    """(token, via_cookie, subprotocol to accept) of a WebSocket handshake.

    The access cookie, an `Authorization: Bearer` header (non-browser clients, and the gateway, which
    forwards the token it checked this way) or `Sec-WebSocket-Protocol: access_token, <jwt>`; never the
    query string.
    """
    token, via_cookie = extract_token(websocket.headers.get("authorization"), websocket.cookies)
    if token is not None:
        return token, via_cookie, None
    proto_token, _, marker = token_from_subprotocols(websocket.headers.get("sec-websocket-protocol"))
    return proto_token, False, marker if proto_token else None


async def authenticate_websocket(websocket: WebSocket) -> Principal:
    """Authenticate a WebSocket handshake (see `websocket_token`); Unauthorized otherwise."""
    token, via_cookie, _ = websocket_token(websocket)
    if not token:
        raise Unauthorized("Sign in to do this.", code="not_authenticated")
    claims = await _verifier(websocket.app.state).verify_async(token)
    return principal_from_claims(claims, via_cookie)
