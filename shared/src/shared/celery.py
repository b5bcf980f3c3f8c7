"""The Celery app factory: JSON only, acks late, redelivery on worker loss, prefetch 1, time limits."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from celery import Celery
from kombu import Exchange, Queue

from shared.messaging import DLX_NAME
from shared.settings import BaseServiceSettings


def celery_queues(settings: BaseServiceSettings, names: Iterable[str], delivery_limit: int = 5) -> list[Queue]:
    """Work queues; on RabbitMQ quorum queues whose poison messages go to a dead-letter queue."""
    exchange = Exchange("sms.tasks", type="direct", durable=True)
    queues = []
    for name in names:
        args: dict[str, Any] | None = None
        if settings.bus_url.startswith(("amqp", "pyamqp")):
            # A task that keeps killing its worker is redelivered at most `delivery_limit` times.
            args = {
                "x-queue-type": "quorum",
                "x-delivery-limit": delivery_limit,
                "x-dead-letter-exchange": DLX_NAME,
                "x-dead-letter-routing-key": f"tasks.{name}.dlq",
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            }
        queues.append(Queue(name, exchange=exchange, routing_key=name, durable=True, queue_arguments=args))
    return queues


def make_celery(
    name: str,
    settings: BaseServiceSettings,
    *,
    queues: Iterable[str] = (),
    task_routes: dict[str, dict[str, str]] | None = None,
    hard_time_limit_s: int = 1500,
    include: Iterable[str] = (),
) -> Celery:
    """A Celery app on the service's broker with the settings of the reliability checklist."""
    transport_options = dict(settings.kombu_transport_options())
    if settings.bus_url.startswith("filesystem"):
        folder = settings.bus_folder / "celery"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "processed").mkdir(exist_ok=True)
        transport_options.update(
            {"data_folder_in": str(folder), "data_folder_out": str(folder), "control_folder": str(folder)}
        )
    app = Celery(name, broker=settings.bus_url, include=list(include))
    queue_list = celery_queues(settings, queues)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        result_backend=None,
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        broker_heartbeat=30,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_detect_quorum_queues=True,
        worker_hijack_root_logger=False,
        worker_max_memory_per_child=1_500_000,  # KiB; Pillow/ffmpeg high-water marks are released
        task_time_limit=hard_time_limit_s,
        task_soft_time_limit=int(hard_time_limit_s * 0.9),
        task_queues=queue_list,
        task_default_queue=queue_list[0].name if queue_list else "celery",
        task_routes=task_routes or {},
        task_publish_retry=True,
        task_publish_retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 2},
        timezone="UTC",
        enable_utc=True,
    )
    return app
