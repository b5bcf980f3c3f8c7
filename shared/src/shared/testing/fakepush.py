"""A stand-in Web Push service and browser for tests (issue 16).

`FakePushService` listens on 127.0.0.1 (real sockets, a thread of the test process), records every push
(path, lower-cased headers, body) and answers 201, or 410 ("subscription gone") under `/gone/`. Point a
subscription's endpoint at `service.url + "/push/<name>"` and let social reach it with
`SOCIAL_PUSH_INSECURE_HOSTS=127.0.0.1`. `Browser` holds the keys a browser would subscribe with and decrypts
what the push service received (aes128gcm), so a test checks the payload social encrypted.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(data: bytes) -> str:
    """Unpadded base64url, as Web Push spells keys."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def vapid_private_key() -> str:
    """A fresh VAPID private key in the form SOCIAL_VAPID_PRIVATE_KEY takes (raw P-256 value, base64url)."""
    value = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
    return b64url(value.to_bytes(32, "big"))


class FakePushService:
    """Records every push; answers 201, or 410 for endpoints under /gone/."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.requests.append({"path": self.path, "headers": headers, "body": body})
                self.send_response(410 if self.path.startswith("/gone/") else 201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, n: int, timeout_s: float = 10.0, path: str | None = None) -> list[dict[str, Any]]:
        """The recorded pushes (to `path` only, if given) once there are `n` of them; fails after the timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            got = [r for r in self.requests if path is None or r["path"] == path]
            if len(got) >= n:
                return got
            assert time.monotonic() < deadline, f"{len(got)} of {n} pushes arrived"
            time.sleep(0.02)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Browser:
    """A browser's push keys: it decrypts what the push service hands it."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        point = self.key.public_key().public_bytes(serialization.Encoding.X962,
                                                    serialization.PublicFormat.UncompressedPoint)
        self.keys = {"p256dh": b64url(point), "auth": b64url(self.auth)}

    def decrypt(self, body: bytes) -> dict[str, Any]:
        """The JSON payload of one push."""
        import http_ece  # social's dependency (through pywebpush), needed only by tests that push

        return json.loads(http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"))
