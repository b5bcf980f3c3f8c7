"""Reading media: ranges, caching headers, readiness, access matrix, edits, deletes and lists."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from media.consumers import make_subscriptions
from media.db import outbox
from shared.events import EventEnvelope
from shared.messaging import EventBus, EventConsumer
from shared.testing.media import jpeg_bytes


def _photo(env, owner: int = 10, show: int = 1, seed: int = 0, run: bool = True) -> dict:
    r = env.upload(owner, "photos", show, f"p{seed}.jpg", jpeg_bytes(1200, 800, seed=seed), "image/jpeg")
    assert r.status_code == 201, r.text
    if run:
        env.run_queued()
        return env.client.get(r.json()["url"], headers=env.auth(owner), params={"meta": 1}).json()
    return r.json()


def test_range_requests_return_exact_bytes(env) -> None:
    env.shows.add(1, owner=10)
    rec = _photo(env)
    h = env.auth(10)
    full = env.client.get(rec["url"], headers=h)
    body = full.content
    size = len(body)
    assert full.status_code == 200 and full.headers["content-length"] == str(size)
    assert full.headers["accept-ranges"] == "bytes"
    for rng, (start, end) in {"bytes=0-99": (0, 99), "bytes=100-": (100, size - 1), "bytes=-50": (size - 50, size - 1),
                              f"bytes=10-{size + 500}": (10, size - 1)}.items():
        r = env.client.get(rec["url"], headers={**h, "Range": rng})
        assert r.status_code == 206, rng
        assert r.content == body[start : end + 1]
        assert r.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert r.headers["content-length"] == str(end - start + 1)
    bad = env.client.get(rec["url"], headers={**h, "Range": f"bytes={size}-"})
    assert bad.status_code == 416 and bad.headers["content-range"] == f"bytes */{size}"
    assert bad.json()["code"] == "range_not_satisfiable"
    multi = env.client.get(rec["url"], headers={**h, "Range": "bytes=0-1,5-6"})
    assert multi.status_code == 200 and multi.content == body


def test_caching_and_protective_headers(env) -> None:
    env.shows.add(1, owner=10)
    rec = _photo(env)
    r = env.client.get(rec["urls"]["thumbnail_small"], headers=env.auth(10))
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert r.headers["cache-control"].startswith("private, max-age=")
    assert r.headers["content-disposition"].startswith("inline; ")
    etag = r.headers["etag"]
    again = env.client.get(rec["urls"]["thumbnail_small"], headers={**env.auth(10), "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other = env.client.get(rec["urls"]["thumbnail_large"], headers={**env.auth(10), "If-None-Match": etag})
    assert other.status_code == 200
    assert env.client.get(f"{rec['url']}/thumbnail?size=huge", headers=env.auth(10)).status_code == 422


def test_not_ready_until_processed_but_original_for_uploader(env) -> None:
    env.shows.add(1, owner=10, visibility="public")
    data = jpeg_bytes(300, 200)
    rec = env.upload(10, "photos", 1, "a.jpg", data, "image/jpeg").json()
    r = env.client.get(rec["url"], headers=env.auth(10))
    assert r.status_code == 409 and r.json()["code"] == "not_ready"
    assert env.client.get(rec["url"] + "/thumbnail", headers=env.auth(10)).status_code == 409
    assert env.client.get(rec["url"], headers=env.auth(10), params={"rendition": "original"}).content == data
    assert env.client.get(rec["url"], headers=env.auth(20), params={"rendition": "original"}).status_code == 404
    assert env.client.get(rec["url"], headers=env.auth(20), params={"meta": 1}).json()["status"] == "processing"


def test_bad_media_ends_failed_with_reason(env) -> None:
    env.shows.add(1, owner=10)
    truncated = jpeg_bytes(800, 600)[:3000]
    rec = env.upload(10, "photos", 1, "t.jpg", truncated, "image/jpeg").json()
    assert env.run_queued() == ["failed"]
    meta = env.client.get(rec["url"], headers=env.auth(10), params={"meta": 1}).json()
    assert meta["status"] == "failed" and meta["error"]
    r = env.client.get(rec["url"], headers=env.auth(10))
    assert r.status_code == 409 and r.json()["code"] == "processing_failed"
    assert env.outbox_types()[-1] == "media.failed"


def test_access_matrix(env) -> None:
    env.shows.add(1, owner=10, visibility="private")
    env.shows.add(2, owner=10, visibility="public")
    private = _photo(env, show=1, seed=1)
    public = _photo(env, show=2, seed=2)
    stranger = env.auth(20)
    for url in (private["url"], private["url"] + "/thumbnail", private["url"] + "?meta=1", "/api/photos/show/1"):
        assert env.client.get(url, headers=stranger).status_code == 404, url
    assert env.client.put(private["url"], headers=stranger, json={"caption": "x"}).status_code == 404
    assert env.client.delete(private["url"], headers=stranger).status_code == 404
    assert env.client.get(public["url"], headers=stranger).status_code == 200
    assert env.client.get("/api/photos/show/2", headers=stranger).json()["total"] == 1
    assert env.client.put(public["url"], headers=stranger, json={"caption": "x"}).status_code == 403
    assert env.client.delete(public["url"], headers=stranger).status_code == 403
    assert env.client.get(public["url"]).status_code == 401
    assert env.client.get("/api/photos/999", headers=env.auth(10)).status_code == 404
    assert env.client.get(f"/api/videos/{public['id']}", headers=env.auth(10)).status_code == 404  # wrong kind


def test_show_owner_may_delete_others_media(env) -> None:
    env.shows.add(1, owner=10, visibility="friends", viewers={30})
    rec = _photo(env, owner=10, show=1)
    env.shows.add(1, owner=20, visibility="friends", viewers={10, 30})  # the show now belongs to 20
    assert env.client.delete(rec["url"], headers=env.auth(30)).status_code == 403
    assert env.client.delete(rec["url"], headers=env.auth(20)).status_code == 204
    assert env.keys() == []
    assert env.outbox_types()[-1] == "media.deleted"
    assert env.client.get(rec["url"], headers=env.auth(10), params={"meta": 1}).status_code == 404


def test_delete_removes_every_object(env) -> None:
    env.shows.add(1, owner=10)
    rec = _photo(env)
    keys = env.keys()
    assert len(keys) == 5  # original, display, three thumbnails
    assert env.client.delete(rec["url"], headers=env.auth(10)).status_code == 204
    assert env.keys() == []


def test_update_caption_and_title(env, tmp_path) -> None:
    env.shows.add(1, owner=10)
    rec = _photo(env)
    r = env.client.put(rec["url"], headers=env.auth(10), json={"caption": "new", "status": "failed", "user_id": 99})
    assert r.status_code == 200 and r.json()["caption"] == "new" and r.json()["status"] == "ready"
    assert r.json()["user_id"] == 10
    assert env.client.put(rec["url"], headers=env.auth(10), json={"caption": "x" * 3000}).status_code == 422


def _deliver(env, event_type: str, data: dict) -> None:
    """Run an event through the media consumer's real path (dispatch, inbox, handler)."""
    consumer = EventConsumer(EventBus(env.settings), make_subscriptions(lambda: env.storage),
                             env.app.state.session_factory, outbox)
    consumer.handle(EventEnvelope(type=event_type, producer="test", data=data))


def test_lists_envelopes_and_dashboard(env) -> None:
    env.shows.add(1, owner=10)
    _deliver(env, "show.created", {
        "show_id": 1, "user_id": 10, "concert_id": 1, "artist_name": "Band", "venue_name": "Hall",
        "show_name": "Band at Hall", "visibility": "private", "aggregate_version": 1})
    ids = [_photo(env, seed=i, run=False)["id"] for i in range(3)]
    mine = env.client.get("/api/photos", headers=env.auth(10)).json()
    assert mine["total"] == 3 and [p["id"] for p in mine["photos"]] == ids[::-1]
    assert env.client.get("/api/photos?limit=1&offset=1", headers=env.auth(10)).json()["photos"][0]["id"] == ids[1]
    assert env.client.get("/api/photos/show/1", headers=env.auth(10)).json()["total"] == 3
    assert env.client.get("/api/videos", headers=env.auth(10)).json() == {"recordings": [], "total": 0}
    assert env.client.get("/api/audio/show/1", headers=env.auth(10)).json() == {"recordings": [], "total": 0}
    recent = env.client.get("/api/dashboard/photos/recent?limit=2", headers=env.auth(10)).json()
    assert recent["total"] == 3 and len(recent["photos"]) == 2
    assert recent["photos"][0]["show_name"] == "Band at Hall"
    assert env.client.get("/api/dashboard/videos/recent", headers=env.auth(10)).json()["recordings"] == []
    assert env.client.get("/api/dashboard/photos/recent", headers=env.auth(20)).json()["total"] == 0
    record = mine["photos"][0]
    assert set(record) >= {"id", "show_id", "user_id", "kind", "status", "error", "progress", "original_filename",
                           "content_type", "file_size", "width", "height", "duration", "taken_at", "placeholder",
                           "caption", "url", "thumbnail_url", "urls", "comment_count", "created_at"}
    assert record["created_at"].endswith("Z")


def test_internal_endpoints(env) -> None:
    env.shows.add(1, owner=10)
    rec = _photo(env)
    assert env.client.get("/internal/users/10/counts").status_code == 401
    h = {"X-Internal-Token": env.settings.internal_token}
    assert env.client.get("/internal/users/10/counts", headers=h).json() == {"photos": 1, "audio": 0, "videos": 0}
    grouped = env.client.get("/internal/media/show/1", headers=h, params={"viewer_id": 10}).json()
    assert [p["id"] for p in grouped["photos"]] == [rec["id"]] and grouped["audio"] == grouped["videos"] == []
    ref = env.client.get(f"/internal/media/photo/{rec['id']}", headers=h).json()
    assert ref == {"id": rec["id"], "show_id": 1, "user_id": 10, "status": "ready"}
    assert env.client.get("/internal/media/photo/999", headers=h).status_code == 404


@pytest.mark.parametrize("event", ["show.deleted", "user.deleted"])
def test_show_and_user_deleted_events_remove_media(env, event: str) -> None:
    env.shows.add(1, owner=10)
    env.shows.add(2, owner=20)
    _photo(env, show=1, seed=1)
    _photo(env, show=1, seed=2)
    keep = _photo(env, owner=20, show=2, seed=3)
    data = {"show_id": 1, "user_id": 10, "concert_id": 1, "aggregate_version": 2} if event == "show.deleted" \
        else {"user_id": 10, "aggregate_version": 2}
    _deliver(env, event, data)
    assert env.client.get("/api/photos", headers=env.auth(10)).json()["total"] == 0
    assert {k.split("/")[1] for k in env.keys()} == {"20"}
    assert env.outbox_types().count("media.deleted") == 2
    assert env.client.get(keep["url"], headers=env.auth(20)).status_code == 200


def test_comment_events_count_photo_comments(env) -> None:
    env.shows.add(1, owner=10)
    rec = _photo(env)
    for typ in ("comment.created", "comment.created", "comment.deleted", "comment.deleted", "comment.deleted"):
        _deliver(env, typ, {"comment_id": 1, "show_id": 1, "photo_id": rec["id"], "user_id": 10,
                            "unknown_field": True})
    _deliver(env, "comment.created", {"comment_id": 2, "show_id": 1, "photo_id": rec["id"], "user_id": 10})
    meta = env.client.get(rec["url"], headers=env.auth(10), params={"meta": 1}).json()
    assert meta["comment_count"] == 1


def test_photo_display_strips_gps_and_keeps_size(env) -> None:
    env.shows.add(1, owner=10)
    r = env.upload(10, "photos", 1, "g.jpg", jpeg_bytes(640, 480, gps=True), "image/jpeg")
    env.run_queued()
    img = Image.open(io.BytesIO(env.client.get(r.json()["url"], headers=env.auth(10)).content))
    assert img.size == (640, 480) and not img.getexif().get_ifd(0x8825)
    original = Image.open(io.BytesIO(env.client.get(r.json()["url"], headers=env.auth(10),
                                                    params={"rendition": "original"}).content))
    assert original.getexif().get_ifd(0x8825)  # the owner's original is untouched


def test_an_upload_finishing_after_its_shows_deletion_is_refused_and_leaves_nothing(env) -> None:
    env.shows.add(1, owner=10)  # shows still says yes (its answer was cached, or raced the deletion)
    _deliver(env, "show.created", {"show_id": 1, "user_id": 10, "concert_id": 1, "aggregate_version": 1})
    _deliver(env, "show.deleted", {"show_id": 1, "user_id": 10, "concert_id": 1, "aggregate_version": 2})
    r = env.upload(10, "photos", 1, "late.jpg", jpeg_bytes(64, 48), "image/jpeg")
    assert r.status_code == 404 and r.json()["code"] == "show_not_found"
    assert env.keys() == [] and env.outbox_types() == []
    assert env.client.get("/api/photos", headers=env.auth(10)).json()["total"] == 0


def test_internal_show_media_is_serialize_record_of_the_orm_items(env) -> None:
    """The event-loop read path (media.readpath) answers exactly what `serialize.record` makes of the ORM items:
    photos with and without derivatives, a video with renditions, its HLS ladder and confirmed and suggested
    songs, an audio recording with a waveform, newest first within each kind, another show's items left out."""
    from datetime import timedelta

    from media.models import CONFIRMED, SUGGESTED, MediaItem, MediaSong, Rendition
    from media.serialize import record
    from shared.db import utcnow

    env.shows.add(1, owner=10)
    _photo(env, seed=1)
    _photo(env, seed=2, run=False)
    env.shows.add(2, owner=10)
    _photo(env, show=2, seed=3, run=False)
    factory = env.app.state.session_factory
    t0 = utcnow() + timedelta(minutes=5)
    with factory() as s:
        for n, kind in enumerate(("video", "audio", "video")):
            item = MediaItem(kind=kind, show_id=1, user_id=10 + n, status="ready", format="mp4", file_size=1000 + n,
                             sha256=f"{n:064d}", prefix=f"10/{kind}{n}", original_key=f"10/{kind}{n}/original.mp4",
                             original_filename=f"clip{n}.mp4", content_type="video/mp4", duration=61.23456,
                             width=1920, height=1080, title=f"Clip {n}", description="encore", comment_count=n,
                             hls_status="ready" if n == 0 else None, hls_progress={"720p": 100} if n == 0 else None,
                             created_at=t0 + timedelta(seconds=n), filed_by="time" if n == 2 else None)
            s.add(item)
            s.flush()
            for name in (("poster", "720p") if kind == "video" else ("waveform",)):
                s.add(Rendition(media_id=item.id, name=name, key=f"{item.prefix}/{name}", content_type="x/y", size=1))
            if n == 0:
                for song, source, start in ((7, CONFIRMED, 30.0), (5, SUGGESTED, 0.0), (6, SUGGESTED, 20.5)):
                    s.add(MediaSong(media_id=item.id, song_id=song, show_id=1, source=source, score=0.8,
                                    start_s=start, end_s=start + 10))
        s.commit()
    with factory() as s:
        items = s.query(MediaItem).filter(MediaItem.show_id == 1).all()
        expected: dict[str, list[dict]] = {"photos": [], "audio": [], "videos": []}
        for item in sorted(items, key=lambda i: (i.created_at, i.id), reverse=True):
            expected[{"photo": "photos", "audio": "audio", "video": "videos"}[item.kind]].append(record(item))
    h = {"X-Internal-Token": env.settings.internal_token}
    got = env.client.get("/internal/media/show/1", headers=h, params={"viewer_id": 10}).json()
    assert got == expected
    assert [len(got[k]) for k in ("photos", "audio", "videos")] == [2, 1, 2]
    clip = got["videos"][1]
    assert clip["song_ids"] == [7] and [s["song_id"] for s in clip["song_suggestions"]] == [5, 6]
    assert got["videos"][1]["urls"]["hls"] and got["photos"][1]["urls"]["thumbnail_small"]
    assert env.client.get("/internal/media/show/3", headers=h).json() == {"photos": [], "audio": [], "videos": []}
    assert env.client.get("/internal/users/11/counts", headers=h).json() == {"photos": 0, "audio": 1, "videos": 0}
