"""Shows service settings: the common variables from shared plus `SHOWS_*` ones."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings


class ShowsSettings(BaseServiceSettings):
    """Settings of the shows service (env prefix `SHOWS_`)."""

    model_config = SettingsConfigDict(env_prefix="SHOWS_", extra="ignore", populate_by_name=True)

    service_name: ClassVar[str] = "shows"
    default_port: ClassVar[int] = 5002

    # check-in is open from (concert date 00:00 UTC - window) to (date + 1 day 00:00 UTC + window)
    checkin_window_hours: float = 12.0
    # an active check-in older than this counts as ended
    checkin_ttl_hours: float = 6.0
    list_default_limit: int = 20
    list_max_limit: int = 100
    setlist_max_songs: int = 300
    dashboard_default_limit: int = 10
    dashboard_max_limit: int = 100


@lru_cache
def get_settings() -> ShowsSettings:
    """Settings read once from the environment."""
    return ShowsSettings()
