"""The storage sweep: objects that no media row references, and uploads that were never finished.

An upload writes its object before its row commits, and a worker may write a rendition just as its item is
deleted, so an unreferenced object is not garbage yet. A prefix is removed only when it was unreferenced at
two sweeps at least `orphan_grace_s` apart (the first sighting is remembered in `sweep_mark`, so the rule
holds across restarts and replicas) and its newest object is older than that too; the database is asked once
more just before the delete. Only server-made item prefixes (`{kind}/{user}/{uuid hex}`) are ever touched.

Unfinished uploads (S3 multipart, local partial files) are aborted when they started more than
`stale_upload_age_s` ago and the sweep first saw them at least that long ago: the second condition keeps an
upload in flight safe on servers that misreport Initiated (moto reports one fixed date for all).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from prometheus_client import Counter
from sqlalchemy.orm import Session, sessionmaker

from media import repository as repo
from media.config import MediaSettings
from media.storage import Storage
from shared.db import session_scope, utcnow

log = logging.getLogger("media.orphans")

ITEM_PREFIX = re.compile(r"^(photo|audio|video)/[0-9]+/[0-9a-f]{32}$")
ORPHANS_REMOVED = Counter("media_orphan_objects_removed_total", "Stored objects removed because no row referenced them")
UPLOADS_ABORTED = Counter("media_stale_uploads_aborted_total", "Unfinished uploads (multipart, partial files) aborted")

T = TypeVar("T")


@dataclass
class SweepReport:
    """What one storage sweep saw and did."""

    prefixes: int = 0
    marked: int = 0
    removed_prefixes: int = 0
    removed_objects: int = 0
    aborted_uploads: int = 0


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def item_prefixes(storage: Storage) -> Iterator[tuple[str, datetime]]:
    """(item prefix, newest object's modification time) of every item-shaped prefix, in key order."""
    current: str | None = None
    newest: datetime | None = None
    for obj in storage.iter_objects(""):
        parts = obj.key.split("/")
        prefix = "/".join(parts[:3]) if len(parts) >= 4 else ""
        if not ITEM_PREFIX.match(prefix):
            continue
        if prefix != current:
            if current is not None and newest is not None:
                yield current, newest
            current, newest = prefix, obj.modified
        elif newest is None or obj.modified > newest:
            newest = obj.modified
    if current is not None and newest is not None:
        yield current, newest


def _prefix_mark(prefix: str) -> str:
    return f"prefix:{prefix}"


def _remove(session_factory: sessionmaker[Session], storage: Storage, prefix: str) -> int | None:
    with session_scope(session_factory) as session:
        if repo.referenced_prefixes(session, [prefix]):  # a row committed since the batch was checked
            repo.forget_sweep_marks(session, [_prefix_mark(prefix)])
            return None
        removed = storage.delete_prefix(prefix)
        repo.forget_sweep_marks(session, [_prefix_mark(prefix)])
    log.warning("storage sweep removed %d orphan object(s) under %s", removed, prefix)
    return removed


def _sweep_prefixes(session_factory: sessionmaker[Session], storage: Storage, grace: timedelta, now: datetime,
                    report: SweepReport, batch: int) -> None:
    for chunk in _batched(item_prefixes(storage), batch):
        report.prefixes += len(chunk)
        with session_scope(session_factory) as session:
            referenced = repo.referenced_prefixes(session, [p for p, _ in chunk])
            repo.forget_sweep_marks(session, [_prefix_mark(p) for p in sorted(referenced)])
            old = [p for p, newest in chunk if p not in referenced and now - newest >= grace]
            marks = repo.sweep_marks(session, [_prefix_mark(p) for p in old])
            due = [p for p in old if _prefix_mark(p) in marks and now - marks[_prefix_mark(p)] >= grace]
            for p in old:
                if _prefix_mark(p) not in marks:
                    repo.add_sweep_mark(session, _prefix_mark(p), now)
                    report.marked += 1
        for prefix in due:
            removed = _remove(session_factory, storage, prefix)
            if removed is not None:
                report.removed_prefixes += 1
                report.removed_objects += removed
                ORPHANS_REMOVED.inc(removed)


def _sweep_uploads(session_factory: sessionmaker[Session], storage: Storage, age: timedelta, now: datetime,
                   report: SweepReport) -> None:
    old = {f"upload:{u.upload_id}"[:400]: u for u in storage.unfinished_uploads() if now - u.started >= age}
    with session_scope(session_factory) as session:
        marks = repo.sweep_marks(session, sorted(old))
        for key in old:
            if key not in marks:
                repo.add_sweep_mark(session, key, now)
                report.marked += 1
    for key, upload in old.items():
        if key in marks and now - marks[key] >= age:
            storage.abort_upload(upload)
            with session_scope(session_factory) as session:
                repo.forget_sweep_marks(session, [key])
            report.aborted_uploads += 1
            UPLOADS_ABORTED.inc()
            log.warning("storage sweep aborted the unfinished upload of %s (started %s)", upload.key, upload.started)


def sweep_storage(session_factory: sessionmaker[Session], storage: Storage, settings: MediaSettings, *,
                  now: datetime | None = None, batch: int = 500) -> SweepReport:
    """Remove orphan item prefixes and abort stale unfinished uploads, each seen twice a grace apart."""
    now = now or utcnow()
    grace = timedelta(seconds=settings.orphan_grace_s)
    age = timedelta(seconds=settings.stale_upload_age_s)
    report = SweepReport()
    _sweep_prefixes(session_factory, storage, grace, now, report, batch)
    _sweep_uploads(session_factory, storage, age, now, report)
    with session_scope(session_factory) as session:  # marks of things that vanished (or finished) on their own
        repo.forget_sweep_marks(session, seen_before=now - 3 * max(grace, age))
    return report
