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


# ---------------------------------------------------------------- a busy peer is waited for, a down one is not


def _busy_client(handler: object, busy_wait_s: float = 3.0) -> InternalClient:
    client = InternalClient("http://shows.test", "secret", service="shows", timeout_s=0.2, busy_wait_s=busy_wait_s)
    client._client = httpx.Client(transport=httpx.MockTransport(handler))  # type: ignore[arg-type]
    return client


def test_a_read_that_times_out_is_asked_again_with_a_longer_timeout() -> None:
    timeouts: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"]["read"])
        if len(timeouts) < 3:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, json={"ok": True})

    assert _busy_client(handler).get_json("/internal/shows/1/access") == {"ok": True}
    assert timeouts[:3] == [0.2, 0.4, 0.8]


def test_a_busy_answer_with_retry_after_is_waited_for() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) == 1:
            return httpx.Response(503, headers={"Retry-After": "0.1"}, json={"error": "busy"})
        return httpx.Response(200, json={"ok": True})

    assert _busy_client(handler).get_json("/internal/shows/1/access") == {"ok": True}
    assert calls == ["GET", "GET"]


def test_a_post_waits_once_for_the_whole_budget_and_is_never_repeated() -> None:
    seen: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"]["read"])
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(ServiceUnavailable):
        _busy_client(handler, busy_wait_s=3.0).request("POST", "/internal/things")
    assert len(seen) == 1 and seen[0] > 2.5


def test_a_peer_that_stays_busy_ends_as_503_with_retry_after() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(ServiceUnavailable) as caught:
        _busy_client(handler, busy_wait_s=0.5).get_json("/internal/shows/1/access")
    assert caught.value.headers.get("Retry-After")


def test_a_503_without_retry_after_is_passed_on_at_once() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return httpx.Response(503, json={"error": "down", "code": "service_unavailable"})

    with pytest.raises(ServiceUnavailable):
        _busy_client(handler, busy_wait_s=30).get_json("/internal/shows/1/access")
    assert calls == ["GET"]


def test_a_peer_that_refuses_connections_fails_at_once() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ServiceUnavailable):
        _busy_client(handler, busy_wait_s=30).get_json("/internal/shows/1/access")
    assert calls == ["GET"]
