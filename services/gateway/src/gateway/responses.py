"""Small ASGI response helpers (JSON bodies in the contract's error shape)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON_CT = (b"content-type", b"application/json")
HTML_CT = (b"content-type", b"text/html; charset=utf-8")


class GatewayError(Exception):
    """An error the gateway answers itself with the contract's error body."""

    def __init__(
        self, status: int, message: str, code: str, headers: Headers | None = None
    ) -> None:
        """Keep status, message, code and extra headers."""
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or []


def error_body(message: str, code: str) -> bytes:
    """The contract's error body (details only for validation errors, as the services do)."""
    return json.dumps({"error": message, "code": code}).encode()


async def send_bytes(
    send: Send, status: int, body: bytes, headers: Headers, *, head: bool = False
) -> None:
    """Send a complete response with a known body."""
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def send_json(
    send: Send, status: int, data: Any, headers: Headers | None = None, *, head: bool = False
) -> None:
    """Send a JSON response."""
    body = json.dumps(data, separators=(",", ":")).encode()
    hdrs = [JSON_CT, *(headers or [])]
    await send_bytes(send, status, body, hdrs, head=head)


async def send_error(send: Send, err: GatewayError, headers: Headers | None = None) -> None:
    """Send a GatewayError as the contract's error body."""
    hdrs = [JSON_CT, *err.headers, *(headers or [])]
    await send_bytes(send, err.status, error_body(err.message, err.code), hdrs)

