"""Media service settings: the common variables from shared plus `MEDIA_*` and `S3_*` ones."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from shared.limits import UploadLimitSettings
from shared.settings import BaseServiceSettings

MB = 1024 * 1024


def _s3(name: str, default: object) -> object:
    # S3_* variables are shared with other tools (compose, moto helpers), so they carry no MEDIA_ prefix.
    return Field(default, validation_alias=AliasChoices(name))


class MediaSettings(BaseServiceSettings, UploadLimitSettings):
    """Settings of the media service and its worker (env prefix `MEDIA_`; upload sizes from shared.limits)."""

    model_config = SettingsConfigDict(env_prefix="MEDIA_", extra="ignore", populate_by_name=True)

    service_name: ClassVar[str] = "media"
    default_port: ClassVar[int] = 5003

    storage: Literal["local", "s3"] = "local"
    storage_dir: Path | None = None  # local storage root; default {VAR_DIR}/objects
    s3_endpoint_url: str = _s3("S3_ENDPOINT_URL", "")  # type: ignore[assignment]
    s3_bucket: str = _s3("S3_BUCKET", "sharemyshows-media")  # type: ignore[assignment]
    s3_access_key_id: str = _s3("S3_ACCESS_KEY_ID", "")  # type: ignore[assignment]
    s3_secret_access_key: str = _s3("S3_SECRET_ACCESS_KEY", "")  # type: ignore[assignment]
    s3_region: str = _s3("S3_REGION", "us-east-1")  # type: ignore[assignment]
    # where browsers reach the same S3 server (presigned URLs), when it differs from S3_ENDPOINT_URL
    s3_public_endpoint_url: str = _s3("S3_PUBLIC_ENDPOINT_URL", "")  # type: ignore[assignment]
    # shows' access answers are cached this long: it adds to how stale a revoked grant can be (docs)
    access_cache_ttl_s: float = 1.0
    s3_part_size: int = 8 * MB
    # parts of one upload sent at once: throughput against the memory an upload holds (about this many parts)
    s3_parts_in_flight: int = Field(4, ge=1, le=16)
    s3_connect_timeout_s: float = 3.0
    s3_read_timeout_s: float = 20.0
    s3_complete_timeout_s: float = 300.0  # completing a multipart upload of GBs
    s3_max_attempts: int = 3
    presign_expires_s: int = 300

    upload_chunk_bytes: int = 1 * MB
    # storage per user (originals as uploaded; derivatives are the platform's) and uploads started per window
    user_quota_bytes: int = Field(10 * 1024 * MB, ge=0)
    # one upload a second on average, in a window long enough that a phone folder of hundreds of photos goes up
    # at the connection's speed (a 60-a-minute window made a 300-photo folder take five minutes whatever the line)
    upload_rate_limit: int = Field(600, ge=0)  # 0: no limit
    upload_rate_window_s: int = Field(600, ge=1)
    # room held for an upload in progress; an upload whose process died frees it after this
    upload_reservation_ttl_s: int = Field(6 * 3600, ge=60)
    # resumable (tus) uploads: where the bytes short of a whole storage part wait between requests (local disk;
    # several replicas need sticky routing per upload or a shared folder), and how long an upload may take
    tus_dir: Path | None = None  # default {VAR_DIR}/tus
    tus_expiry_s: int = Field(24 * 3600, ge=60)
    max_form_fields: int = 10
    max_field_bytes: int = 16 * 1024
    max_filename_bytes: int = 255

    photo_max_pixels: int = 100_000_000
    cache_max_age_s: int = 3600
    list_default_limit: int = 20
    list_max_limit: int = 100
    recent_default_limit: int = 10
    recent_max_limit: int = 50

    worker_queues: str = "images,video,audio"
    worker_concurrency: int = Field(0, ge=0)  # prefork processes per worker; 0: one per core
    worker_name: str = ""
    task_hard_limit_s: int = 1500  # below RabbitMQ 3.10's 30 min consumer timeout
    photo_hard_limit_s: int = 180
    transcode_s_per_media_s: float = 4.0  # ffmpeg budget = 60 s + this x duration (capped by the hard limit)
    max_attempts: int = 4
    worker_lease_s: float = 45.0  # a working row whose heartbeat is older than this was abandoned
    requeue_after_s: float = 120.0  # a queued row not picked up for this long is queued again
    sweep_interval_s: float = 30.0
    sweep_enabled: bool = True
    # storage sweep (media.orphans): objects no row references, unfinished uploads
    orphan_sweep_interval_s: float = 3600.0
    orphan_grace_s: float = 3600.0  # unreferenced at two sweeps this far apart (uploads write before they commit)
    stale_upload_age_s: float = 86400.0  # multipart uploads / partial files started longer ago are aborted
    ffmpeg_binary: str = ""
    # filing of library items (media.filing_rules): venue radius, the hour a concert day ends, the slack around a
    # check-in, how many items one filing task matches (one call to shows each), and how long processed items
    # wait for the rest of their folder (while some is still processing) to be filed in one batch
    filing_radius_m: float = Field(1000.0, gt=0)
    filing_day_starts_hour: int = Field(6, ge=0, le=12)
    filing_checkin_margin_s: int = Field(3600, ge=0)
    filing_batch_size: int = Field(1000, ge=1)
    filing_settle_s: float = Field(30.0, ge=0)

    @property
    def objects_dir(self) -> Path:
        """Root folder of LocalStorage."""
        return (self.storage_dir or (self.var_dir / "objects")).resolve()

    @property
    def pool_size(self) -> int:
        """Prefork processes of a worker: MEDIA_WORKER_CONCURRENCY, else one per usable core (CPU-bound work)."""
        return self.worker_concurrency or usable_cores()

    @property
    def tus_spool(self) -> Path:
        """Folder of the spooled tails of resumable uploads."""
        return (self.tus_dir or (self.var_dir / "tus")).resolve()

    @property
    def queues(self) -> list[str]:
        """Celery queues this worker consumes."""
        return [q.strip() for q in self.worker_queues.split(",") if q.strip()]


def usable_cores(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """Cores this process may use: its CPU affinity, capped by a cgroup v2 CPU quota (a container's limit)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, -(-int(quota) // int(period))))  # a 1.5-CPU limit: 2 processes
    except (OSError, ValueError):
        pass
    return max(1, cores)


@lru_cache
def get_settings() -> MediaSettings:
    """Settings read once from the environment."""
    return MediaSettings()
