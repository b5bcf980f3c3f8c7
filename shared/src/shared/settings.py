"""Settings common to every service, read from the environment (pydantic-settings)."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import ClassVar

from kombu.transport import TRANSPORT_ALIASES
from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# `filesystem://` (the embedded bus) is kombu's filesystem transport as shared.fsbus extends it: woken by
# inotify and acks instead of polling once a second, per-process queues deleted with their process.
TRANSPORT_ALIASES["filesystem"] = "shared.fsbus:Transport"

DEV_INTERNAL_TOKEN = "dev-internal-token-change-me"


class Environment(enum.StrEnum):
    """Where the process runs; production refuses development secrets."""

    development = "development"
    testing = "testing"
    production = "production"


def _common(name: str, default: object, **kw: object) -> object:
    # Common variables are un-prefixed: an explicit alias disables the subclass env_prefix.
    return Field(default, validation_alias=AliasChoices(name), **kw)  # type: ignore[arg-type]


class BaseServiceSettings(BaseSettings):
    """Common settings; subclasses set `service_name`, `default_port` and an env prefix."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    service_name: ClassVar[str] = "service"
    default_port: ClassVar[int] = 8000

    env: Environment = _common("ENV", Environment.development)  # type: ignore[assignment]
    var_dir: Path = _common("VAR_DIR", Path("var"))  # type: ignore[assignment]
    host: str = _common("HOST", "127.0.0.1")  # type: ignore[assignment]
    port: int = _common("PORT", 0)  # type: ignore[assignment]
    database_url: str = _common("DATABASE_URL", "")  # type: ignore[assignment]
    # uvicorn processes of this service (<PREFIX>API_WORKERS, e.g. SHOWS_API_WORKERS): one process, one core.
    api_workers: int = Field(1, ge=1, le=64)
    # At most db_pool_size requests use the database at once (see shared.db.session_dependency), so
    # requests never open overflow connections: those are closed when returned, which under load would
    # mean a new PostgreSQL backend per request. The overflow serves the outbox relay, the event consumer
    # and readiness checks.
    db_pool_size: int = _common("DB_POOL_SIZE", 10, ge=1, le=200)  # type: ignore[assignment]
    db_max_overflow: int = _common("DB_MAX_OVERFLOW", 5, ge=0, le=200)  # type: ignore[assignment]
    # The event loop's read connections (shared.adb: the hot reads of shows, media and social). Queries on
    # them take a millisecond or two, so a few serve the whole loop; each is a PostgreSQL backend.
    db_read_pool_size: int = _common("DB_READ_POOL_SIZE", 4, ge=1, le=200)  # type: ignore[assignment]
    broker_url: str = _common("BROKER_URL", "")  # type: ignore[assignment]
    redis_url: str = _common("REDIS_URL", "")  # type: ignore[assignment]
    auth_url: str = _common("AUTH_URL", "http://127.0.0.1:5001")  # type: ignore[assignment]
    shows_url: str = _common("SHOWS_URL", "http://127.0.0.1:5002")  # type: ignore[assignment]
    media_url: str = _common("MEDIA_URL", "http://127.0.0.1:5003")  # type: ignore[assignment]
    social_url: str = _common("SOCIAL_URL", "http://127.0.0.1:5004")  # type: ignore[assignment]
    public_base_url: str = _common("PUBLIC_BASE_URL", "http://localhost:5000")  # type: ignore[assignment]
    log_level: str = _common("LOG_LEVEL", "INFO")  # type: ignore[assignment]
    log_format: str = _common("LOG_FORMAT", "json")  # type: ignore[assignment]
    jwt_issuer: str = _common("JWT_ISSUER", "sharemyshows-auth")  # type: ignore[assignment]
    jwt_audience: str = _common("JWT_AUDIENCE", "sharemyshows")  # type: ignore[assignment]
    jwks_url: str = _common("JWKS_URL", "")  # type: ignore[assignment]
    internal_token: str = _common("INTERNAL_TOKEN", DEV_INTERNAL_TOKEN)  # type: ignore[assignment]
    bus_relay_enabled: bool = _common("BUS_RELAY_ENABLED", True)  # type: ignore[assignment]
    bus_consumer_enabled: bool = _common("BUS_CONSUMER_ENABLED", True)  # type: ignore[assignment]
    bus_exchange: str = _common("BUS_EXCHANGE", "sms.events")  # type: ignore[assignment]
    # Event-fed copies are repaired from their owners at start-up and then every interval (shared.copies).
    copy_reconcile_enabled: bool = _common("COPY_RECONCILE_ENABLED", True)  # type: ignore[assignment]
    copy_reconcile_interval_s: float = _common("COPY_RECONCILE_INTERVAL_S", 120.0, ge=1)  # type: ignore[assignment]
    # published outbox rows and processed-event ids (the inbox) are deleted after this long
    bus_retention_s: float = _common("BUS_RETENTION_S", 7 * 24 * 3600.0, gt=0)  # type: ignore[assignment]
    # a row whose publish keeps failing is retried after 1 s, 2 s, 4 s ... up to this
    bus_relay_max_backoff_s: float = _common("BUS_RELAY_MAX_BACKOFF_S", 300.0, gt=0)  # type: ignore[assignment]
    docs_enabled: bool = _common("DOCS_ENABLED", True)  # type: ignore[assignment]
    internal_timeout_s: float = _common("INTERNAL_TIMEOUT_S", 1.5)  # type: ignore[assignment]
    # a busy peer (slow, or 429/503) is waited for this long in all before a call fails (shared.internal)
    internal_busy_wait_s: float = _common("INTERNAL_BUSY_WAIT_S", 15.0, gt=0)  # type: ignore[assignment]
    # revoked sessions: catch-up from auth every N s (the push makes it immediate); how long start-up
    # waits for the first catch-up before serving (tokens are answered 503 until it succeeds)
    revocation_catchup_s: float = _common("REVOCATION_CATCHUP_S", 30.0, gt=0)  # type: ignore[assignment]
    revocation_startup_wait_s: float = _common("REVOCATION_STARTUP_WAIT_S", 20.0, ge=0)  # type: ignore[assignment]
    # embedded mode where inotify is missing (not Linux): how often processes poll the broadcast files
    broadcast_poll_s: float = _common("BROADCAST_POLL_S", 0.05, gt=0)  # type: ignore[assignment]
    # the largest request body of every route but the uploads (JSON); the gateway and each service enforce it
    max_body_bytes: int = _common("MAX_BODY_BYTES", 1024 * 1024, ge=1)  # type: ignore[assignment]

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> BaseServiceSettings:
        token = self.internal_token
        if self.env is Environment.production and (
            token == DEV_INTERNAL_TOKEN or "change-me" in token or len(token) < 16
        ):
            raise ValueError("INTERNAL_TOKEN must be set to a real secret (16+ chars) in production")
        return self

    @property
    def is_dev(self) -> bool:
        """True in development and testing (relaxed cookies, generated keys)."""
        return self.env is not Environment.production

    @property
    def listen_port(self) -> int:
        """The port to bind: PORT, else the service's default."""
        return self.port or self.default_port

    @property
    def db_url(self) -> str:
        """DATABASE_URL, else a SQLite file under VAR_DIR."""
        if self.database_url:
            return self.database_url
        self.var_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.var_dir / f'{self.service_name}.db').resolve()}"

    @property
    def engine_options(self) -> dict[str, int]:
        """Connection pool sizes for make_engine."""
        return {"pool_size": self.db_pool_size, "max_overflow": self.db_max_overflow}

    @property
    def bus_url(self) -> str:
        """BROKER_URL, else kombu's filesystem transport (folder under VAR_DIR)."""
        return self.broker_url or "filesystem://"

    @property
    def bus_folder(self) -> Path:
        """Folder used by the filesystem transport (shared by every local process)."""
        folder = (self.var_dir / "bus").resolve()
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @property
    def jwks_endpoint(self) -> str:
        """Where to fetch the auth service's public keys."""
        return self.jwks_url or f"{self.auth_url.split(',')[0].rstrip('/')}/api/auth/.well-known/jwks.json"

    def kombu_transport_options(self) -> dict[str, object]:
        """Transport options for kombu/Celery: folders for filesystem, confirms for AMQP."""
        if self.bus_url.startswith("filesystem"):
            folder = str(self.bus_folder)
            processed = self.bus_folder / "processed"
            processed.mkdir(exist_ok=True)
            return {
                "data_folder_in": folder,
                "data_folder_out": folder,
                "control_folder": folder,
                "store_processed": False,
            }
        if self.bus_url.startswith(("amqp", "pyamqp")):
            return {"confirm_publish": True}
        return {}
