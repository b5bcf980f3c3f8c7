"""What a worker does with one item: claim it, process the original, store derivatives, finish (idempotent)."""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from media import concerts, filing
from media import repository as repo
from media.album import suggest_after_processing
from media.config import MediaSettings
from media.models import FAILED, READY, TERMINAL, WORKING, MediaItem
from media.processing import (
    MediaRejected,
    make_poster,
    needs_audio_transcode,
    plan_video,
    probe,
    process_photo,
    run_ffmpeg,
    validate_audio,
    validate_video,
    video_rendition_cmd,
)
from media.processing.hls import content_type as hls_content_type
from media.processing.hls import ladder_cmd, ladder_files, plan_ladder
from media.processing.transcode import RenditionPlan, audio_rendition_cmd, split_plans
from media.processing.waveform import waveform_peaks
from media.serialize import record
from media.storage import Storage
from shared.db import session_scope, utcnow
from shared.events import MediaFailedV1, MediaReadyV1
from shared.outbox import emit

log = logging.getLogger("media.pipeline")
CRASH_REASON = "processing kept crashing"


@dataclass
class Output:
    """One derivative file to store, and the facts learned while making it."""

    name: str
    path: Path
    content_type: str
    width: int | None = None
    height: int | None = None
    size: int = 0


@dataclass
class Produced:
    """Everything processing produced."""

    outputs: list[Output] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


class Heartbeat:
    """Keeps the claim alive and writes progress at most about once a second (background thread)."""

    def __init__(self, session_factory: sessionmaker[Session], media_id: int, attempt: int,
                 every_s: float = 10.0) -> None:
        self.session_factory = session_factory
        self.media_id = media_id
        self.attempt = attempt
        self.every_s = every_s
        self._progress: int | None = None
        self._written: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{media_id}", daemon=True)
        self.lost = False

    def progress(self, pct: float) -> None:
        """Record progress (0-100); written by the thread."""
        self._progress = max(0, min(99, int(pct)))

    def _beat(self) -> None:
        pending = self._progress if self._progress != self._written else None
        with session_scope(self.session_factory) as session:
            if not repo.heartbeat(session, self.media_id, self.attempt, pending):
                self.lost = True  # taken over or deleted; finishing will notice
        if pending is not None:
            self._written = pending

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(1.0):
            if self._progress != self._written or time.monotonic() - last >= self.every_s:
                try:
                    self._beat()
                    last = time.monotonic()
                except Exception as exc:  # the database may blink; the next beat retries
                    log.warning("heartbeat of %s failed: %s", self.media_id, exc)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _fail(session: Session, item: MediaItem, reason: str) -> None:
    item.status, item.error, item.finished_at, item.progress = FAILED, reason[:1000], utcnow(), 0
    if item.show_id is None:  # a library item: nothing to file it by, and nobody else knows of it
        filing.leave_unfiled(item)
        filing.queue_filing(session, item.user_id)  # the rest of its folder may have waited for it
        return
    emit(session, MediaFailedV1(media_id=item.id, kind=item.kind, show_id=item.show_id,  # type: ignore[arg-type]
                                user_id=item.user_id, reason=reason[:1000]))


def claim(session_factory: sessionmaker[Session], media_id: int, settings: MediaSettings, *,
          redelivered: bool = False) -> tuple[MediaItem, int] | None:
    """Take the item for this attempt (compare-and-set); None if done, held by a live worker, or given up."""
    deadline = time.monotonic() + settings.worker_lease_s + 5
    while True:
        with session_scope(session_factory) as session:
            item = repo.get_bare(session, media_id)  # the claim needs the row; the renditions come at the finish
            if item is None or item.status in TERMINAL:
                return None
            fresh = item.heartbeat_at is not None and (utcnow() - item.heartbeat_at).total_seconds() < \
                settings.worker_lease_s
            if item.status == WORKING and fresh and not redelivered:
                pass  # another worker holds it: wait for it to finish or to stop beating
            elif item.attempts >= settings.max_attempts:
                _fail(session, item, CRASH_REASON)
                return None
            elif repo.claim(session, item, seen_status=item.status, seen_attempts=item.attempts):
                return item, item.attempts  # repo.claim set the claimed values on the object
            else:
                return None  # someone else changed it first
        if time.monotonic() > deadline:
            return None
        time.sleep(2.0)


def run_item(session_factory: sessionmaker[Session], storage: Storage, settings: MediaSettings, media_id: int, *,
             redelivered: bool = False, hard_limit_s: float | None = None) -> str:
    """Process one item end to end; returns the final status (or 'skipped'). Transient errors propagate."""
    started = time.monotonic()
    claimed = claim(session_factory, media_id, settings, redelivered=redelivered)
    if claimed is None:  # done already; a redelivered video task still owes its ladder
        run_hls(session_factory, storage, settings, media_id, hard_limit_s=hard_limit_s, started=started)
        return "skipped"
    item, attempt = claimed
    try:
        with tempfile.TemporaryDirectory(prefix=f"media-{media_id}-") as tmp, \
                Heartbeat(session_factory, media_id, attempt) as beat:
            work = Path(tmp)
            src = work / f"original.{item.original_key.rsplit('.', 1)[-1]}"
            storage.download_to(item.original_key, src)
            budget = (hard_limit_s or settings.task_hard_limit_s) * 0.85 - (time.monotonic() - started)
            produced = PROCESSORS[item.kind](src, work / "out", item, settings, beat.progress, max(30.0, budget))
            for out in produced.outputs:
                out.size = storage.upload_file(out.path, f"{item.prefix}/{out.path.name}", out.content_type)
    except MediaRejected as exc:
        return _finish(session_factory, storage, item, attempt, failed=exc.reason)
    except Exception:
        with session_scope(session_factory) as session:
            repo.release(session, media_id, attempt)
        raise
    status = _finish(session_factory, storage, item, attempt, produced=produced)
    if status == READY and item.kind in ("video", "audio"):  # which songs of the setlist the clip shows
        suggest_after_processing(session_factory, concerts.for_worker(settings), media_id)
    if status == READY and item.kind == "video":  # playable now (progressive MP4); the ladder follows
        run_hls(session_factory, storage, settings, media_id, hard_limit_s=hard_limit_s, started=started)
    return status


# ---------------------------------------------------------------- HLS ladder (after the video is ready)

HLS_WORKING, HLS_READY, HLS_FAILED = "working", "ready", "failed"


def _claim_hls(session_factory: sessionmaker[Session], media_id: int) -> MediaItem | None:
    with session_scope(session_factory) as session:
        item = repo.get(session, media_id)
        if item is None or item.kind != "video" or item.status != READY or item.hls_status in (HLS_READY, HLS_FAILED):
            return None
        item.hls_status = HLS_WORKING
        item.hls_progress = {}
        return item


def _set_hls(session_factory: sessionmaker[Session], media_id: int, **values: Any) -> bool:
    with session_scope(session_factory) as session:
        item = repo.get(session, media_id)
        if item is None:
            return False
        for name, value in values.items():
            setattr(item, name, value)
        return True


def run_hls(session_factory: sessionmaker[Session], storage: Storage, settings: MediaSettings, media_id: int, *,
            hard_limit_s: float | None = None, started: float | None = None) -> str:
    """Build and store a ready video's HLS ladder (one decode, every rung); returns its status or 'skipped'.

    A source that cannot be laddered leaves the video playable as progressive MP4 (`hls.status` failed);
    storage or database errors propagate (the task is retried and comes back here).
    """
    item = _claim_hls(session_factory, media_id)
    if item is None:
        return "skipped"
    started = started if started is not None else time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"media-hls-{media_id}-") as tmp:
        work = Path(tmp)
        src = work / f"original.{item.original_key.rsplit('.', 1)[-1]}"
        storage.download_to(item.original_key, src)
        out = work / "hls"
        try:
            info = probe(src, container_format=item.format)
            rungs = plan_ladder(info)
            if not rungs:
                raise MediaRejected("no video stream to ladder")
            names = [r.name for r in rungs]
            _set_hls(session_factory, media_id, hls_progress=dict.fromkeys(names, 0))
            duration = info.duration or (info.video_stream.duration if info.video_stream else None) or 0.0
            budget = (hard_limit_s or settings.task_hard_limit_s) * 0.85 - (time.monotonic() - started)
            timeout = max(30.0, min(budget, 60.0 + settings.transcode_s_per_media_s * 1.5 * duration))
            last = [0.0]

            def on_progress(pct: float) -> None:
                # every rung is encoded in the same pass: they advance together
                if pct >= 100 or time.monotonic() - last[0] >= 1.0:
                    last[0] = time.monotonic()
                    _set_hls(session_factory, media_id, hls_progress=dict.fromkeys(names, min(99, int(pct))))

            run_ffmpeg(ladder_cmd(src, out, rungs, item.format, has_audio=info.audio_stream is not None,
                                  exe=settings.ffmpeg_binary or None),
                       duration_s=duration, on_progress=on_progress, timeout_s=timeout)
        except MediaRejected as exc:
            log.warning("video %s: no HLS ladder: %s", media_id, exc.reason)
            _later_renditions(session_factory, storage, settings, item, src, work, timeout)
            _set_hls(session_factory, media_id, hls_status=HLS_FAILED)
            return HLS_FAILED
        for path in ladder_files(out):  # the master last: it only exists once its parts do
            key = f"{item.prefix}/hls/{path.relative_to(out)}"
            storage.upload_file(path, key, hls_content_type(path.name))
        # before the ladder is marked ready, so a retry after a crash makes them again
        _later_renditions(session_factory, storage, settings, item, src, work, timeout)
    if not _set_hls(session_factory, media_id, hls_status=HLS_READY, hls_progress=dict.fromkeys(names, 100)):
        storage.delete_prefix(item.prefix)  # deleted while laddering
        return "deleted"
    return HLS_READY


def _later_renditions(session_factory: sessionmaker[Session], storage: Storage, settings: MediaSettings,
                      item: MediaItem, src: Path, work: Path, timeout: float) -> None:
    """The progressive MP4 encodes a remuxed video was made `ready` without (`split_plans`), for download and
    for players without HLS; a failure leaves the video playable from its remux."""
    try:
        info = probe(src, container_format=item.format)
        later: list[RenditionPlan] = split_plans(plan_video(info))[1]
        duration = info.duration or (info.video_stream.duration if info.video_stream else None) or 0.0
        for plan in later:
            dst = work / plan.filename
            run_ffmpeg(video_rendition_cmd(src, dst, plan, item.format, exe=settings.ffmpeg_binary or None),
                       duration_s=duration, on_progress=lambda _pct: None, timeout_s=timeout)
            key = f"{item.prefix}/{dst.name}"
            size = storage.upload_file(dst, key, "video/mp4")
            with session_scope(session_factory) as session:
                current = repo.get(session, item.id)
                if current is None:
                    return  # deleted meanwhile: run_hls removes what is stored
                repo.upsert_rendition(session, current, name=plan.name, key=key, content_type="video/mp4",
                                      size=size, width=plan.width, height=plan.height)
    except MediaRejected as exc:
        log.warning("video %s: no later renditions: %s", item.id, exc.reason)


def _finish(session_factory: sessionmaker[Session], storage: Storage, claimed: MediaItem, attempt: int, *,
            produced: Produced | None = None, failed: str | None = None) -> str:
    """Write the outcome, renditions and the event in one transaction (if this attempt still holds the item)."""
    with session_scope(session_factory) as session:
        item = repo.get(session, claimed.id)
        gone = item is None
        if item is not None:
            if item.status != WORKING or item.attempts != attempt:
                return "skipped"  # another attempt took over; it writes the same objects
            if failed is not None:
                _fail(session, item, failed)
                return FAILED
            assert produced is not None
            for out in produced.outputs:
                repo.upsert_rendition(session, item, name=out.name, key=f"{item.prefix}/{out.path.name}",
                                      content_type=out.content_type, size=out.size,
                                      width=out.width, height=out.height)
            for name, value in produced.facts.items():
                setattr(item, name, value)
            item.status, item.error, item.progress, item.finished_at = READY, None, 100, utcnow()
            session.flush()
            if item.show_id is None:  # a library item: its capture facts are known, filing matches it now
                filing.queue_filing(session, item.user_id)
                return READY
            rec = record(item)
            emit(session, MediaReadyV1(media_id=item.id, kind=item.kind, show_id=item.show_id,  # type: ignore[arg-type]
                                       user_id=item.user_id, thumbnail_url=rec["thumbnail_url"], url=rec["url"]))
    if gone:
        log.info("item %s was deleted while processing; removing its derivatives", claimed.id)
        storage.delete_prefix(claimed.prefix)
        return "deleted"
    return READY


# ---------------------------------------------------------------- per kind

Progress = Callable[[float], None]


def _photo(src: Path, out: Path, item: MediaItem, settings: MediaSettings, progress: Progress,
           budget_s: float) -> Produced:
    result = process_photo(src, out, max_pixels=settings.photo_max_pixels)
    produced = Produced(facts={"width": result.width, "height": result.height, "camera": result.camera,
                               "placeholder": result.placeholder, **result.capture.facts()})
    for f in result.files:
        name = "display" if f.role == "display" else f.name.rsplit(".", 1)[0]
        produced.outputs.append(Output(name, f.path, f.mime, f.width, f.height))
    return produced


def _video(src: Path, out: Path, item: MediaItem, settings: MediaSettings, progress: Progress,
           budget_s: float) -> Produced:
    out.mkdir(parents=True, exist_ok=True)
    info = probe(src, container_format=item.format)
    v = validate_video(info)
    duration = info.duration or v.duration or 0.0
    timeout = min(budget_s, 60.0 + settings.transcode_s_per_media_s * duration)
    exe = settings.ffmpeg_binary or None
    plans, _later = split_plans(plan_video(info))  # the later ones are made by run_hls, after `ready`
    produced = Produced(facts={"width": v.display_width, "height": v.display_height, "duration": duration,
                               "video_codec": v.codec,
                               "audio_codec": info.audio_stream.codec if info.audio_stream else None,
                               **info.capture.facts()})
    poster = make_poster(src, out / "poster.jpg", item.format, duration, timeout_s=min(120.0, timeout), exe=exe)
    produced.outputs.append(Output("poster", poster, "image/jpeg"))
    for i, plan in enumerate(plans):
        dst = out / plan.filename

        def on_progress(pct: float, i: int = i) -> None:
            progress((i + pct / 100) / len(plans) * 98)

        run_ffmpeg(video_rendition_cmd(src, dst, plan, item.format, exe=exe), duration_s=duration,
                   on_progress=on_progress, timeout_s=timeout)
        produced.outputs.append(Output(plan.name, dst, "video/mp4", plan.width, plan.height))
    return produced


def _audio(src: Path, out: Path, item: MediaItem, settings: MediaSettings, progress: Progress,
           budget_s: float) -> Produced:
    out.mkdir(parents=True, exist_ok=True)
    info = probe(src, container_format=item.format)
    a = validate_audio(info)
    duration = info.duration or a.duration or 0.0
    produced = Produced(facts={"duration": duration, "audio_codec": a.codec, **info.capture.facts()})
    if needs_audio_transcode(info):
        dst = out / "audio.m4a"
        timeout = min(budget_s, 60.0 + settings.transcode_s_per_media_s * duration)
        run_ffmpeg(audio_rendition_cmd(src, dst, item.format, sample_rate=a.sample_rate,
                                       exe=settings.ffmpeg_binary or None),
                   duration_s=duration, on_progress=lambda p: progress(p * 0.8), timeout_s=timeout)
        produced.outputs.append(Output("audio", dst, "audio/mp4"))
    peaks = waveform_peaks(src, points=1000, input_format=item.format)
    wf = out / "waveform.json"
    wf.write_text(json.dumps({"points": len(peaks), "duration": duration, "peaks": peaks}))
    produced.outputs.append(Output("waveform", wf, "application/json"))
    return produced


PROCESSORS: dict[str, Callable[..., Produced]] = {"photo": _photo, "video": _video, "audio": _audio}


def give_up(session_factory: sessionmaker[Session], media_id: int, reason: str) -> None:
    """Mark a non-terminal item failed (e.g. it hit the time limit): retrying would fail the same way."""
    with session_scope(session_factory) as session:
        item = repo.get(session, media_id)
        if item is not None and item.status not in TERMINAL:
            _fail(session, item, reason)
