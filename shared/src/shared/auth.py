"""Token verification against the auth service's JWKS, CSRF checks and FastAPI dependencies."""

from __future__ import annotations

import base64
import hmac
import logging
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import Depends, Request, WebSocket
from starlette.concurrency import run_in_threadpool

from shared.errors import Forbidden, Unauthorized

log = logging.getLogger("shared.auth")

ACCESS_COOKIE = "access_token_cookie"
REFRESH_COOKIE = "refresh_token_cookie"
CSRF_COOKIE = "csrf_access_token"
CSRF_HEADER = "x-csrf-token"
ALGORITHM = "EdDSA"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request."""

    user_id: int
    username: str
    jti: str
    csrf: str | None
    via_cookie: bool
    claims: Mapping[str, Any]


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

    def access_token(self, user_id: int, username: str, ttl_s: int = 3600) -> tuple[str, dict[str, Any]]:
        """An access token carrying a fresh CSRF value."""
        return self.issue("access", user_id, ttl_s, name=username, csrf=secrets.token_urlsafe(24))


class KeyFetchNeeded(Exception):
    """The token names a key id this verifier has not loaded; verifying it needs a JWKS fetch."""


class TokenVerifier:
    """Verifies EdDSA JWTs with keys from a JWKS (cached; refetched when an unknown kid shows up)."""

    def __init__(
        self,
        jwks_url: str | None,
        issuer: str,
        audience: str,
        *,
        jwks: Mapping[str, Any] | None = None,
        jwks_provider: Callable[[], Mapping[str, Any]] | None = None,
        leeway_s: int = 30,
        refetch_interval_s: float = 2.0,
        cache_size: int = 4096,
    ) -> None:
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self.leeway_s = leeway_s
        self._provider = jwks_provider
        self._keys: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._last_fetch = 0.0
        self._refetch_interval_s = refetch_interval_s
        self._cache: OrderedDict[str, tuple[dict[str, Any], float]] = OrderedDict()
        self._cache_size = cache_size
        if jwks is not None:
            self._load(jwks)

    def _load(self, jwks: Mapping[str, Any]) -> None:
        keys: dict[str, Any] = {}
        for jwk in jwks.get("keys", []):
            if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or "kid" not in jwk:
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

    def refresh(self, *, force: bool = False) -> None:
        """Fetch the JWKS again (rate limited unless forced)."""
        with self._lock:
            now = time.monotonic()
            if not force and now - self._last_fetch < self._refetch_interval_s:
                return
            self._last_fetch = now
            try:
                self._load(self._fetch())
            except Exception as exc:  # auth down: keep the keys we have
                log.warning("could not fetch JWKS from %s: %s", self.jwks_url, exc)

    def _key_for(self, kid: str, may_fetch: bool) -> Any:
        key = self._keys.get(kid)
        if key is None:
            if not may_fetch:
                raise KeyFetchNeeded(kid)
            self.refresh()
            key = self._keys.get(kid)
        if key is None:
            raise Unauthorized("Your session is not valid; sign in again.", code="invalid_token")
        return key

    def verify(self, token: str, expected_type: str = "access", *, may_fetch: bool = True) -> dict[str, Any]:
        """The claims of a valid token of `expected_type`; Unauthorized otherwise.

        With may_fetch=False a token signed by a key not loaded yet raises KeyFetchNeeded instead of
        fetching the JWKS (blocking I/O), so callers on the event loop can move that case to a thread.
        """
        cached = self._cache.get(token)
        now = time.time()
        if cached is not None and cached[1] > now and cached[0].get("typ") == expected_type:
            return cached[0]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("Your session is not valid; sign in again.", code="invalid_token") from exc
        # The algorithm is pinned; the header's alg and any jku/jwk/x5u are never trusted.
        if header.get("alg") != ALGORITHM or not isinstance(header.get("kid"), str):
            raise Unauthorized("Your session is not valid; sign in again.", code="invalid_token")
        key = self._key_for(header["kid"], may_fetch)
        try:
            claims: dict[str, Any] = jwt.decode(
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
            raise Unauthorized("Your session is not valid; sign in again.", code="invalid_token") from exc
        if claims.get("typ") != expected_type:
            raise Unauthorized("This token cannot be used here.", code="invalid_token")
        if expected_type == "access":
            try:
                int(claims["sub"])
            except (TypeError, ValueError) as exc:
                raise Unauthorized("Your session is not valid; sign in again.", code="invalid_token") from exc
            self._cache[token] = (claims, float(claims["exp"]))
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return claims


def extract_token(headers: Mapping[str, str], cookies: Mapping[str, str]) -> tuple[str | None, bool]:
    """(token, via_cookie) from `Authorization: Bearer` or the access cookie."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip(), False
    token = cookies.get(ACCESS_COOKIE)
    return (token, True) if token else (None, False)


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
    )


def _verifier(app_state: Any) -> TokenVerifier:
    verifier: TokenVerifier | None = getattr(app_state, "token_verifier", None)
    if verifier is None:
        raise RuntimeError("app.state.token_verifier is not set (use shared.app.create_service_app)")
    return verifier


def authenticate(request: Request, *, required: bool = True, may_fetch: bool = True) -> Principal | None:
    """Verify the caller's token (and CSRF); None when anonymous and not required."""
    token, via_cookie = extract_token(request.headers, request.cookies)
    if token is None:
        if required:
            raise Unauthorized("Sign in to do this.", code="not_authenticated")
        return None
    claims = _verifier(request.app.state).verify(token, may_fetch=may_fetch)
    check_csrf(request.method, request.headers, claims, via_cookie)
    return principal_from_claims(claims, via_cookie)


async def _authenticate_async(request: Request, required: bool) -> Principal | None:
    # On the event loop: a cached token or a known key verifies in microseconds, less than the hop to a
    # worker thread that a sync dependency costs; only a JWKS fetch (an unknown key id) goes to a thread.
    try:
        return authenticate(request, required=required, may_fetch=False)
    except KeyFetchNeeded:
        return await run_in_threadpool(authenticate, request, required=required)


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


def authenticate_websocket(websocket: WebSocket) -> Principal:
    """Authenticate a WebSocket by cookie, bearer header, or `access_token` query parameter."""
    token, via_cookie = extract_token(websocket.headers, websocket.cookies)
    if token is None:
        token = websocket.query_params.get("access_token")
    if not token:
        raise Unauthorized("Sign in to do this.", code="not_authenticated")
    claims = _verifier(websocket.app.state).verify(token)
    return principal_from_claims(claims, via_cookie)
