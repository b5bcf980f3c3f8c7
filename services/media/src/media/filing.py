"""Filing library items into the uploader's shows: the batch a worker runs after processing, and by hand.

An item uploaded without a show waits in its uploader's library (`show_id` null, `filing` pending). Once it
is processed (capture time and position known) `queue_filing` queues `media.file_library` for its uploader
through the outbox; the task takes every pending item of that user, asks shows once for the user's shows in
the span of days they can belong to, and applies `filing_rules.decide` to each. Filing an item announces it
to the other services as if it had just been uploaded into that show (`media.uploaded`, then `media.ready`):
shows counts it, social feeds and notifies; a library item was never announced before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from media import filing_repo
from media import repository as repo
from media.clients import ShowsAccess
from media.config import MediaSettings
from media.db import outbox
from media.exceptions import AlreadyFiled, DuplicateInShow, MediaNotFound, ShowNotFound
from media.filing_rules import Candidate, Decision, Facts, Rules, date_range, decide
from media.models import FAILED, FILING_UNFILED, READY, MediaItem
from media.serialize import record
from media.service import authorize_upload
from shared.db import session_scope, utcnow
from shared.events import MediaFailedV1, MediaReadyV1, MediaUploadedV1
from shared.internal import InternalClient
from shared.outbox import emit

log = logging.getLogger("media.filing")
TASK, QUEUE = "media.file_library", "images"  # cheap work: beside the thumbnails, no queue of its own
BY_USER = "user"


class CandidateSource(Protocol):
    """The user's shows dated `start`..`end` (shows is the authority)."""

    def __call__(self, user_id: int, start: date, end: date) -> list[Candidate]: ...


class HttpCandidates:
    """`GET {SHOWS_URL}/internal/users/{id}/filing-candidates?from=&to=`: one call per batch."""

    def __init__(self, settings: MediaSettings) -> None:
        self.client = InternalClient(settings.shows_url, settings.internal_token, service="shows",
                                     timeout_s=settings.internal_timeout_s, busy_wait_s=settings.internal_busy_wait_s)

    def __call__(self, user_id: int, start: date, end: date) -> list[Candidate]:
        """Ask shows (503 ServiceUnavailable when it is away: the task is retried)."""
        data = self.client.get_json(f"/internal/users/{user_id}/filing-candidates",
                                    params={"from": start.isoformat(), "to": end.isoformat()})
        return [Candidate.from_json(s) for s in data["shows"]]


def rules_of(settings: MediaSettings) -> Rules:
    """The matching rules from MEDIA_FILING_* settings."""
    return Rules(radius_m=settings.filing_radius_m, day_starts_hour=settings.filing_day_starts_hour,
                 checkin_margin_s=settings.filing_checkin_margin_s)


def queue_filing(session: Session, user_id: int) -> None:
    """Queue the filing of a user's pending library items with the caller's transaction."""
    outbox.enqueue_task(session, TASK, [user_id], QUEUE, key=f"filing:{user_id}")


def refile_unfiled(session: Session, user_id: int) -> None:
    """The user's shows changed: match their unfiled items again (only those with a capture time)."""
    if filing_repo.mark_unfiled_pending(session, user_id):
        queue_filing(session, user_id)


def leave_unfiled(item: MediaItem, suggestions: list[dict[str, Any]] | None = None) -> None:
    """Examined: the item stays in the library (with the shows it may belong to)."""
    item.filing, item.suggestions = FILING_UNFILED, list(suggestions or [])


def facts_of(item: MediaItem) -> Facts:
    """The capture facts filing matches on, as stored on the item."""
    instant = item.captured_at
    if instant is not None and instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return Facts(local=item.captured_local, instant=instant, latitude=item.latitude, longitude=item.longitude)


def announce(session: Session, item: MediaItem) -> None:
    """Tell the other services about an item that just entered its show (as a fresh upload would)."""
    assert item.show_id is not None
    emit(session, MediaUploadedV1(media_id=item.id, kind=item.kind, show_id=item.show_id,  # type: ignore[arg-type]
                                  user_id=item.user_id))
    if item.status == READY:
        rec = record(item)
        emit(session, MediaReadyV1(media_id=item.id, kind=item.kind, show_id=item.show_id,  # type: ignore[arg-type]
                                   user_id=item.user_id, thumbnail_url=rec["thumbnail_url"], url=rec["url"]))
    elif item.status == FAILED:
        emit(session, MediaFailedV1(media_id=item.id, kind=item.kind, show_id=item.show_id,  # type: ignore[arg-type]
                                    user_id=item.user_id, reason=item.error or ""))


def _place(session: Session, item: MediaItem, show_id: int, filed_by: str) -> None:
    item.show_id, item.filed_by, item.filing, item.suggestions = show_id, filed_by, None, None
    item.updated_at = utcnow()
    announce(session, item)


def move_into(session: Session, item: MediaItem, show_id: int, filed_by: str) -> bool:
    """File one library item into a show (the caller checked the show is its uploader's); False when the show is
    gone or already holds the same file."""
    if filing_repo.lock_shows(session, [show_id]):
        return False
    if (show_id, item.kind, item.sha256) in filing_repo.files_in_shows(session, item.user_id, [show_id]):
        return False
    _place(session, item, show_id, filed_by)
    return True


@dataclass
class FilingReport:
    """What one filing batch did."""

    examined: int = 0
    filed: int = 0
    unfiled: int = 0


def apply_decisions(session: Session, items: list[MediaItem], candidates: list[Candidate],
                    rules: Rules) -> FilingReport:
    """Match each item against the candidates and file or leave it (the caller's transaction)."""
    report = FilingReport(examined=len(items))
    decisions: list[tuple[MediaItem, Decision]] = [(i, decide(facts_of(i), candidates, rules)) for i in items]
    targets = {d.show_id for _, d in decisions if d.show_id is not None}
    # every target show locked once, and what they hold read once: a few statements per batch, not per item
    gone = filing_repo.lock_shows(session, targets)
    held = filing_repo.files_in_shows(session, items[0].user_id, targets) if items else set()
    for item, decision in decisions:
        show_id = decision.show_id
        if show_id is not None and show_id not in gone and (show_id, item.kind, item.sha256) not in held:
            _place(session, item, show_id, decision.filed_by or "time")
            held.add((show_id, item.kind, item.sha256))
            report.filed += 1
            continue
        if show_id is not None:  # sure, but the show is gone or has the file: offer it instead
            decision.suggestions = [{"show_id": show_id, "score": 1.0, "reason": decision.filed_by}]
        leave_unfiled(item, decision.suggestions)
        report.unfiled += 1
    return report


def file_pending(session_factory: sessionmaker[Session], source: CandidateSource, rules: Rules, *, user_id: int,
                 batch_size: int = 1000, settle_s: float = 0.0) -> FilingReport:
    """The task's work: every pending, processed library item of the user, in batches of one shows call each.

    While more of the user's library is still being processed, and no processed item has waited `settle_s`,
    nothing is done: the task of the item processed last files the whole folder in one batch.
    """
    total = FilingReport()
    if settle_s > 0:
        with session_scope(session_factory) as session:
            if filing_repo.settling(session, user_id, utcnow() - timedelta(seconds=settle_s)):
                return total
    while True:
        with session_scope(session_factory) as session:
            items = filing_repo.pending_items(session, user_id, batch_size)
            if not items:
                return total
            span = date_range((facts_of(i) for i in items), rules)
            candidates = source(user_id, *span) if span is not None else []
            report = apply_decisions(session, items, candidates, rules)
        total.examined += report.examined
        total.filed += report.filed
        total.unfiled += report.unfiled
        if report.examined < batch_size:
            return total


# ---------------------------------------------------------------- the API


def unfiled(session: Session, *, user_id: int, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """The caller's library: every item without a show, with `filing` (pending|unfiled) and `suggestions`."""
    rows, total = filing_repo.library_page(session, user_id, limit, offset)
    return [record(r, filing=r.filing, suggestions=list(r.suggestions or [])) for r in rows], total


def file_by_hand(session: Session, shows: ShowsAccess, *, media_id: int, user_id: int, show_id: int) -> MediaItem:
    """`POST /api/media/{id}/file`: put one of the caller's library items into one of the caller's shows.

    404 for an item that is not theirs, 404/403 for a show they cannot see/do not own (as uploads), 409
    `already_filed` for an item already in another show, 409 `duplicate_in_show` when that show has the file.
    Filing into the show it is already in answers the item again (a retry).
    """
    item = repo.get(session, media_id)
    if item is None or item.user_id != user_id:
        raise MediaNotFound()
    if item.show_id == show_id:
        return item
    if item.show_id is not None:
        raise AlreadyFiled()
    authorize_upload(shows, show_id=show_id, user_id=user_id)  # the same rule as uploading into the show
    if filing_repo.lock_shows(session, [show_id]):
        raise ShowNotFound()
    if not move_into(session, item, show_id, BY_USER):
        raise DuplicateInShow()
    session.flush()
    return item
