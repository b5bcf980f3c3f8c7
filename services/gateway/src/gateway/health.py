"""Aggregate health: every service's /health, concurrently, with a short timeout."""

from __future__ import annotations

import asyncio

import aiohttp

from gateway.routes import Upstream


async def instance_ok(session: aiohttp.ClientSession, base: str, timeout_s: float) -> bool:
    """Whether one instance answers /health with 2xx in time."""
    try:
        async with session.get(f"{base}/health", timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            await resp.read()
            return 200 <= resp.status < 300
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return False


async def service_status(session: aiohttp.ClientSession, upstream: Upstream, timeout_s: float) -> str:
    """'ok' when at least one instance of the service is healthy, else 'down'."""
    if not upstream.instances:
        return "down"
    results = await asyncio.gather(*(instance_ok(session, i.base, timeout_s) for i in upstream.instances))
    return "ok" if any(results) else "down"


async def aggregate(
    sessions: dict[str, aiohttp.ClientSession], upstreams: dict[str, Upstream], timeout_s: float
) -> dict[str, object]:
    """`{"status": "ok"|"degraded", "services": {name: "ok"|"down"}}`."""
    names = list(upstreams)
    statuses = await asyncio.gather(*(service_status(sessions[n], upstreams[n], timeout_s) for n in names))
    services = dict(zip(names, statuses, strict=True))
    return {"status": "ok" if all(s == "ok" for s in statuses) else "degraded", "services": services}
