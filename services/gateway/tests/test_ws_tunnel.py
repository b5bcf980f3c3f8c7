"""WebSockets through the gateway: the byte tunnel (default) and the frame-by-frame proxy (GATEWAY_WS_TUNNEL=false)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from gw_helpers import Gw, Keys, Stack, bearer, start_gateway, stop_gateway
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect


@pytest.fixture(scope="module", params=["tunnel", "frames"])
def any_gw(request: pytest.FixtureRequest, stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gw]:
    g = start_gateway(stack, tmp_path_factory.mktemp(f"ws-{request.param}"),
                      GATEWAY_WS_TUNNEL="true" if request.param == "tunnel" else "false")
    yield g
    stop_gateway(g)


def _url(gw: Gw) -> str:
    return gw.url.replace("http://", "ws://") + "/api/chat/show/1/ws"


def test_large_and_many_messages_arrive_whole_and_in_order(any_gw: Gw, keys: Keys) -> None:
    big = bytes(range(256)) * 8192  # 2 MiB, several TCP reads on the way
    with ws_connect(_url(any_gw), additional_headers=bearer(keys.token()), max_size=None) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "hello"
        ws.send(big)
        assert ws.recv(timeout=10) == big
        for i in range(300):
            ws.send(f"m{i}")
        assert [ws.recv(timeout=5) for _ in range(300)] == [f"echo:m{i}" for i in range(300)]
        ws.send("close:4403")
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
    assert info.value.rcvd is not None and info.value.rcvd.code == 4403


def test_refusals_answer_http_with_the_contract_body(any_gw: Gw, keys: Keys) -> None:
    with pytest.raises(InvalidStatus) as info:
        ws_connect(_url(any_gw)).close()
    assert info.value.response.status_code == 401
    assert json.loads(info.value.response.body)["code"] == "not_authenticated"
    if "ws-tunnel" in str(any_gw.var_dir):  # the frame-by-frame proxy's refusals carry no request id
        assert info.value.response.headers["x-request-id"]


def test_an_unreachable_service_is_503(stack: Stack, keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> None:
    g = start_gateway(stack, tmp_path_factory.mktemp("ws-dead"), SOCIAL_URL=f"http://127.0.0.1:{stack.dead_port}")
    try:
        with pytest.raises(InvalidStatus) as info:
            ws_connect(_url(g), additional_headers=bearer(keys.token())).close()
        assert info.value.response.status_code == 503
    finally:
        stop_gateway(g)
