"""CORS for the configured origins (credentials allowed); preflights answered by the gateway."""

from __future__ import annotations

from gateway.responses import Headers

ALLOW_METHODS = b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = b"Authorization, Content-Type, X-CSRF-TOKEN, X-Request-ID, X-Show-Id, Range, If-None-Match, If-Match"
EXPOSE_HEADERS = b"X-Request-ID, X-Total-Count, Link, Retry-After, Content-Range, Content-Disposition, ETag"
MAX_AGE = b"600"


class Cors:
    """Decides which origins get CORS headers (exact matches only, never an echo of unknown ones)."""

    def __init__(self, origins: frozenset[str]) -> None:
        """Keep the allowed origins."""
        self.origins = origins
        self._headers: dict[str, Headers] = {
            o: [
                (b"access-control-allow-origin", o.encode()),
                (b"access-control-allow-credentials", b"true"),
                (b"access-control-expose-headers", EXPOSE_HEADERS),
                (b"vary", b"Origin"),
            ]
            for o in origins
        }

    def response_headers(self, origin: str | None) -> Headers:
        """Headers to add to an actual response for this Origin (empty when not allowed)."""
        if origin is None:
            return []
        return self._headers.get(origin, [(b"vary", b"Origin")])

    def allowed(self, origin: str) -> bool:
        """Whether an origin is configured."""
        return origin in self.origins

    def preflight_headers(self, origin: str, request_headers: str | None) -> Headers:
        """Headers of a successful preflight answer."""
        allow_headers = ALLOW_HEADERS
        if request_headers:
            # Only header names (tokens) are echoed, so nothing odd can be injected.
            names = [h.strip() for h in request_headers.split(",") if h.strip()]
            if all(n.replace("-", "").replace("_", "").isalnum() for n in names):
                allow_headers = ", ".join(names).encode()
        return [
            (b"access-control-allow-origin", origin.encode()),
            (b"access-control-allow-credentials", b"true"),
            (b"access-control-allow-methods", ALLOW_METHODS),
            (b"access-control-allow-headers", allow_headers),
            (b"access-control-max-age", MAX_AGE),
            (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
        ]
