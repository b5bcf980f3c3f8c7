"""Gateway settings: the common variables from shared plus `GATEWAY_*` ones."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import ClassVar

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.limits import UploadLimitSettings
from shared.settings import BaseServiceSettings, Environment

REPO_ROOT = Path(__file__).resolve().parents[4]
SERVICES = ("auth", "shows", "media", "social")


class GatewaySettings(BaseServiceSettings, UploadLimitSettings):
    """Settings of the gateway (env prefix `GATEWAY_`, the un-prefixed common ones, media's upload sizes)."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    service_name: ClassVar[str] = "gateway"
    default_port: ClassVar[int] = 5000

    # GATEWAY_WORKERS, as documented before the services had <SERVICE>_API_WORKERS; both names work
    api_workers: int = Field(1, ge=1, le=64, validation_alias=AliasChoices("GATEWAY_WORKERS", "GATEWAY_API_WORKERS"))
    cors_origins: str = "http://localhost:5173,http://localhost:3000"
    web_dir: str = str(REPO_ROOT / "web" / "dist")
    connect_timeout: float = 2.0
    read_timeout: float = 60.0
    pool_size: int = 256
    balancer: str = "round_robin"
    eject_seconds: float = 5.0
    trusted_proxy_hops: int = 0
    rate_limit_ip: int = 600
    rate_limit_user: int = 1200
    rate_limit_window: int = 60
    health_timeout: float = 1.0
    openapi_cache_seconds: float = 30.0
    token_cache_size: int = 10000
    jwks_refresh_seconds: float = 300.0
    jwks_min_refetch_seconds: float = 1.0
    access_log: bool = True
    metrics_enabled: bool = True
    # WebSockets: a byte tunnel once authorised (true), or parsed and re-framed frame by frame (false)
    ws_tunnel: bool = True
    # /metrics answers only `Authorization: Bearer <this>`; empty: /metrics is not served (404)
    metrics_token: str = ""
    # replaces the web app's Content-Security-Policy (empty: the built-in one, see gateway/static.py)
    content_security_policy: str = ""

    @model_validator(mode="after")
    def _refuse_placeholder_metrics_token(self) -> GatewaySettings:
        if self.env is Environment.production and "change-me" in self.metrics_token:
            raise ValueError("GATEWAY_METRICS_TOKEN must be a real secret (or empty: no /metrics) in production")
        return self

    def upstream_urls(self) -> dict[str, list[str]]:
        """Base URLs of every upstream service (comma-separated settings split)."""
        result: dict[str, list[str]] = {}
        for name in SERVICES:
            raw = str(getattr(self, f"{name}_url", "") or "")
            result[name] = [u.strip().rstrip("/") for u in raw.split(",") if u.strip()]
        return result

    def cors_origin_set(self) -> frozenset[str]:
        """The configured CORS origins as a set."""
        return frozenset(o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip())


@lru_cache
def get_settings() -> GatewaySettings:
    """Settings read once from the environment."""
    return GatewaySettings()
