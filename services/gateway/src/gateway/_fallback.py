"""Minimal stand-ins for shared pieces, used only while the shared library lacks them."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(name: str) -> AliasChoices:
    """An un-prefixed environment variable name."""
    return AliasChoices(name)


class BaseServiceSettings(BaseSettings):
    """Common un-prefixed settings (subset of shared.settings.BaseServiceSettings)."""

    model_config = SettingsConfigDict(extra="ignore")

    env: str = Field("development", validation_alias=_env("ENV"))
    var_dir: str = Field("./var", validation_alias=_env("VAR_DIR"))
    auth_url: str = Field("http://127.0.0.1:5001", validation_alias=_env("AUTH_URL"))
    shows_url: str = Field("http://127.0.0.1:5002", validation_alias=_env("SHOWS_URL"))
    media_url: str = Field("http://127.0.0.1:5003", validation_alias=_env("MEDIA_URL"))
    social_url: str = Field("http://127.0.0.1:5004", validation_alias=_env("SOCIAL_URL"))
    redis_url: str = Field("", validation_alias=_env("REDIS_URL"))
    jwt_issuer: str = Field("sharemyshows-auth", validation_alias=_env("JWT_ISSUER"))
    jwt_audience: str = Field("sharemyshows", validation_alias=_env("JWT_AUDIENCE"))
    log_level: str = Field("INFO", validation_alias=_env("LOG_LEVEL"))
