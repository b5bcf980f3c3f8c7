"""Queueing items for the workers (task rows of the outbox), and the sweeps that re-queue what was lost and clean
storage."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.orm import Session, sessionmaker

from media import repository as repo
from media.config import MediaSettings
from media.orphans import sweep_storage
from media.service import Enqueue
from media.storage import Storage
from shared.db import process_lock, session_scope, utcnow
from shared.outbox import Outbox

log = logging.getLogger("media.queueing")

TASKS = {"photo": "media.process_photo", "video": "media.process_video", "audio": "media.process_audio"}
QUEUES = {"photo": "images", "video": "video", "audio": "audio"}



class OutboxEnqueue:
    """Queues `media.process_<kind>` as a task row of the media outbox: the relay sends it after commit
    (retried with backoff while the broker is away; the sweep below covers a worker that took it and died)."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def __call__(self, session: Session, kind: str, media_id: int) -> None:
        """Queue with the caller's transaction; ordered with the item's own events."""
        self.outbox.enqueue_task(session, TASKS[kind], [media_id], QUEUES[kind], key=f"media:{media_id}")


def sweep_once(session_factory: sessionmaker[Session], enqueue: Enqueue, settings: MediaSettings) -> int:
    """Queue again every item that was never picked up in time or whose worker stopped; returns how many."""
    with session_scope(session_factory) as session:
        stale = repo.stale_items(session, now=utcnow(), requeue_after_s=settings.requeue_after_s,
                                 lease_s=settings.worker_lease_s)
        now = utcnow()
        for item in stale:
            log.info("re-queueing %s %s", item.kind, item.id)
            item.queued_at = now
            enqueue(session, item.kind, item.id)
        return len(stale)


class Sweeper(threading.Thread):
    """Inside the API process: `sweep_once` every `sweep_interval_s`, the storage sweep every
    `orphan_sweep_interval_s` (one replica at a time)."""

    def __init__(self, session_factory: sessionmaker[Session], enqueue: Enqueue, settings: MediaSettings,
                 storage: Storage | None = None) -> None:
        super().__init__(name="media-sweeper", daemon=True)
        self.session_factory = session_factory
        self.enqueue = enqueue
        self.settings = settings
        self.storage = storage
        self._last_storage_sweep: float | None = None
        self._stop_event = threading.Event()

    def sweep_storage_if_due(self) -> None:
        """Run the storage sweep when its interval has passed and no other replica is running it."""
        now = time.monotonic()
        last = self._last_storage_sweep
        if self.storage is None or (last is not None and now - last < self.settings.orphan_sweep_interval_s):
            return
        self._last_storage_sweep = now
        with process_lock(self.session_factory.kw["bind"], "media-storage-sweep") as mine:
            if mine:
                report = sweep_storage(self.session_factory, self.storage, self.settings)
                log.info("storage sweep: %s", report)

    def expire_uploads(self) -> None:
        """Abort resumable uploads past their expiry (one replica at a time); drop this replica's stale spool."""
        if self.storage is None:
            return
        from media.service import expire_tus
        from media.tus import prune_spool

        with process_lock(self.session_factory.kw["bind"], "media-tus-expiry") as mine:
            if mine and (n := expire_tus(self.session_factory, self.storage, self.settings.tus_spool)):
                log.info("aborted %d expired resumable upload(s)", n)
        prune_spool(self.settings.tus_spool, older_than_s=self.settings.tus_expiry_s + 3600)

    def run(self) -> None:
        while not self._stop_event.wait(self.settings.sweep_interval_s):
            try:
                sweep_once(self.session_factory, self.enqueue, self.settings)
            except Exception as exc:  # the database may be briefly away; next round
                log.warning("media sweep failed: %s", exc)
            try:
                self.expire_uploads()
            except Exception as exc:
                log.warning("resumable upload expiry failed: %s", exc)
            try:
                self.sweep_storage_if_due()
            except Exception as exc:  # storage or database away: the next interval tries again
                log.warning("storage sweep failed: %s", exc)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop."""
        self._stop_event.set()
        self.join(timeout)
