"""Social service settings: the common variables from shared plus `SOCIAL_*` ones."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar, Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings


class SocialSettings(BaseServiceSettings):
    """Settings of the social service (env prefix `SOCIAL_`)."""

    model_config = SettingsConfigDict(env_prefix="SOCIAL_", extra="ignore", populate_by_name=True)

    service_name: ClassVar[str] = "social"
    default_port: ClassVar[int] = 5004

    # who may read and post in a concert's chat (from shows' access endpoint)
    chat_policy: Literal["logged_or_checked_in", "checked_in"] = "logged_or_checked_in"
    chat_rate_limit: int = 5
    chat_rate_window_s: int = 10
    chat_history_size: int = 50
    chat_replay_max: int = 1000
    chat_exchange: str = "sms.chat"
    chat_poll_interval_s: float = 0.05
    chat_bus_enabled: bool = True
    presence_ttl_s: int = 30
    ws_allowed_origins: str = ""
    access_cache_ttl_s: float = 1.0  # adds to how stale a revoked grant can be (docs/architecture.md)
    # an open chat socket re-checks its access at least this often (and at once on a notice)
    chat_recheck_s: float = Field(30.0, gt=0, le=60)

    # notifications (issue 16): one digest mail per person at most every `digest_interval_s`
    digest_enabled: bool = True
    digest_interval_s: int = Field(900, ge=0)
    digest_poll_s: float = Field(60.0, gt=0)
    # signs unsubscribe links (HMAC); empty = derived from INTERNAL_TOKEN
    link_secret: str = ""
    notify_channel: str = "social.notify"
    # Web Push (optional): off without a VAPID private key (base64url raw P-256, as `vapid --gen` prints)
    vapid_private_key: str = ""
    vapid_subject: str = "mailto:admin@sharemyshows.invalid"  # who push services contact about our pushes
    # push services whose endpoints browsers may register (".x" = any host under x); HTTPS only
    push_hosts: str = ("fcm.googleapis.com,.push.services.mozilla.com,.notify.windows.com,web.push.apple.com,"
                       ".push.apple.com")
    push_insecure_hosts: str = ""  # tests: hosts of a fake push service, any scheme
    push_ttl_s: int = Field(86_400, ge=0)  # how long a push service keeps a push for an offline browser
    # direct messages
    dm_rate_limit: int = 20
    dm_rate_window_s: int = 60
    # public share pages and their JSON, per client address
    share_rate_limit: int = 60
    share_rate_window_s: int = 60
    # the chosen photos of shared pages (a page view loads up to 12), per client address, same window
    share_photo_rate_limit: int = 600


@lru_cache
def get_settings() -> SocialSettings:
    """Settings read once from the environment."""
    return SocialSettings()
