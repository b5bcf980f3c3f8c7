"""InternalClient: a dropped connection is retried for idempotent calls and is a clean 503 otherwise."""

from __future__ import annotations

import httpx
import pytest

from shared.errors import ServiceUnavailable
from shared.internal import InternalClient


def _client(handler: object) -> InternalClient:
    client = InternalClient("http://shows.test", "secret", service="shows")
    client._client = httpx.Client(transport=httpx.MockTransport(handler))  # type: ignore[arg-type]
    return client


def test_a_get_on_a_connection_being_closed_runs_again() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) == 1:
            raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
        return httpx.Response(200, json={"ok": True})

    assert _client(handler).get_json("/internal/shows/1/access") == {"ok": True}
    assert calls == ["GET", "GET"]


def test_a_post_is_not_repeated_and_fails_as_unavailable() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)

    with pytest.raises(ServiceUnavailable):
        _client(handler).request("POST", "/internal/things")
    assert calls == ["POST"]


def test_a_get_that_keeps_failing_is_unavailable_not_a_500() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("reset", request=request)

    with pytest.raises(ServiceUnavailable):
        _client(handler).get_json("/internal/shows/1/access")
