"""Tiny upstream apps for the gateway tests: echo, streaming, cookies, slow, websocket echo, JWKS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

CHUNK = b"x" * 65536


def openapi_for(name: str) -> dict[str, Any]:
    """A small spec with a public path, an /internal path and a colliding schema name."""
    prefix = {"auth": "/api/auth", "shows": "/api/shows", "media": "/api/photos", "social": "/api/comments"}[name]
    return {
        "openapi": "3.1.0",
        "info": {"title": name, "version": "1"},
        "paths": {
            f"{prefix}/things": {
                "get": {
                    "summary": f"List {name} things",
                    "operationId": "list_things",
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}},
                        },
                        "422": {
                            "description": "bad",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
                            },
                        },
                    },
                }
            },
            f"/internal/{name}/secret": {"get": {"summary": "internal", "responses": {"200": {"description": "x"}}}},
            "/health": {"get": {"summary": "health", "responses": {"200": {"description": "x"}}}},
        },
        "components": {
            "schemas": {
                "Thing": {"type": "object", "properties": {f"{name}_field": {"type": "string"}}},
                "HTTPValidationError": {"type": "object", "properties": {"detail": {"type": "array"}}},
            }
        },
    }


def make_upstream(name: str, jwks: Callable[[], dict[str, Any]] | None = None,
                  revocations: Callable[[int], dict[str, Any]] | None = None) -> Starlette:
    """An upstream standing in for one service."""

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def openapi(_: Request) -> JSONResponse:
        return JSONResponse(openapi_for(name))

    async def jwks_endpoint(_: Request) -> JSONResponse:
        return JSONResponse(jwks() if jwks else {"keys": []})

    async def revoked(request: Request) -> JSONResponse:
        if revocations is None:
            return JSONResponse({"error": "no route"}, status_code=404)
        return JSONResponse(revocations(int(request.query_params.get("after", "0"))))

    async def cookies(_: Request) -> Response:
        resp = Response(b"{}", media_type="application/json")
        resp.raw_headers.append((b"set-cookie", b"a=1; Path=/; HttpOnly"))
        resp.raw_headers.append((b"set-cookie", b"b=2; Path=/"))
        return resp

    async def slow(_: Request) -> JSONResponse:
        await asyncio.sleep(3)
        return JSONResponse({"slow": True})

    async def download(request: Request) -> StreamingResponse:
        size = int(request.query_params.get("size", "1048576"))

        async def gen() -> AsyncIterator[bytes]:
            left = size
            while left > 0:
                n = min(left, len(CHUNK))
                yield CHUNK[:n]
                left -= n

        headers = {"content-length": str(size)} if request.query_params.get("cl") else {}
        return StreamingResponse(gen(), media_type="application/octet-stream", headers=headers)

    async def broken(_: Request) -> StreamingResponse:
        async def gen() -> AsyncIterator[bytes]:
            for _ in range(16):
                yield CHUNK
            raise RuntimeError("upstream crashed mid-body")

        return StreamingResponse(gen(), headers={"content-length": str(10 * 1024 * 1024)})

    async def upload(request: Request) -> JSONResponse:
        n = 0
        async for chunk in request.stream():
            n += len(chunk)
        return JSONResponse(
            {
                "received": n,
                "content_length": request.headers.get("content-length"),
                "transfer_encoding": request.headers.get("transfer-encoding"),
            }
        )

    async def refuse(_: Request) -> JSONResponse:
        # decides from the head alone, like media refusing an upload to someone else's show
        return JSONResponse({"error": "Not your show.", "code": "forbidden"}, status_code=403)

    async def echo(request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse(
            {
                "service": name,
                "method": request.method,
                "path": request.url.path,
                "query": request.url.query,
                "headers": {k: v for k, v in request.headers.items()},
                "body_len": len(body),
            },
            headers={"x-upstream": name, "access-control-allow-origin": "*"},
        )

    async def ws_echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json(
            {
                "type": "hello",
                "service": name,
                "authorization": websocket.headers.get("authorization"),
                "request_id": websocket.headers.get("x-request-id"),
            }
        )
        try:
            while True:
                msg = await websocket.receive()
                if msg["type"] == "websocket.disconnect":
                    return
                text = msg.get("text")
                if text is not None and text.startswith("close:"):
                    await websocket.close(code=int(text.split(":", 1)[1]), reason="closed by upstream")
                    return
                if text is not None:
                    await websocket.send_text(f"echo:{text}")
                else:
                    await websocket.send_bytes(msg.get("bytes") or b"")
        except WebSocketDisconnect:
            return

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    routes = [
        Route("/health", health),
        Route("/openapi.json", openapi),
        Route("/api/auth/.well-known/jwks.json", jwks_endpoint),
        Route("/internal/sessions/revoked", revoked),
        Route("/api/shows/cookies", cookies),
        Route("/api/shows/slow", slow),
        Route("/api/videos/download", download),
        Route("/api/videos/upload", upload, methods=["POST", "PUT"]),
        Route("/api/videos", upload, methods=["POST"]),
        Route("/api/photos/refuse", refuse, methods=["POST"]),
        Route("/api/videos/broken", broken),
        WebSocketRoute("/api/chat/show/{show_id}/ws", ws_echo),
        Route("/{path:path}", echo, methods=methods),
    ]
    return Starlette(routes=routes)
