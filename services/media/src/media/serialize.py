"""Media items as the contract's JSON record, with relative `/api/...` URLs."""

from __future__ import annotations

from typing import Any

from media.models import CONFIRMED, SUGGESTED, MediaItem, MediaSong
from shared.db import iso

PLURAL = {"photo": "photos", "audio": "audio", "video": "videos"}
THUMB_SIZES = {"small": 320, "medium": 1024, "large": 2048}


def _has(item: MediaItem, name: str) -> bool:
    return item.rendition(name) is not None


def chapter_songs(item: MediaItem) -> list[MediaSong]:
    """The songs a clip's chapters are made of: the confirmed ones, else the suggestions."""
    confirmed = [s for s in item.songs if s.source == CONFIRMED]
    return confirmed or [s for s in item.songs if s.source == SUGGESTED]


def urls(item: MediaItem) -> dict[str, str | None]:
    """URLs of every derivative, null until it exists."""
    base = f"/api/{PLURAL[item.kind]}/{item.id}"
    out: dict[str, str | None] = dict.fromkeys(
        ("thumbnail_small", "thumbnail_medium", "thumbnail_large", "poster", "rendition_720p", "rendition_1080p",
         "waveform", "hls", "chapters")
    )
    if item.kind == "photo":
        for label, size in THUMB_SIZES.items():
            if _has(item, f"thumb_{size}"):
                out[f"thumbnail_{label}"] = f"{base}/thumbnail?size={label}"
    elif item.kind == "video":
        if _has(item, "poster"):
            out["poster"] = f"{base}/thumbnail"
        for rung in ("720p", "1080p"):
            if _has(item, rung):
                out[f"rendition_{rung}"] = f"{base}?rendition={rung}"
        if item.hls_status == "ready":
            out["hls"] = f"{base}/hls/master.m3u8"
        if len(chapter_songs(item)) > 1:
            out["chapters"] = f"{base}/hls/chapters.vtt"
    elif _has(item, "waveform"):
        out["waveform"] = f"{base}/waveform"
    return out


def record(item: MediaItem, **extra: Any) -> dict[str, Any]:
    """The contract's media record."""
    links = urls(item)
    base = f"/api/{PLURAL[item.kind]}/{item.id}"
    thumbnail = None
    if item.kind == "photo" and links["thumbnail_small"]:
        thumbnail = f"{base}/thumbnail"
    elif item.kind == "video" and links["poster"]:
        thumbnail = links["poster"]
    data: dict[str, Any] = {
        "id": item.id,
        "show_id": item.show_id,
        "user_id": item.user_id,
        "kind": item.kind,
        "status": item.public_status,
        "error": item.error,
        "progress": 100 if item.status == "ready" else int(item.progress or 0),
        "original_filename": item.original_filename,
        "content_type": item.content_type,
        "file_size": item.file_size,
        "width": item.width,
        "height": item.height,
        "duration": round(item.duration, 3) if item.duration is not None else None,
        "taken_at": item.taken_at,
        "placeholder": item.placeholder,
        "url": base,
        "thumbnail_url": thumbnail,
        "urls": links,
        "comment_count": item.comment_count,
        "created_at": iso(item.created_at),
        "filed_by": item.filed_by,
    }
    if item.kind == "video":
        data["hls"] = {"status": item.hls_status, "progress": dict(item.hls_progress or {})}
    if item.kind == "photo":
        data["caption"] = item.caption
    else:
        data["title"] = item.title
        data["description"] = item.description
        data["song_ids"] = [s.song_id for s in item.songs if s.source == CONFIRMED]
        data["song_suggestions"] = [
            {"song_id": s.song_id, "score": s.score, "start_s": s.start_s, "end_s": s.end_s}
            for s in sorted(item.songs, key=lambda s: (s.start_s or 0.0, s.song_id)) if s.source == SUGGESTED
        ]
    data.update(extra)
    return data
