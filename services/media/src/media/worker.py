"""The media Celery app (queues `images`, `video`, `audio`) and the `media-worker` entry point."""

from __future__ import annotations

import os
import socket
from functools import cache

from celery import Celery

from media.config import MediaSettings, get_settings
from media.queueing import QUEUES, TASKS
from shared.celery import make_celery

ALL_QUEUES = ("images", "video", "audio")


def make_app(settings: MediaSettings) -> Celery:
    """A Celery app for the media service (also used by the API to publish tasks)."""
    routes = {TASKS[kind]: {"queue": QUEUES[kind]} for kind in TASKS}
    routes["media.file_library"] = {"queue": "images"}  # filing (media.filing): cheap, beside the thumbnails
    # shared.celery declares quorum queues with x-delivery-limit and a dead-letter exchange on RabbitMQ.
    return make_celery("media", settings, queues=ALL_QUEUES, task_routes=routes,
                       hard_time_limit_s=settings.task_hard_limit_s, include=["media.tasks"])


@cache
def celery_app() -> Celery:
    """The worker's Celery app, built once from the environment."""
    return make_app(get_settings())


def main() -> None:
    """Run `celery worker` on MEDIA_WORKER_QUEUES, MEDIA_WORKER_CONCURRENCY prefork processes (0: one per core)."""
    settings = get_settings()
    app = celery_app()
    import media.tasks  # noqa: F401 - registers the tasks on the app

    name = settings.worker_name or f"media-{os.getpid()}"
    app.worker_main(
        [
            "worker",
            "--loglevel", settings.log_level,
            "-Q", ",".join(settings.queues),
            "--concurrency", str(settings.pool_size),
            "--prefetch-multiplier", "1",
            "--pool", "prefork",
            "-n", f"{name}@{socket.gethostname()}",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]
    )
