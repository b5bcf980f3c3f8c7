"""Thin Celery tasks: each hands the item id to `pipeline.run_item` (idempotent, claim by compare-and-set)."""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from media.config import get_settings, usable_cores
from media.db import outbox
from media.filing import HttpCandidates, file_pending, rules_of
from media.pipeline import give_up, run_item
from media.processing import vips
from media.storage import Storage, StorageError, make_storage
from media.worker import celery_app
from shared.db import make_engine, make_session_factory
from shared.errors import ServiceUnavailable

log = logging.getLogger("media.tasks")
app = celery_app()
settings = get_settings()

TRANSIENT = (StorageError, OperationalError, ConnectionError, TimeoutError, OSError, ServiceUnavailable)
COMMON: dict[str, Any] = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": TRANSIENT,
    "dont_autoretry_for": (SoftTimeLimitExceeded,),
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 5,
}


@cache
def candidates() -> HttpCandidates:
    """The shows client of filing, built once per worker process."""
    return HttpCandidates(settings)


@cache
def resources() -> tuple[sessionmaker[Session], Storage]:
    """Database sessions and storage, built once per worker process."""
    engine = make_engine(settings.db_url, **settings.engine_options)
    return make_session_factory(engine, outbox), make_storage(settings)


@worker_process_init.connect
def _warm(**_: Any) -> None:
    """Size libvips's threads to this process's share of the cores, and build its database engine, S3 clients and
    shows client as it starts, not on its first photo (in a burst each pool process's first photo waited)."""
    vips.share_cores(settings.pool_size, usable_cores())
    try:
        resources()
        candidates()
        log.info("pool process ready")
    except Exception as exc:  # a dependency down at start: the first task builds them (and retries) as before
        log.warning("could not prepare the worker's resources at start: %s", exc)
        resources.cache_clear()
        candidates.cache_clear()


def _run(task: Task, media_id: int, hard_limit_s: float) -> str:
    session_factory, storage = resources()
    delivery = getattr(task.request, "delivery_info", None) or {}
    try:
        status = run_item(session_factory, storage, settings, int(media_id),
                          redelivered=bool(delivery.get("redelivered")), hard_limit_s=hard_limit_s)
    except SoftTimeLimitExceeded:
        give_up(session_factory, int(media_id), "processing took too long and was stopped")
        return "failed"
    log.info("media item %s: %s", media_id, status)
    return status


@app.task(name="media.process_photo", time_limit=settings.photo_hard_limit_s,
          soft_time_limit=int(settings.photo_hard_limit_s * 0.9), **COMMON)
def process_photo(self: Task, media_id: int) -> str:
    """Thumbnails, display copy and facts of a photo."""
    return _run(self, media_id, settings.photo_hard_limit_s)


@app.task(name="media.process_video", time_limit=settings.task_hard_limit_s,
          soft_time_limit=int(settings.task_hard_limit_s * 0.9), **COMMON)
def process_video(self: Task, media_id: int) -> str:
    """Probe, poster and MP4 renditions of a video."""
    return _run(self, media_id, settings.task_hard_limit_s)


@app.task(name="media.process_audio", time_limit=settings.task_hard_limit_s,
          soft_time_limit=int(settings.task_hard_limit_s * 0.9), **COMMON)
def process_audio(self: Task, media_id: int) -> str:
    """Probe, browser-playable rendition and waveform of a recording."""
    return _run(self, media_id, settings.task_hard_limit_s)


@app.task(name="media.file_library", time_limit=120, soft_time_limit=100, **COMMON)
def file_library(self: Task, user_id: int) -> dict[str, int]:
    """File a user's processed library items into their shows (one call to shows per batch)."""
    session_factory, _ = resources()
    report = file_pending(session_factory, candidates(), rules_of(settings), user_id=int(user_id),
                          batch_size=settings.filing_batch_size, settle_s=settings.filing_settle_s)
    log.info("filing of user %s: %s", user_id, report)
    return {"examined": report.examined, "filed": report.filed, "unfiled": report.unfiled}
