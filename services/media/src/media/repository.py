"""Every query of the media service; flushes, never commits."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session, raiseload
from sqlalchemy.orm.attributes import set_committed_value

from media.models import (
    PROCESSING,
    WORKING,
    MediaItem,
    QuotaLock,
    Rendition,
    ShowRef,
    SweepMark,
    TusUpload,
    UploadReservation,
)
from shared.copies import apply_if_newer, lock_copy
from shared.db import bound, bound_values, insert_for, utcnow


def get(session: Session, media_id: int) -> MediaItem | None:
    """A media item by id."""
    return session.get(MediaItem, media_id)


def get_bare(session: Session, media_id: int) -> MediaItem | None:
    """A media item by id without its renditions and songs (two SELECTs fewer; touching them raises)."""
    return session.get(MediaItem, media_id, options=_BARE)


_BARE = (raiseload(MediaItem.renditions), raiseload(MediaItem.songs))


def get_kind(session: Session, media_id: int, kind: str) -> MediaItem | None:
    """A media item of one kind by id."""
    item = session.get(MediaItem, media_id)
    return item if item is not None and item.kind == kind else None


def find_duplicate(session: Session, *, user_id: int, show_id: int | None, kind: str,
                   sha256: str) -> MediaItem | None:
    """The same bytes already uploaded by this user to this show; to the library (no show): anywhere."""
    stmt = _DUPLICATE_ANYWHERE if show_id is None else _DUPLICATE_ON_SHOW
    return session.scalars(stmt, {"user_id": user_id, "kind": kind, "sha256": sha256, "show_id": show_id}).first()


# an upload's statements, built once (building and keying them cost more CPU than running them)
_DUPLICATE_ANYWHERE = (select(MediaItem).where(MediaItem.user_id == bindparam("user_id"),
                                               MediaItem.kind == bindparam("kind"),
                                               MediaItem.sha256 == bindparam("sha256"))
                       .order_by(MediaItem.id).limit(1))
_DUPLICATE_ON_SHOW = _DUPLICATE_ANYWHERE.where(MediaItem.show_id == bindparam("show_id"))


def add(session: Session, item: MediaItem) -> MediaItem:
    """Insert a media item (flushed, so it has an id)."""
    session.add(item)
    session.flush()
    return item


def _page(session: Session, where: Any, limit: int, offset: int) -> tuple[list[MediaItem], int]:
    total = session.scalar(select(func.count()).select_from(MediaItem).where(where)) or 0
    rows = session.scalars(
        select(MediaItem).where(where).order_by(MediaItem.created_at.desc(), MediaItem.id.desc()).limit(limit)
        .offset(offset)
    )
    return list(rows), int(total)


def list_for_show(session: Session, *, show_id: int, kind: str, limit: int, offset: int) -> tuple[list[MediaItem], int]:
    """A show's items of one kind, newest first, with the total."""
    return _page(session, and_(MediaItem.show_id == show_id, MediaItem.kind == kind), limit, offset)


def list_for_user(session: Session, *, user_id: int, kind: str, limit: int, offset: int) -> tuple[list[MediaItem], int]:
    """A user's items of one kind, newest first, with the total."""
    return _page(session, and_(MediaItem.user_id == user_id, MediaItem.kind == kind), limit, offset)


def items_of_show(session: Session, show_id: int) -> list[MediaItem]:
    """Every item of a show."""
    return list(session.scalars(select(MediaItem).where(MediaItem.show_id == show_id).order_by(MediaItem.id)))


def items_of_user(session: Session, user_id: int) -> list[MediaItem]:
    """Every item a user uploaded."""
    return list(session.scalars(select(MediaItem).where(MediaItem.user_id == user_id).order_by(MediaItem.id)))


def show_names(session: Session, show_ids: set[int]) -> dict[int, str]:
    """show_id -> show_name from the local show copy."""
    if not show_ids:
        return {}
    rows = session.execute(select(ShowRef.show_id, ShowRef.show_name).where(ShowRef.show_id.in_(show_ids)))
    return {sid: name for sid, name in rows}


def apply_show_ref(session: Session, *, show_id: int, version: int, deleted: bool, owner_id: int, show_name: str,
                   visibility: str) -> bool:
    """Write shows' facts of a show at `version` if newer than the copy (a deletion leaves a tombstone)."""
    values = {"owner_id": owner_id, "show_name": show_name[:300], "visibility": visibility, "deleted": deleted,
              "updated_at": utcnow()}
    return apply_if_newer(session, ShowRef, {"show_id": show_id}, version, values)


def show_placeholder() -> dict[str, Any]:
    """The copy of a show not heard of yet (version 0), written to lock its row."""
    return {"owner_id": 0, "show_name": "", "visibility": "private", "deleted": False, "updated_at": utcnow()}


def lock_show_ref(session: Session, show_id: int) -> Any:
    """A show's copy row, write-locked until commit (a placeholder if not heard of yet): see shared.copies."""
    return lock_copy(session, ShowRef, {"show_id": show_id}, show_placeholder())


def delete_item(session: Session, item: MediaItem) -> None:
    """Delete an item and its rendition rows."""
    session.delete(item)
    session.flush()


def bump_comment_count(session: Session, media_id: int, delta: int) -> None:
    """Add delta to a photo's comment count (never below zero)."""
    session.execute(
        update(MediaItem)
        .where(MediaItem.id == media_id)
        .values(comment_count=case((MediaItem.comment_count + delta < 0, 0), else_=MediaItem.comment_count + delta))
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------- processing state


def claim(session: Session, item: MediaItem, *, seen_status: str, seen_attempts: int) -> bool:
    """Compare-and-set the item to `working` (attempt + 1); False if someone else changed it first."""
    now = utcnow()
    values = {"status": WORKING, "attempts": seen_attempts + 1, "started_at": now, "heartbeat_at": now,
              "progress": 0, "error": None}
    result = session.execute(
        update(MediaItem)
        .where(MediaItem.id == item.id, MediaItem.status == seen_status, MediaItem.attempts == seen_attempts)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    for name, value in values.items():  # what the row now holds, without reloading it and its relationships
        set_committed_value(item, name, value)
    return True


def heartbeat(session: Session, media_id: int, attempt: int, progress: int | None) -> bool:
    """Refresh a working item's heartbeat (and progress) if this attempt still holds it."""
    values: dict[str, Any] = {"heartbeat_at": utcnow()}
    if progress is not None:
        values["progress"] = progress
    result = session.execute(
        update(MediaItem)
        .where(MediaItem.id == media_id, MediaItem.status == WORKING, MediaItem.attempts == attempt)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def release(session: Session, media_id: int, attempt: int) -> None:
    """Hand a working item back to the queue (before a retry)."""
    session.execute(
        update(MediaItem)
        .where(MediaItem.id == media_id, MediaItem.status == WORKING, MediaItem.attempts == attempt)
        .values(status=PROCESSING, queued_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def upsert_rendition(session: Session, item: MediaItem, *, name: str, key: str, content_type: str, size: int,
                     width: int | None = None, height: int | None = None) -> None:
    """Create or replace one rendition row (unique per item and name)."""
    row = next((r for r in item.renditions if r.name == name), None)
    if row is None:
        item.renditions.append(Rendition(name=name, key=key, content_type=content_type, size=size, width=width,
                                         height=height))
    else:
        row.key, row.content_type, row.size, row.width, row.height = key, content_type, size, width, height


def stale_items(session: Session, *, now: datetime, requeue_after_s: float, lease_s: float,
                limit: int = 100) -> list[MediaItem]:
    """Items to queue again: never picked up in time, or held by a worker that stopped beating."""
    stmt = (
        select(MediaItem)
        .where(
            or_(
                and_(
                    MediaItem.status == PROCESSING,
                    or_(MediaItem.queued_at.is_(None), MediaItem.queued_at < now - timedelta(seconds=requeue_after_s)),
                ),
                and_(
                    MediaItem.status == WORKING,
                    MediaItem.heartbeat_at < now - timedelta(seconds=lease_s),
                    or_(MediaItem.queued_at.is_(None), MediaItem.queued_at < now - timedelta(seconds=lease_s)),
                ),
            )
        )
        .order_by(MediaItem.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Several API replicas sweep at once: each takes different rows.
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def mark_queued(session: Session, media_id: int, when: datetime | None) -> None:
    """Record when the item was (or failed to be, None) sent to the queue."""
    session.execute(
        update(MediaItem).where(MediaItem.id == media_id, MediaItem.status.in_((PROCESSING, WORKING)))
        .values(queued_at=when).execution_options(synchronize_session=False)
    )



# ---------------------------------------------------------------- storage sweep


def referenced_prefixes(session: Session, prefixes: list[str]) -> set[str]:
    """Which of these storage prefixes belong to a media row."""
    if not prefixes:
        return set()
    items = set(session.scalars(select(MediaItem.prefix).where(MediaItem.prefix.in_(prefixes))))
    return items | tus_prefixes(session, prefixes)  # a resumable upload's object is not an orphan either


def sweep_marks(session: Session, keys: list[str]) -> dict[str, datetime]:
    """When the storage sweep first saw each of these keys (only those it marked)."""
    if not keys:
        return {}
    rows = session.execute(select(SweepMark.key, SweepMark.first_seen_at).where(SweepMark.key.in_(keys)))
    return {key: seen for key, seen in rows}


def add_sweep_mark(session: Session, key: str, now: datetime) -> None:
    """Remember that the storage sweep saw this key now."""
    session.add(SweepMark(key=key, first_seen_at=now))
    session.flush()


def forget_sweep_marks(session: Session, keys: list[str] | None = None, *, seen_before: datetime | None = None) -> None:
    """Drop marks: of these keys (referenced, finished or removed now), or those first seen before a time."""
    stmt = delete(SweepMark)
    if keys is not None:
        if not keys:
            return
        stmt = stmt.where(SweepMark.key.in_(keys))
    if seen_before is not None:
        stmt = stmt.where(SweepMark.first_seen_at < seen_before)
    session.execute(stmt)
# ---------------------------------------------------------------- storage quota


@functools.cache
def _quota_statements(dialect: str) -> tuple[Any, Any, Any, Any]:
    """An admission's statements, built once per dialect: (lock the user's row, forget their expired
    reservations, stored and held bytes, insert a reservation). Built for every upload, they and their cache
    keys cost more CPU than running them."""
    lock_t, r = QuotaLock.__table__, UploadReservation.__table__
    lock = insert_for(dialect, lock_t).values(**bound_values(lock_t, ("user_id", "touched_at")))
    lock = lock.on_conflict_do_update(index_elements=[lock_t.c.user_id],
                                      set_={"touched_at": lock.excluded.touched_at})
    expire = delete(r).where(r.c.user_id == bindparam("user_id"), r.c.expires_at <= bindparam("now"))
    held = select(func.coalesce(func.sum(r.c.bytes), 0)).where(
        r.c.user_id == bindparam("user_id"), r.c.expires_at > bindparam("now"), r.c.id != bindparam("exclude_id"))
    stored = select(_stored_bytes()).where(MediaItem.user_id == bindparam("user_id"))
    committed = select(stored.scalar_subquery(), held.scalar_subquery())
    add = insert(r).values(**bound_values(r, ("user_id", "bytes", "created_at", "expires_at")))
    return lock, expire, committed, add


def _quota(session: Session) -> tuple[Any, Any, Any, Any]:
    return _quota_statements(session.get_bind().dialect.name)


def lock_quota(session: Session, user_id: int) -> None:
    """Lock the user's quota row until the transaction ends (created on first use; one statement, so
    PostgreSQL row-locks it and SQLite takes its write lock: a user's reservations are decided one by one)."""
    session.execute(_quota(session)[0], bound({"user_id": user_id, "touched_at": utcnow()}))


def usage(session: Session, user_id: int) -> tuple[int, int]:
    """(bytes of the user's stored originals, number of items)."""
    row = session.execute(select(_stored_bytes(), func.count()).where(MediaItem.user_id == user_id)).one()
    return int(row[0]), int(row[1])


def _stored_bytes() -> Any:
    return func.coalesce(func.sum(MediaItem.file_size), 0)


def committed_bytes(session: Session, user_id: int, now: datetime, exclude_id: int | None = None) -> tuple[int, int]:
    """(bytes of the user's stored originals, bytes held by their unexpired reservations other than
    `exclude_id`) in one statement."""
    params = {"user_id": user_id, "now": now, "exclude_id": 0 if exclude_id is None else exclude_id}  # ids are > 0
    row = session.execute(_quota(session)[2], params).one()
    return int(row[0]), int(row[1])


def get_reservation(session: Session, reservation_id: int) -> UploadReservation | None:
    """A reservation by id."""
    return session.get(UploadReservation, reservation_id)


def add_reservation(session: Session, *, user_id: int, size: int, created_at: datetime, expires_at: datetime) -> int:
    """Insert a reservation; its id."""
    result = session.execute(_quota(session)[3], bound({"user_id": user_id, "bytes": size, "created_at": created_at,
                                                        "expires_at": expires_at}))
    return int(result.inserted_primary_key[0])


def delete_reservation(session: Session, reservation_id: int) -> None:
    """Drop a reservation (the upload ended, stored or not)."""
    session.execute(_DELETE_RESERVATION, {"id": reservation_id})


_DELETE_RESERVATION = delete(UploadReservation).where(UploadReservation.id == bindparam("id"))


def delete_expired_reservations(session: Session, user_id: int, now: datetime) -> None:
    """Forget a user's reservations whose uploads died without releasing them."""
    session.execute(_quota(session)[1], {"user_id": user_id, "now": now})


# ---------------------------------------------------------------- resumable (tus) uploads


def add_tus(session: Session, upload: TusUpload) -> TusUpload:
    """Insert a resumable upload."""
    session.add(upload)
    session.flush()
    return upload


def get_tus(session: Session, upload_id: str) -> TusUpload | None:
    """A resumable upload by id."""
    return session.get(TusUpload, upload_id)


def delete_tus(session: Session, upload: TusUpload) -> None:
    """Forget a resumable upload."""
    session.delete(upload)
    session.flush()


def expired_tus(session: Session, now: datetime, limit: int = 100) -> list[TusUpload]:
    """Resumable uploads past their expiry (finished or not), oldest first."""
    return list(session.scalars(
        select(TusUpload).where(TusUpload.expires_at <= now).order_by(TusUpload.expires_at).limit(limit)
    ))


def tus_prefixes(session: Session, prefixes: list[str]) -> set[str]:
    """Which of these storage prefixes belong to a resumable upload in progress."""
    if not prefixes:
        return set()
    return set(session.scalars(select(TusUpload.prefix).where(TusUpload.prefix.in_(prefixes))))
