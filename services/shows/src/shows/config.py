"""Shows service settings: the common variables from shared plus `SHOWS_*` ones."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from pydantic import AliasChoices, Field
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

    # ---- catalogue (issue 14): outside sources, called only from the `catalog` Celery queue
    musicbrainz_url: str = "https://musicbrainz.org"
    # MusicBrainz refuses anonymous clients: name the application and a contact
    musicbrainz_user_agent: str = "ShareMyShows/1.0 ( https://sharemyshows.example.com/contact )"
    musicbrainz_min_interval_s: float = 1.0  # their published limit: one request per second
    setlistfm_url: str = "https://api.setlist.fm/rest"
    setlistfm_api_key: str = Field("", validation_alias=AliasChoices("SETLISTFM_API_KEY", "SHOWS_SETLISTFM_API_KEY"))
    setlistfm_min_interval_s: float = 0.5  # standard keys: two requests per second
    wikidata_url: str = "https://www.wikidata.org"
    catalog_timeout_s: float = 10.0
    catalog_cache_ttl_hours: float = 168.0
    # a Retry-After up to this long is waited out inside the task; longer ones retry the task later
    catalog_max_wait_s: float = 30.0
    catalog_task_retries: int = 5
    catalog_retry_backoff_s: float = 10.0
    catalog_requeue_after_s: float = 120.0
    catalog_sweep_interval_s: float = 30.0
    catalog_sweep_enabled: bool = True
    catalog_worker_concurrency: int = 1
    catalog_recording_pages: int = 5
    catalog_attended_pages: int = 20
    import_max_bytes: int = 5 * 1024 * 1024
    import_max_rows: int = 10_000
    # the venue map's tile server (handed to the web app; tests never load tiles)
    map_tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    map_attribution: str = "© OpenStreetMap contributors"


@lru_cache
def get_settings() -> ShowsSettings:
    """Settings read once from the environment."""
    return ShowsSettings()
