"""Queries of filing: library items waiting to be matched, the unfiled list (never commit; flush only)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from media.models import FAILED, FILING_PENDING, FILING_UNFILED, READY, MediaItem, ShowRef
from media.repository import show_placeholder
from shared.copies import lock_copies


def pending_items(session: Session, user_id: int, limit: int) -> list[MediaItem]:
    """A user's processed library items waiting for filing, locked for this transaction.

    Rows another filing task holds are skipped (PostgreSQL): two tasks of one user share the work.
    """
    stmt = (
        select(MediaItem)
        .where(MediaItem.user_id == user_id, MediaItem.show_id.is_(None), MediaItem.filing == FILING_PENDING,
               MediaItem.status == READY)
        .order_by(MediaItem.id).limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(stmt))


def settling(session: Session, user_id: int, since: datetime) -> bool:
    """Whether the user's library is still being processed (an item queued or in a worker) while no processed
    item has waited since `since`: filing waits for the rest of the folder."""
    waiting = select(MediaItem.id).where(
        MediaItem.user_id == user_id, MediaItem.show_id.is_(None), MediaItem.filing == FILING_PENDING)
    if session.scalar(waiting.where(MediaItem.status == READY, MediaItem.finished_at < since).limit(1)) is not None:
        return False
    return session.scalar(waiting.where(MediaItem.status.not_in((READY, FAILED))).limit(1)) is not None


def library_page(session: Session, user_id: int, limit: int, offset: int) -> tuple[list[MediaItem], int]:
    """A user's library (items with no show), newest first, with the total."""
    where = (MediaItem.user_id == user_id, MediaItem.show_id.is_(None))
    total = session.scalar(select(func.count()).select_from(MediaItem).where(*where)) or 0
    rows = session.scalars(
        select(MediaItem).where(*where).order_by(MediaItem.created_at.desc(), MediaItem.id.desc())
        .limit(limit).offset(offset)
    )
    return list(rows), int(total)



def lock_shows(session: Session, show_ids: Iterable[int]) -> set[int]:
    """Write-lock the copies of these shows, as an upload locks its show's (a deletion waits, or is seen);
    returns the ids of those that are deleted."""
    rows = lock_copies(session, ShowRef, "show_id", show_ids, show_placeholder())
    return {r.show_id for r in rows if r.deleted}


def files_in_shows(session: Session, user_id: int, show_ids: Iterable[int]) -> set[tuple[int, str, str]]:
    """(show_id, kind, sha256) of the user's items already in these shows: filing must not duplicate one."""
    ids = list(show_ids)
    if not ids:
        return set()
    rows = session.execute(select(MediaItem.show_id, MediaItem.kind, MediaItem.sha256)
                           .where(MediaItem.user_id == user_id, MediaItem.show_id.in_(ids)))
    return {(int(sid), kind, sha) for sid, kind, sha in rows}


def mark_unfiled_pending(session: Session, user_id: int) -> int:
    """Put the user's unfiled items that have a capture time back to pending; how many."""
    result = session.execute(_MARK_UNFILED_PENDING, {"owner": user_id})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# run for every show logged or changed: built once (building and keying it cost more than running it)
_MARK_UNFILED_PENDING = (
    update(MediaItem)
    .where(MediaItem.user_id == bindparam("owner"), MediaItem.show_id.is_(None),
           MediaItem.filing == FILING_UNFILED, MediaItem.status == READY,
           or_(MediaItem.captured_local.is_not(None), MediaItem.captured_at.is_not(None)))
    .values(filing=FILING_PENDING)
    .execution_options(synchronize_session=False)
)
