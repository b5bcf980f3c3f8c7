"""The shows Celery app (queue `catalog`) and the `shows-worker` entry point."""

from __future__ import annotations

import os
import socket
from functools import cache

from celery import Celery

from shared.celery import make_celery
from shows.catalog.jobs import QUEUE, TASK
from shows.config import ShowsSettings, get_settings


def make_app(settings: ShowsSettings) -> Celery:
    """The Celery app of the shows service (the API uses it to publish, the worker to run)."""
    return make_celery("shows", settings, queues=(QUEUE,), task_routes={TASK: {"queue": QUEUE}},
                       hard_time_limit_s=1800, include=["shows.catalog.tasks"])


@cache
def celery_app() -> Celery:
    """The worker's Celery app, built once from the environment."""
    return make_app(get_settings())


def main() -> None:
    """Run `celery worker` on the `catalog` queue (SHOWS_CATALOG_WORKER_CONCURRENCY processes; keep it 1 per host:
    the sources' rate limits are enforced per process)."""
    settings = get_settings()
    app = celery_app()
    import shows.catalog.tasks  # noqa: F401 - registers the task

    app.worker_main([
        "worker", "--loglevel", settings.log_level, "-Q", QUEUE,
        "--concurrency", str(settings.catalog_worker_concurrency), "--prefetch-multiplier", "1", "--pool", "prefork",
        "-n", f"shows-catalog-{os.getpid()}@{socket.gethostname()}",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ])
