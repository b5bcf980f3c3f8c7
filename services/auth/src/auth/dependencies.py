"""FastAPI dependencies of the auth service: its context, the client IP, the signed-in caller."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import Depends, Request

from auth.context import AuthContext
from auth.service import Device
from shared.auth import CurrentUser, OptionalUser, Principal, get_optional_user
from shared.errors import ServiceError


async def get_context(request: Request) -> AuthContext:
    """The app's AuthContext."""
    ctx: AuthContext = request.app.state.auth
    return ctx


def rate_key_for_ip(ip: str) -> str:
    """The per-IP rate-limit key: the address, or its /64 for IPv6 (one subscriber's whole block)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if addr.version == 6:
        return str(ipaddress.ip_network(f"{addr}/64", strict=False))
    return str(addr)


async def client_ip(request: Request) -> str:
    """The caller's address key: the gateway's X-Forwarded-For (it replaces the client's) or the peer."""
    ctx: AuthContext = request.app.state.auth
    if ctx.settings.trust_forwarded_for:
        xff = request.headers.get("x-forwarded-for", "")
        first = xff.split(",")[0].strip()
        if first:
            return rate_key_for_ip(first)
    return rate_key_for_ip(request.client.host if request.client else "unknown")


async def client_device(request: Request) -> Device:
    """The caller's User-Agent and address, for the sessions list."""
    ctx: AuthContext = request.app.state.auth
    ip = request.client.host if request.client else ""
    if ctx.settings.trust_forwarded_for:
        ip = request.headers.get("x-forwarded-for", "").split(",")[0].strip() or ip
    return Device(user_agent=request.headers.get("user-agent", "")[:255], ip=ip[:64])


async def lenient_user(request: Request) -> Principal | None:
    """The caller if their token is valid, else None (signing out never fails on a bad token)."""
    try:
        return await get_optional_user(request)
    except ServiceError:
        return None


Ctx = Annotated[AuthContext, Depends(get_context)]
LenientUser = Annotated[Principal | None, Depends(lenient_user)]
ClientIp = Annotated[str, Depends(client_ip)]
ClientDevice = Annotated[Device, Depends(client_device)]

__all__ = ["ClientDevice", "ClientIp", "Ctx", "CurrentUser", "LenientUser", "OptionalUser"]
