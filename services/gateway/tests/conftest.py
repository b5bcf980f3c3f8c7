"""Fixtures: fake services as in-thread uvicorn servers, a JWKS with test keys, gateways as processes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from gw_helpers import Gw, Keys, ServerThread, Stack, free_port, start_gateway, stop_gateway
from gw_upstream_app import make_upstream


@pytest.fixture(scope="session")
def keys() -> Keys:
    k = Keys()
    k.active.append(k.new_signer())
    return k


@pytest.fixture(scope="session")
def stack(keys: Keys) -> Iterator[Stack]:
    servers = {}
    for name in ("auth", "shows", "media", "social"):
        app = make_upstream(name, keys.jwks if name == "auth" else None,
                            keys.revocations if name == "auth" else None)
        servers[name] = ServerThread(app, free_port()).start()
    yield Stack({n: s.port for n, s in servers.items()}, free_port())
    for s in servers.values():
        s.stop()


@pytest.fixture(scope="session")
def web_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("dist")
    (d / "index.html").write_text("<!doctype html><title>SPA</title><div id=root></div>")
    (d / "assets").mkdir()
    (d / "assets" / "app-3f9a1c2b.js").write_text("console.log('hi')")
    (d / "robots.txt").write_text("User-agent: *")
    return d


@pytest.fixture(scope="session")
def gw(stack: Stack, web_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gw]:
    """The main gateway: shows has a dead first instance, a built web app, generous limits."""
    shows = f"http://127.0.0.1:{stack.dead_port},http://127.0.0.1:{stack.ports['shows']}"
    g = start_gateway(stack, tmp_path_factory.mktemp("gw"), SHOWS_URL=shows, GATEWAY_WEB_DIR=str(web_dir),
                      MEDIA_PHOTO_MAX_BYTES="100000", GATEWAY_METRICS_TOKEN="scrape-secret")
    yield g
    stop_gateway(g)


@pytest.fixture(scope="session")
def gw_limited(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gw]:
    """A gateway with a tiny per-IP limit."""
    g = start_gateway(stack, tmp_path_factory.mktemp("gwl"), GATEWAY_RATE_LIMIT_IP="5",
                      GATEWAY_RATE_LIMIT_USER="3")
    yield g
    stop_gateway(g)


@pytest.fixture(scope="session")
def gw_degraded(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gw]:
    """A gateway whose social service is down and whose web app is not built."""
    g = start_gateway(stack, tmp_path_factory.mktemp("gwd"), SOCIAL_URL=f"http://127.0.0.1:{stack.dead_port}",
                      GATEWAY_WEB_DIR=str(tmp_path_factory.mktemp("nodist") / "dist"))
    yield g
    stop_gateway(g)


