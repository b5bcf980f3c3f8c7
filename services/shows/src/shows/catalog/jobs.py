"""Background jobs of a person: created with the request, queued after commit, run by the catalog worker."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from shared.db import iso, session_scope, utcnow
from shared.errors import NotFound
from shared.outbox import Outbox
from shows.catalog.models import Job

log = logging.getLogger("shows.catalog.jobs")
TASK = "shows.catalog.run_job"
QUEUE = "catalog"
Enqueue = Callable[[Session, int], None]  # queues a job with the caller's transaction


class JobNotFound(NotFound):
    default_code = "job_not_found"
    default_message = "Job not found."


def create_job(
    session: Session, *, user_id: int, kind: str, params: dict[str, Any], enqueue: Enqueue, payload: str | None = None
) -> Job:
    """A queued job; it goes to the worker once the caller's transaction has committed."""
    now = utcnow()
    job = Job(user_id=user_id, kind=kind, status="queued", progress=0, params=params, payload=payload,
              created_at=now, updated_at=now, queued_at=now, attempts=0)
    session.add(job)
    session.flush()
    enqueue(session, job.id)
    return job


def job_json(job: Job) -> dict[str, Any]:
    """The contract's job: {job_id, status, progress, result, error} plus its kind and times."""
    return {
        "job_id": job.id,
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "result": job.result,
        "error": job.error,
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
        "finished_at": iso(job.finished_at),
    }


def get_job(session: Session, *, job_id: int, user_id: int) -> dict[str, Any]:
    """A job of the caller (404 for anyone else's)."""
    job = session.get(Job, job_id)
    if job is None or job.user_id != user_id:
        raise JobNotFound()
    return job_json(job)


def list_jobs(session: Session, *, user_id: int, limit: int) -> dict[str, Any]:
    """The caller's latest jobs."""
    jobs = session.scalars(select(Job).where(Job.user_id == user_id).order_by(Job.id.desc()).limit(limit))
    return {"jobs": [job_json(j) for j in jobs]}


# ---------------------------------------------------------------- state changes (worker side)


def claim(factory: sessionmaker[Session], job_id: int) -> Job | None:
    """Mark a queued (or interrupted) job running and return a detached copy; None when it is finished."""
    with session_scope(factory) as s:
        job = s.get(Job, job_id)
        if job is None or job.status in ("succeeded", "failed"):
            return None
        job.status, job.attempts, job.updated_at = "running", job.attempts + 1, utcnow()
        s.flush()
        s.expunge(job)
        return job


def set_progress(factory: sessionmaker[Session], job_id: int, progress: int) -> None:
    """Record how far a running job is (0..100)."""
    with session_scope(factory) as s:
        s.execute(update(Job).where(Job.id == job_id).values(progress=max(0, min(100, progress)), updated_at=utcnow()))


def finish(factory: sessionmaker[Session], job_id: int, *, result: dict[str, Any] | None = None,
           error: str | None = None) -> None:
    """End a job: succeeded with its result, or failed with the reason."""
    now = utcnow()
    values: dict[str, Any] = {"status": "failed" if error else "succeeded", "error": error, "updated_at": now,
                              "finished_at": now}
    if error is None:
        values.update(progress=100, result=result)
    with session_scope(factory) as s:
        s.execute(update(Job).where(Job.id == job_id).values(**values))


def requeue(factory: sessionmaker[Session], job_id: int, note: str, delay_s: float, sweep_after_s: float) -> None:
    """Back to queued after a transient failure (the reason stays visible until it runs again).

    No Celery countdown: on quorum queues an ETA message occupies the worker's only slot until it is due. The
    sweep sends a queued job once `queued_at` is `sweep_after_s` old, so `queued_at` is set to make that moment
    `delay_s` from now.
    """
    now = utcnow()
    due = now + dt.timedelta(seconds=delay_s - sweep_after_s)
    with session_scope(factory) as s:
        s.execute(update(Job).where(Job.id == job_id).values(status="queued", error=note, updated_at=now,
                                                             queued_at=due))


# ---------------------------------------------------------------- publishing and the lost-job sweep


class OutboxEnqueue:
    """Queues run_job as a task row of the shows outbox: the relay sends it after commit (retried while the
    broker is away); the sweep re-sends what a worker took and lost."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def __call__(self, session: Session, job_id: int) -> None:
        """Queue with the caller's transaction."""
        self.outbox.enqueue_task(session, TASK, [job_id], QUEUE, key=f"job:{job_id}")


def requeue_stale_jobs(factory: sessionmaker[Session], older_than: dt.timedelta, enqueue: Enqueue) -> list[int]:
    """Queue again the queued jobs nobody picked up in time (their message was lost); their ids."""
    limit = utcnow() - older_than
    with session_scope(factory) as s:
        jobs = list(s.scalars(select(Job).where(Job.status == "queued",
                                                or_(Job.queued_at.is_(None), Job.queued_at < limit)).limit(100)))
        for job in jobs:
            log.info("re-queueing job %s", job.id)
            job.queued_at = utcnow()
            enqueue(s, job.id)
        return [j.id for j in jobs]


class JobSweeper(threading.Thread):
    """Every `interval_s`, sends stale queued jobs to the worker again (inside the API process)."""

    def __init__(self, factory: sessionmaker[Session], send: Enqueue, interval_s: float, older_than_s: float) -> None:
        super().__init__(name="catalog-sweeper", daemon=True)
        self.factory, self.send = factory, send
        self.interval_s, self.older_than = interval_s, dt.timedelta(seconds=older_than_s)
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval_s):
            try:
                requeue_stale_jobs(self.factory, self.older_than, self.send)
            except Exception as exc:  # the database may be away for a moment: next round
                log.warning("job sweep failed: %s", exc)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop."""
        self._stop_event.set()
        self.join(timeout)
