"""The gateway's answers for the token pre-check (verification itself is shared.auth.TokenVerifier)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.responses import GatewayError
from shared import auth as shared_auth
from shared.auth import TokenVerifier
from shared.errors import ServiceError


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


async def verify(verifier: TokenVerifier, token: str) -> dict[str, Any]:
    """The claims of a valid access token of a live session; GatewayError (401, or 503) otherwise."""
    try:
        return await verifier.verify_async(token)
    except ServiceError as exc:
        raise from_service_error(exc) from exc
