"""WebSocket pass-through (chat): authenticate, connect upstream, pump frames both ways.

The token comes from the access cookie, an `Authorization: Bearer` header (non-browser clients) or
`Sec-WebSocket-Protocol: access_token, <jwt>`; never from the query string, which ends up in access
logs. The upstream closes the socket when its session is revoked or its access goes (4401/4403); the
pump passes the close code and reason on to the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

from gateway.auth import verify
from gateway.responses import GatewayError, Receive, Scope, Send
from gateway.routes import is_unsafe_path, match_route
from shared.auth import extract_token, token_from_subprotocols

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger("gateway.websocket")

FORWARD = frozenset({b"cookie", b"origin", b"user-agent", b"accept-language"})
RESERVED_CLOSE = frozenset({1004, 1005, 1006, 1015})


async def deny(scope: Scope, send: Send, err: GatewayError) -> None:
    """Refuse the handshake with an HTTP answer when the server supports it, else a close (403)."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        body = json.dumps({"error": err.message, "code": err.code}).encode()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": err.status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})


@dataclass
class WsPlan:
    """An authorised WebSocket request: where it goes and with which headers."""

    service: str
    target: str  # path and query string, as received
    up_headers: dict[str, str]
    protocols: list[str]  # the client's subprotocols without the token
    marker: str | None  # the subprotocol that carried the token, answered when the service picks none
    proto_token: str | None
    rid: str


async def authorize(gw: Gateway, scope: Scope) -> WsPlan:
    """Route, token, rate limits and origin of a WebSocket request; GatewayError when refused."""
    path: str = scope["path"]
    service = match_route(path)
    if service is None or is_unsafe_path(path):
        raise GatewayError(404, "Not found.", "not_found")
    hdrs: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        hdrs[name] = value.decode("latin-1")
    token, via_cookie = extract_token(hdrs.get(b"authorization"), hdrs.get(b"cookie"))
    proto_token, protocols, marker = token_from_subprotocols(hdrs.get(b"sec-websocket-protocol"))
    query = scope.get("query_string", b"").decode("latin-1")
    if token is None and proto_token:
        token = proto_token
    client_ip = gw.client_ip(scope, hdrs.get(b"x-forwarded-for"))
    rid = gw.request_id(hdrs.get(b"x-request-id"))
    gw.check_rate(f"ip:{client_ip}", gw.settings.rate_limit_ip)
    if token is None:
        raise gw.not_authenticated()
    claims = await verify(gw.verifier, token)
    gw.check_rate(f"user:{claims['sub']}", gw.settings.rate_limit_user)
    origin = hdrs.get(b"origin")
    if via_cookie and origin and not gw.cors.allowed(origin) and not gw.same_origin(origin, hdrs.get(b"host")):
        # Cross-site WebSocket hijacking: a foreign page riding on the cookie.
        raise GatewayError(403, "Cross-site WebSocket connections are not allowed.", "csrf_failed")
    up_headers: dict[str, str] = {
        "X-Request-ID": rid,
        "X-Forwarded-For": gw.forwarded_for(scope, hdrs.get(b"x-forwarded-for")),
        "X-Forwarded-Proto": "wss" if scope.get("scheme") == "wss" else "ws",
        "Authorization": f"Bearer {token}",
    }
    for name in FORWARD:
        if name in hdrs:
            up_headers[name.decode()] = hdrs[name]
    raw_path = scope.get("raw_path") or path.encode()
    target = raw_path.decode("latin-1") + (f"?{query}" if query else "")
    return WsPlan(service, target, up_headers, protocols, marker, proto_token, rid)


async def handle_websocket(gw: Gateway, scope: Scope, receive: Receive, send: Send) -> int:
    """Proxy one WebSocket frame by frame (GATEWAY_WS_TUNNEL=false); returns a status for the access log."""
    msg = await receive()
    if msg["type"] != "websocket.connect":
        return 400
    try:
        plan = await authorize(gw, scope)
    except GatewayError as err:
        await deny(scope, send, err)
        return err.status
    service, target, up_headers, protocols = plan.service, plan.target, plan.up_headers, plan.protocols
    proto_token, marker, rid = plan.proto_token, plan.marker, plan.rid
    session = gw.sessions[service]
    upstream = gw.upstreams[service]
    ws: aiohttp.ClientWebSocketResponse | None = None
    inst = upstream.pick()
    tried = 0
    while inst is not None and ws is None and tried < 2:
        tried += 1
        try:
            ws = await session.ws_connect(
                inst.base + target,
                headers=up_headers,
                protocols=protocols,
                autoping=True,
                max_msg_size=16 * 1024 * 1024,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0),
            )
        except aiohttp.WSServerHandshakeError as exc:
            status = exc.status if 400 <= exc.status < 600 else 502
            await deny(scope, send, GatewayError(status, "The service refused the connection.", "ws_refused"))
            return status
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError):
            upstream.eject(inst)
            inst = upstream.pick(exclude=inst)
        except (aiohttp.ClientError, TimeoutError):
            break
    if ws is None:
        await deny(scope, send, GatewayError(503, f"The {service} service is unavailable, try again shortly.",
                                             "service_unavailable"))
        return 503

    chosen = ws.protocol or (marker if proto_token and marker else None)
    accept: dict[str, Any] = {"type": "websocket.accept", "headers": [(b"x-request-id", rid.encode())]}
    if chosen:
        accept["subprotocol"] = chosen
    await send(accept)
    await _pump(ws, receive, send)
    return 101


async def _pump(ws: aiohttp.ClientWebSocketResponse, receive: Receive, send: Send) -> None:
    """Copy frames both ways until one side closes, then close the other with the same code."""

    async def client_to_upstream() -> None:
        while True:
            msg = await receive()
            kind = msg["type"]
            if kind == "websocket.receive":
                if msg.get("text") is not None:
                    await ws.send_str(msg["text"])
                else:
                    await ws.send_bytes(msg.get("bytes") or b"")
            elif kind == "websocket.disconnect":
                code = int(msg.get("code") or 1000)
                await ws.close(code=1000 if code in RESERVED_CLOSE else code)
                return

    async def upstream_to_client() -> None:
        reason = ""
        while True:
            frame = await ws.receive()
            if frame.type == aiohttp.WSMsgType.TEXT:
                await send({"type": "websocket.send", "text": frame.data})
            elif frame.type == aiohttp.WSMsgType.BINARY:
                await send({"type": "websocket.send", "bytes": frame.data})
            elif frame.type == aiohttp.WSMsgType.CLOSE:
                reason = str(frame.extra or "")  # e.g. "You were signed out." with 4401: the client shows it
                break
            else:  # CLOSING, CLOSED, ERROR
                break
        code = ws.close_code or 1000
        with contextlib.suppress(Exception):
            await send({"type": "websocket.close", "code": 1011 if code in RESERVED_CLOSE else code,
                        "reason": reason.encode()[:120].decode(errors="ignore")})

    tasks = [asyncio.ensure_future(client_to_upstream()), asyncio.ensure_future(upstream_to_client())]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
        for t in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                log.info("websocket pump ended: %r", t.exception())
    finally:
        for t in tasks:
            t.cancel()
        if not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()
