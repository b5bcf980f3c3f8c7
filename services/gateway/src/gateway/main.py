"""Entry point: `gateway` runs the ASGI app with uvicorn (uvloop + httptools)."""

from __future__ import annotations

import uvicorn

from gateway.app import Gateway, create_app
from gateway.config import get_settings
from gateway.server import SUPPORTED


def app_factory() -> Gateway:
    """Factory for uvicorn (one app per worker process)."""
    return create_app()


def main() -> None:
    """Run the gateway on HOST/PORT (default 127.0.0.1:5000) with GATEWAY_WORKERS processes."""
    settings = get_settings()
    uvicorn.run(
        "gateway.main:app_factory",
        factory=True,
        host=settings.host,
        port=settings.listen_port,
        workers=settings.api_workers,
        loop="uvloop",
        http="gateway.server:FastHttpToolsProtocol" if SUPPORTED else "httptools",
        ws="websockets-sansio",
        lifespan="on",
        access_log=False,
        log_config=None,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=5,
        timeout_keep_alive=30,
        backlog=2048,
    )


if __name__ == "__main__":
    main()
