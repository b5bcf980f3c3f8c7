"""The gateway's own HTTP/1.1 client (gateway.client) against a raw-socket upstream that misbehaves on purpose.

The upstream here is a socket server, not an ASGI app, so that each test controls the bytes: keep-alive
connections closed at the worst moment, answers before the body is read, HEAD answers with a length,
bodies delimited by the close, headers in odd case and repeated.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gw_helpers import Gw, Keys, Stack, bearer, start_gateway, stop_gateway

MB = 1024 * 1024


class RawUpstream:
    """A threaded HTTP/1.1 server written with sockets; the behaviour is chosen by the request path."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.heads: list[bytes] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.sock.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                index = self.connections
            threading.Thread(target=self._serve, args=(conn, index), daemon=True).start()

    def _serve(self, conn: socket.socket, index: int) -> None:
        buf = b""
        served = 0
        drop_next = False
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    try:
                        data = conn.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                self.heads.append(head)
                if drop_next:
                    return  # a kept-alive connection closed just as the next request came in
                served += 1
                lines = head.split(b"\r\n")
                method, target, _ = lines[0].split(b" ")
                path = target.decode().split("?")[0]
                headers = [line.split(b":", 1) for line in lines[1:]]
                length = next((int(v) for k, v in headers if k.strip().lower() == b"content-length"), 0)
                if path == "/api/photos/early":
                    # read a little of a large body, then refuse and hang up (like a 413 mid-upload)
                    while len(buf) < 64 * 1024:
                        if b"100-continue" in head.lower() and not buf:
                            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                        data = conn.recv(65536)
                        if not data:
                            return
                        buf += data
                    body = b'{"error":"too big","code":"payload_too_large"}'
                    conn.sendall(b"HTTP/1.1 413 Payload Too Large\r\ncontent-type: application/json\r\n"
                                 b"content-length: %d\r\nconnection: close\r\n\r\n%b" % (len(body), body))
                    return
                if path == "/api/photos/refusehead":
                    # refuse from the head and keep the connection, as uvicorn does: the body the client may
                    # still send is read and thrown away before the next request on this connection
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\n"
                                 b"content-length: 2\r\n\r\n{}")
                    while len(buf) < length:
                        data = conn.recv(65536)
                        if not data:
                            return
                        buf += data
                    buf = buf[length:]
                    continue
                if b"100-continue" in head.lower():
                    conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                while len(buf) < length:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                body_in, buf = buf[:length], buf[length:]
                if path == "/api/photos/untilclose":
                    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n")
                    for i in range(20):
                        conn.sendall(b"%05d" % i * 1000)
                    return
                if path == "/api/photos/headers":
                    body = b"{}"
                    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Mixed-Case: Keep\r\nx-dup: 1\r\nx-dup: 2\r\n"
                                 b"Set-Cookie: a=1; Path=/\r\nSet-Cookie: b=2; Path=/\r\nX-Latin: caf\xe9\r\n"
                                 b"content-type: application/json\r\ncontent-length: 2\r\n\r\n" + body)
                    continue
                answer = json.dumps({"connection": index, "served": served, "method": method.decode(),
                                     "body_len": len(body_in), "head": head.decode("latin-1")}).encode()
                if method == b"HEAD":
                    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                 b"content-length: %d\r\n\r\n" % len(answer))
                    continue
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%b"
                             % (len(answer), answer))
                if path == "/api/photos/garbage":
                    # an answer to nothing, cut short, on the kept-alive connection
                    time.sleep(0.05)
                    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nstale")
                if path == "/api/photos/stale":
                    drop_next = True
                elif path == "/api/photos/idleclose":
                    time.sleep(0.05)
                    return


@pytest.fixture(scope="module")
def raw() -> Iterator[RawUpstream]:
    up = RawUpstream()
    yield up
    up.close()


@pytest.fixture(scope="module")
def rgw(stack: Stack, raw: RawUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gw]:
    """A gateway whose media service is the raw upstream (one instance: no other replica to retry on)."""
    g = start_gateway(stack, tmp_path_factory.mktemp("rgw"), MEDIA_URL=f"http://127.0.0.1:{raw.port}")
    yield g
    stop_gateway(g)


def test_keep_alive_connections_are_reused(rgw: Gw, raw: RawUpstream, keys: Keys) -> None:
    with rgw.client() as c:
        first = c.get("/api/photos/ka", headers=bearer(keys.token())).json()
        answers = [c.get("/api/photos/ka", headers=bearer(keys.token())).json() for _ in range(20)]
    assert {a["connection"] for a in answers} == {first["connection"]}, "one upstream connection for 21 requests"
    assert answers[-1]["served"] >= 21


def test_get_on_a_connection_the_upstream_just_closed_is_retried_on_a_fresh_one(
    rgw: Gw, raw: RawUpstream, keys: Keys
) -> None:
    with rgw.client() as c:
        stale = c.get("/api/photos/stale", headers=bearer(keys.token()))
        assert stale.status_code == 200
        # the next request goes out on that kept-alive connection, which the upstream closes unanswered
        r = c.get("/api/photos/ka", headers=bearer(keys.token()))
        assert r.status_code == 200, r.text
        assert r.json()["connection"] != stale.json()["connection"]
        # a non-idempotent request that meets the same fate is not replayed (it might have run): 502
        c.get("/api/photos/stale", headers=bearer(keys.token()))
        r = c.post("/api/photos/ka", content=b"{}", headers=bearer(keys.token()))
        assert r.status_code == 502, r.text
        assert r.json()["code"] == "bad_gateway"
        assert c.post("/api/photos/ka", content=b"{}", headers=bearer(keys.token())).status_code == 200


def test_an_idle_connection_closed_by_the_upstream_is_not_reused(rgw: Gw, raw: RawUpstream, keys: Keys) -> None:
    with rgw.client() as c:
        first = c.get("/api/photos/idleclose", headers=bearer(keys.token())).json()
        time.sleep(0.5)  # the upstream has closed it meanwhile
        r = c.post("/api/photos/ka", content=b"x" * 10, headers=bearer(keys.token()))
    assert r.status_code == 200, r.text
    assert r.json()["connection"] != first["connection"]
    assert r.json()["body_len"] == 10


def test_response_headers_preserved(rgw: Gw, keys: Keys) -> None:
    with rgw.client() as c:
        r = c.get("/api/photos/headers", headers=bearer(keys.token()))
    assert r.status_code == 200
    assert r.headers["x-mixed-case"] == "Keep"
    assert r.headers.get_list("x-dup") == ["1", "2"]
    assert r.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert r.headers.raw.count((b"x-latin", b"caf\xe9")) == 1  # bytes passed as they came
    assert r.headers["x-request-id"]
    assert r.content == b"{}"


def test_request_head_forwarded_byte_exact(rgw: Gw, keys: Keys) -> None:
    with rgw.client() as c:
        r = c.get("/api/photos/ka?q=a%20b&x=%C3%A9", headers={**bearer(keys.token()), "X-Latin": b"caf\xe9",
                                                              "X-Request-ID": "abc-123"})
    head = r.json()["head"]
    lines = head.split("\r\n")
    assert lines[0] == "GET /api/photos/ka?q=a%20b&x=%C3%A9 HTTP/1.1"
    names = [line.split(":", 1)[0].lower() for line in lines[1:]]
    assert names.count("host") == 1 and names.count("x-request-id") == 1
    assert "x-latin: caf\xe9" in lines
    assert "x-request-id: abc-123" in lines
    assert any(line.startswith("x-forwarded-host: 127.0.0.1:") for line in lines)


def test_http10_request_without_host_gets_one(rgw: Gw, raw: RawUpstream, keys: Keys) -> None:
    port = int(rgw.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET /api/photos/ka HTTP/1.0\r\nAuthorization: Bearer {keys.token()}\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    head = json.loads(data.split(b"\r\n\r\n", 1)[1])["head"]
    assert f"host: 127.0.0.1:{raw.port}" in head.split("\r\n")


def test_head_answer_does_not_desynchronise_the_next_request(rgw: Gw, keys: Keys) -> None:
    with rgw.client() as c:
        h = c.head("/api/photos/ka", headers=bearer(keys.token()))
        assert h.status_code == 200 and h.content == b""
        assert int(h.headers["content-length"]) > 0
        r = c.get("/api/photos/ka", headers=bearer(keys.token()))
    assert r.status_code == 200 and r.json()["method"] == "GET"


def test_body_delimited_by_the_close_is_forwarded_whole(rgw: Gw, keys: Keys) -> None:
    with rgw.client() as c:
        r = c.get("/api/photos/untilclose", headers=bearer(keys.token()))
        assert r.status_code == 200
        assert r.content == b"".join(b"%05d" % i * 1000 for i in range(20))
        assert c.get("/api/photos/ka", headers=bearer(keys.token())).status_code == 200


def test_an_answer_before_the_body_is_read_reaches_the_client(rgw: Gw, keys: Keys) -> None:
    def gen() -> Iterator[bytes]:
        for _ in range(5):
            yield b"e" * MB

    with rgw.client() as c:
        r = c.post("/api/photos/early", content=gen(), headers={**bearer(keys.token()),
                                                                 "Content-Length": str(5 * MB)})
        assert r.status_code == 413, r.text  # the upstream's answer, not a 502 for the body it stopped reading
        assert r.json()["code"] == "payload_too_large"
        assert c.get("/api/photos/ka", headers=bearer(keys.token())).status_code == 200
    time.sleep(0.3)
    assert "Traceback" not in Path(rgw.log_path).read_text(errors="replace")


def test_bytes_on_an_idle_connection_retire_it(rgw: Gw, raw: RawUpstream, keys: Keys) -> None:
    with rgw.client() as c:
        first = c.get("/api/photos/garbage", headers=bearer(keys.token())).json()
        time.sleep(0.4)  # the unsolicited bytes have arrived on the idle connection
        r = c.get("/api/photos/ka", headers=bearer(keys.token()))
    assert r.status_code == 200, r.text
    assert r.json()["method"] == "GET" and r.json()["connection"] != first["connection"]


def test_a_connection_whose_body_was_refused_is_not_reused(rgw: Gw, raw: RawUpstream, keys: Keys) -> None:
    # the upstream answers 403 before asking for the body and would take the next request's bytes for it
    with rgw.client() as c:
        r = c.post("/api/photos/refusehead", content=b"r" * 300_000, headers=bearer(keys.token()))
        assert r.status_code == 403
        for _ in range(3):
            ok = c.get("/api/photos/ka", headers=bearer(keys.token()))
            assert ok.status_code == 200, ok.text
