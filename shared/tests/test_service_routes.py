"""No service route is shadowed by a route of a router included before its own (same method).

FastAPI matches a request against one route at a time, in the order the routers were included; the services
include their most-asked routers first (the internal reads and access checks, the dashboard). That is only a
matter of cost if the order cannot make a route unreachable: where a route of one router would also match a
path of another (media's `/hls/chapters.vtt` and `/hls/{path:path}`), the specific one's router must come first.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import compile_path

SERVICES = ["auth", "shows", "media", "social"]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def _routes(router: Any) -> list[tuple[str, set[str], Any]]:
    out = []
    for route in router.routes:
        if isinstance(route, APIRoute):
            out.append((route.path, set(route.methods or ()), compile_path(route.path)[0]))
        elif isinstance(route, APIWebSocketRoute):
            out.append((route.path, {"WEBSOCKET"}, compile_path(route.path)[0]))
    return out


@pytest.mark.parametrize("service", SERVICES)
def test_no_route_is_shadowed_by_an_earlier_router(service: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.setenv("ENV", "testing")
    app = importlib.import_module(f"{service}.main").create_app()
    routers = [_routes(r) for r in app.state.routers]
    assert sum(len(r) for r in routers) > 5
    clashes = []
    for i, mine in enumerate(routers):
        for j, theirs in enumerate(routers):
            if j >= i:
                continue  # only routers included before this one can take its paths
            for path, methods, _ in mine:
                for other, other_methods, regex in theirs:
                    if methods & other_methods and regex.match(_concrete(path)):
                        clashes.append(f"{sorted(methods & other_methods)} {path} (router {i}) is matched by {other} "
                                       f"(router {j})")
    assert clashes == []


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_runs_its_sync_endpoint_in_one_hop(service: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Service routers come from shared.db.service_router: a sync endpoint runs with its commit in one
    worker-thread hop (OneHopRoute), not FastAPI's three (endpoint, answer validation, commit)."""
    from shared.db import OneHopRoute

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.setenv("ENV", "testing")
    app = importlib.import_module(f"{service}.main").create_app()
    plain = [f"{sorted(route.methods or ())} {route.path}" for router in app.state.routers for route in router.routes
             if isinstance(route, APIRoute) and not isinstance(route, OneHopRoute)]
    assert plain == [], "routers not made by shared.db.service_router"
