"""Helpers for the gateway tests: in-thread upstream servers, test keys and JWKS, gateway processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.auth import TokenSigner, public_jwk

ISSUER = "sharemyshows-auth"
AUDIENCE = "sharemyshows"


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """A uvicorn server running an ASGI app in a background thread."""

    def __init__(self, app: Any, port: int) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off",
                                ws="websockets-sansio", loop="asyncio")
        self.server = uvicorn.Server(config)
        self.port = port
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("upstream did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)


@dataclass
class Keys:
    """Signing keys; `active` are published in the JWKS (tests rotate them)."""

    active: list[TokenSigner] = field(default_factory=list)
    fetches: int = 0

    def new_signer(self) -> TokenSigner:
        return TokenSigner(Ed25519PrivateKey.generate(), ISSUER, AUDIENCE)

    def jwks(self) -> dict[str, Any]:
        self.fetches += 1
        return {"keys": [public_jwk(s.private_key.public_key(), s.kid) for s in self.active]}

    def token(self, user_id: int = 1, signer: TokenSigner | None = None, **claims: Any) -> str:
        signer = signer or self.active[0]
        token, _ = signer.issue(claims.pop("typ", "access"), user_id, claims.pop("ttl", 600), name=f"user{user_id}",
                                csrf=claims.pop("csrf", "csrf-value"), **claims)
        return token


@dataclass
class Stack:
    """Ports of the fake services."""

    ports: dict[str, int]
    dead_port: int


@dataclass
class Gw:
    """A running gateway process."""

    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kw)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_gateway(stack: Stack, tmp: Path, **env: str) -> Gw:
    port = free_port()
    url = lambda n: f"http://127.0.0.1:{stack.ports[n]}"  # noqa: E731
    full = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "ENV": "testing",
        "AUTH_URL": url("auth"),
        "SHOWS_URL": url("shows"),
        "MEDIA_URL": url("media"),
        "SOCIAL_URL": url("social"),
        "REDIS_URL": "",
        "GATEWAY_CORS_ORIGINS": "http://good.example",
        "GATEWAY_READ_TIMEOUT": "1.5",
        "GATEWAY_JWKS_MIN_REFETCH_SECONDS": "0",
        "GATEWAY_OPENAPI_CACHE_SECONDS": "0",
        "LOG_LEVEL": "INFO",
        **env,
    }
    log_path = tmp / f"gateway-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-c", "from gateway.main import main; main()"], env=full,
                                stdout=log, stderr=subprocess.STDOUT)
    gw = Gw(f"http://127.0.0.1:{port}", proc, log_path)
    deadline = time.monotonic() + 60  # a busy machine (parallel test runs) can take this long to import
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited: {gw.log_text()}")
        try:
            if httpx.get(f"{gw.url}/ready", timeout=2).status_code in (200, 503):
                return gw
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"gateway did not start: {gw.log_text()}")


def stop_gateway(gw: Gw) -> None:
    gw.proc.terminate()
    try:
        gw.proc.wait(10)
    except subprocess.TimeoutExpired:
        gw.proc.kill()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def alg_none_token(sub: str = "1") -> str:
    """An unsigned token (alg none)."""
    now = int(time.time())
    return jwt.encode({"sub": sub, "typ": "access", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600,
                       "jti": "x"}, None, algorithm="none", headers={"kid": "whatever"})
