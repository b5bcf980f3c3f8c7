"""The one Celery task of the catalog queue: run a job (a busy source puts the job back for the sweep to resend)."""

from __future__ import annotations

from functools import cache

from sqlalchemy.orm import Session, sessionmaker

from shared.db import make_engine, make_session_factory
from shared.internal import InternalClient
from shared.users import AuthDirectory, UserDirectory
from shows.catalog.jobs import TASK
from shows.catalog.runner import run_job as run_once
from shows.catalog.sources import Sources, build_sources
from shows.catalog.worker import celery_app
from shows.config import get_settings
from shows.db import outbox

app = celery_app()
settings = get_settings()


@cache
def resources() -> tuple[sessionmaker[Session], Sources, UserDirectory]:
    """Sessions, source clients and auth's directory, built once per worker process."""
    factory = make_session_factory(make_engine(settings.db_url, **settings.engine_options), outbox)
    auth = InternalClient(settings.auth_url, settings.internal_token, service="auth",
                          timeout_s=settings.internal_timeout_s)
    return factory, build_sources(settings, factory), AuthDirectory(auth)


@app.task(name=TASK, acks_late=True, reject_on_worker_lost=True)
def run_job(job_id: int) -> str:
    """Run a catalog job; when a source is busy the job goes back to `queued` with the reason and a due time."""
    factory, sources, users = resources()
    delay = run_once(factory, sources, settings, int(job_id), users)
    return "done" if delay is None else f"retry in {delay:.0f} s"
