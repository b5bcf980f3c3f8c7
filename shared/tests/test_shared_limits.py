"""BodyLimitMiddleware: declared lengths refused up front, chunked bodies counted, the exact boundary."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import FastAPI, Request
from pydantic import BaseModel

from shared.errors import install_exception_handlers
from shared.limits import (
    MULTIPART_SLACK,
    BodyLimitMiddleware,
    UploadLimitSettings,
    describe_size,
    too_large_message,
)

LIMIT = 1000


class Note(BaseModel):
    text: str


def make_app(routes: dict[tuple[str, str], int] | None = None) -> tuple[BodyLimitMiddleware, dict[str, Any]]:
    """A FastAPI app behind the middleware; `seen` records how much each route read."""
    app = FastAPI()
    install_exception_handlers(app)
    seen: dict[str, Any] = {"calls": 0}

    @app.post("/json")
    async def json_route(note: Note) -> dict[str, int]:
        seen["calls"] += 1
        return {"length": len(note.text)}

    @app.post("/stream")
    async def stream_route(request: Request) -> dict[str, int]:
        seen["calls"] += 1
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
            seen["streamed"] = total
        return {"length": total}

    return BodyLimitMiddleware(app, LIMIT, routes), seen


def call(app: Any, path: str, chunks: list[bytes], *, declare: bool) -> tuple[int, dict[str, Any], int]:
    """Drive the ASGI app; returns (status, JSON body, how many body messages the app pulled)."""
    headers = [(b"content-type", b"application/json")]
    if declare:
        headers.append((b"content-length", str(sum(map(len, chunks))).encode()))
    else:
        headers.append((b"transfer-encoding", b"chunked"))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "path": path,
             "raw_path": path.encode(), "root_path": "", "scheme": "http", "query_string": b"",
             "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    pending = list(chunks)
    pulled = 0
    out: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if not pending:
            await asyncio.sleep(3600)  # a real server would wait for more bytes
        pulled += 1
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
        else:
            out["body"] += message.get("body", b"")

    asyncio.run(asyncio.wait_for(app(scope, receive, send), 5))
    return out["status"], json.loads(out["body"]), pulled


def body_of(size: int) -> bytes:
    """A JSON body of exactly `size` bytes."""
    frame = b'{"text":""}'
    return frame[:9] + b"x" * (size - len(frame)) + frame[9:]


def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    app, seen = make_app()
    status, body, pulled = call(app, "/json", [body_of(LIMIT + 1)], declare=True)
    assert status == 413
    assert body == {"error": too_large_message(LIMIT), "code": "payload_too_large"}
    assert pulled == 0 and seen["calls"] == 0


def test_exact_boundary_is_accepted_one_more_byte_refused() -> None:
    app, _ = make_app()
    for declare in (True, False):
        status, body, _ = call(app, "/json", [body_of(LIMIT)], declare=declare)
        assert status == 200, body
        assert body == {"length": LIMIT - len(b'{"text":""}')}
        status, _, _ = call(app, "/json", [body_of(LIMIT + 1)], declare=declare)
        assert status == 413


def test_chunked_body_is_counted_and_stops_at_the_crossing_chunk() -> None:
    app, seen = make_app()
    data = body_of(10 * LIMIT)
    chunks = [data[i:i + 300] for i in range(0, len(data), 300)]
    status, body, pulled = call(app, "/json", chunks, declare=False)
    assert status == 413 and body["code"] == "payload_too_large"
    assert pulled == 4  # 1200 bytes > 1000: nothing after the chunk that crossed the limit is read
    assert seen["calls"] == 0


def test_streaming_route_is_cut_while_reading() -> None:
    app, seen = make_app()
    status, body, pulled = call(app, "/stream", [b"a" * 400] * 10, declare=False)
    assert status == 413 and body["code"] == "payload_too_large"
    assert pulled == 3 and seen["streamed"] == 800


def test_route_limits_override_the_default() -> None:
    app, _ = make_app({("POST", "/stream"): 5000})
    status, body, _ = call(app, "/stream", [b"a" * 1000] * 5, declare=False)
    assert status == 200 and body == {"length": 5000}
    status, _, _ = call(app, "/stream/", [b"a" * 5001], declare=True)
    assert status == 413
    status, _, _ = call(app, "/json", [body_of(LIMIT + 1)], declare=True)
    assert status == 413


def test_upload_limits_are_read_from_the_media_variables(monkeypatch) -> None:
    monkeypatch.setenv("MEDIA_PHOTO_MAX_BYTES", "1234")
    limits = UploadLimitSettings()
    assert limits.max_bytes("photo") == 1234
    assert limits.upload_body_limits()[("POST", "/api/photos")] == 1234 + MULTIPART_SLACK
    assert limits.upload_body_limits()[("POST", "/api/videos")] == 4000 * 1000 * 1000 + MULTIPART_SLACK


def test_sizes_read_as_people_write_them() -> None:
    assert describe_size(1024 * 1024) == "1 MiB"
    assert describe_size(50 * 1000 * 1000) == "50 MB"
    assert describe_size(4 * 1024**3) == "4 GiB"
    assert describe_size(1001) == "1001 bytes"
