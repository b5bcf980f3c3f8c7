"""Running one job: claim it, call its handler, and end it succeeded, failed with a reason, or queued for a retry."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from shared.users import UserDirectory
from shows.catalog import jobs
from shows.catalog.http import SourceError
from shows.catalog.importers import HANDLERS, JobContext, JobFailed
from shows.catalog.sources import Sources
from shows.config import ShowsSettings

log = logging.getLogger("shows.catalog.runner")


def retry_delay(settings: ShowsSettings, attempts: int, retry_after: float | None) -> float:
    """Exponential backoff from the setting, never sooner than the source's Retry-After, at most 15 minutes."""
    backoff = settings.catalog_retry_backoff_s * (2 ** max(0, attempts - 1))
    return min(900.0, max(backoff, retry_after or 0.0))


def run_job(factory: sessionmaker[Session], sources: Sources, settings: ShowsSettings, job_id: int,
            users: UserDirectory) -> float | None:
    """Run a job once; returns the delay after which the sweep sends it again when a source was busy, else None."""
    job = jobs.claim(factory, job_id)
    if job is None:
        return None
    handler = HANDLERS.get(job.kind)
    if handler is None:
        jobs.finish(factory, job_id, error=f"Unknown job kind {job.kind!r}.")
        return None
    ctx = JobContext(job.id, job.user_id, dict(job.params or {}), job.payload, factory, sources, settings,
                     lambda pct: jobs.set_progress(factory, job_id, pct), users)
    try:
        result = handler(ctx)
    except JobFailed as exc:
        jobs.finish(factory, job_id, error=exc.reason)
    except SourceError as exc:
        if exc.retryable and job.attempts <= settings.catalog_task_retries:
            delay = retry_delay(settings, job.attempts, exc.retry_after)
            jobs.requeue(factory, job_id, f"{exc.reason} Retrying in {int(delay)} s.", delay,
                         settings.catalog_requeue_after_s)
            log.info("job %s: %s; retry in %.0f s", job_id, exc.reason, delay)
            return delay
        jobs.finish(factory, job_id, error=exc.reason)
    except Exception:
        log.exception("job %s (%s) crashed", job_id, job.kind)
        jobs.finish(factory, job_id, error="Something went wrong on our side while running this job; try again.")
    else:
        jobs.finish(factory, job_id, result=result)
    return None
