"""Starting catalogue jobs from requests: checks first (owner, act, configuration, file), then a queued job."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from shared.errors import Conflict, PayloadTooLarge, ValidationFailed
from shows.catalog import jobs, lineup
from shows.catalog.csvformats import FORMATS, FileProblem, read_rows
from shows.catalog.schemas import AttendedImport, SetlistImport
from shows.catalog.sources import configured_sources
from shows.catalog.stats import get_artist
from shows.config import ShowsSettings
from shows.service import Viewer, get_owned_show


class SourceNotConfigured(Conflict):
    default_code = "source_not_configured"
    default_message = "This import source is not configured here."


def _require(settings: ShowsSettings, source: str) -> None:
    state = configured_sources(settings)[source]
    if not state["configured"]:
        raise SourceNotConfigured(state["reason"])


def _accepted(job: Any) -> dict[str, Any]:
    return {"job_id": job.id, "status": job.status}


def start_setlist_import(session: Session, *, viewer: Viewer, show_id: int, data: SetlistImport,
                         settings: ShowsSettings, enqueue: jobs.Enqueue) -> dict[str, Any]:
    """Queue a setlist import for the caller's show (404/403 like any change of the show)."""
    get_owned_show(session, show_id, viewer.id)
    if data.artist_id is not None and data.artist_id not in lineup.act_ids(session, show_id):
        raise ValidationFailed("That act is not on this show's bill.", field="artist_id")
    _require(settings, data.source)
    params = {"show_id": show_id, **data.model_dump()}
    return _accepted(jobs.create_job(session, user_id=viewer.id, kind="setlist_import", params=params,
                                     enqueue=enqueue))


def start_history_import(session: Session, *, viewer: Viewer, content: bytes, fmt: str, dry_run: bool,
                         settings: ShowsSettings, enqueue: jobs.Enqueue) -> dict[str, Any]:
    """Queue a history file import after checking that the file reads as the format named."""
    if fmt not in FORMATS:
        raise ValidationFailed(f"format must be one of {', '.join(FORMATS)}.", field="format")
    if len(content) > settings.import_max_bytes:
        raise PayloadTooLarge(f"History files are limited to {settings.import_max_bytes // 1024} KiB.")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed("The file must be UTF-8 text (CSV).", field="file") from exc
    try:
        rows = read_rows(text, fmt, settings.import_max_rows)
    except FileProblem as exc:
        raise ValidationFailed(str(exc), field="file") from exc
    params = {"format": fmt, "dry_run": dry_run, "rows": len(rows), "viewer": viewer.username}
    return _accepted(jobs.create_job(session, user_id=viewer.id, kind="history_import", params=params,
                                     payload=text, enqueue=enqueue))


def start_attended_import(session: Session, *, viewer: Viewer, data: AttendedImport, settings: ShowsSettings,
                          enqueue: jobs.Enqueue) -> dict[str, Any]:
    """Queue the import of a setlist.fm user's attended concerts."""
    _require(settings, "setlistfm")
    # `username` is the setlist.fm user; the caller's own name travels as `viewer`
    params = {"username": data.username, "dry_run": data.dry_run, "viewer": viewer.username}
    job = jobs.create_job(session, user_id=viewer.id, kind="setlistfm_attended", params=params, enqueue=enqueue)
    return _accepted(job)


def start_artist_lookup(session: Session, *, viewer: Viewer, artist_id: int, mbid: str | None,
                        settings: ShowsSettings, enqueue: jobs.Enqueue) -> dict[str, Any]:
    """Queue a MusicBrainz lookup of an artist (its MBID, aliases, image, description, recordings)."""
    get_artist(session, artist_id)
    _require(settings, "musicbrainz")
    return _accepted(jobs.create_job(session, user_id=viewer.id, kind="artist_lookup",
                                     params={"artist_id": artist_id, "mbid": mbid}, enqueue=enqueue))
