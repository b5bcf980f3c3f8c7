"""Library uploads (no show), filing after processing, the unfiled list and filing by hand; GPS stays private."""

from __future__ import annotations

import base64
import io
from datetime import date
from typing import Any

from PIL import Image

from media.filing import file_pending
from media.filing_rules import Candidate, Rules
from media.models import MediaItem
from shared.testing.media import jpeg_bytes, make_video

MSG = (40.7505, -73.9934)


class Source:
    """Shows' filing candidates, recorded: one call per batch."""

    def __init__(self, *candidates: Candidate) -> None:
        self.candidates = list(candidates)
        self.calls: list[tuple[int, date, date]] = []

    def __call__(self, user_id: int, start: date, end: date) -> list[Candidate]:
        self.calls.append((user_id, start, end))
        return [c for c in self.candidates if start <= c.date <= end]


def _library(env, user: int, taken: str, seed: int, **kw) -> dict:
    r = env.client.post("/api/photos", headers=env.auth(user),
                        files={"file": ("p.jpg", jpeg_bytes(320, 240, taken=taken, seed=seed, **kw), "image/jpeg")})
    assert r.status_code == 201, r.text
    return r.json()


def _file(env, source: Source, user: int = 10):
    return file_pending(env.app.state.session_factory, source, Rules(), user_id=user)


def _unfiled(env, user: int = 10) -> dict:
    r = env.client.get("/api/media/unfiled", headers=env.auth(user))
    assert r.status_code == 200, r.text
    return r.json()


def test_library_items_are_filed_offered_or_left(env) -> None:
    sure = _library(env, 10, "2024:12:02 00:40:00", 1, gps=True)  # after midnight, at the venue
    torn = _library(env, 10, "2024:12:05 21:00:00", 2)  # two shows that day
    lost = _library(env, 10, "2023:01:01 12:00:00", 3)  # no show then
    assert sure["show_id"] is None and sure["filed_by"] is None and sure["status"] == "processing"
    assert "latitude" not in sure and "longitude" not in sure
    assert "media.uploaded" not in env.outbox_types()  # nobody else knows of library items
    page = _unfiled(env)
    assert page["total"] == 3 and {i["filing"] for i in page["items"]} == {"pending"}
    assert _file(env, Source()).examined == 0  # nothing processed yet: nothing to match

    assert env.run_queued() == ["ready"] * 3
    assert env.outbox_types().count("task:media.file_library") == 3
    source = Source(Candidate(1, date(2024, 12, 1), latitude=MSG[0], longitude=MSG[1]),
                    Candidate(2, date(2024, 12, 5)), Candidate(3, date(2024, 12, 5)))
    for show_id in (1, 2, 3):
        env.shows.add(show_id, owner=10)
    report = _file(env, source)
    assert (report.examined, report.filed, report.unfiled) == (3, 1, 2)
    assert len(source.calls) == 1 and source.calls[0][1:] == (date(2023, 1, 1), date(2024, 12, 5))
    assert _file(env, source).examined == 0 and len(source.calls) == 1  # done: no second call

    got = env.client.get(f"/api/photos/{sure['id']}", params={"meta": 1}, headers=env.auth(10)).json()
    assert (got["show_id"], got["filed_by"]) == (1, "gps")
    assert env.outbox_types()[-2:] == ["media.uploaded", "media.ready"]  # announced as a fresh upload of show 1

    page = _unfiled(env)
    assert page["total"] == 2
    by_id = {i["id"]: i for i in page["items"]}
    assert by_id[torn["id"]]["filing"] == "unfiled"
    assert by_id[torn["id"]]["suggestions"] == [{"show_id": 2, "score": 0.5, "reason": "time"},
                                                {"show_id": 3, "score": 0.5, "reason": "time"}]
    assert by_id[lost["id"]]["suggestions"] == []
    assert _unfiled(env, 20)["total"] == 0  # own items only


def test_filing_by_hand(env) -> None:
    env.shows.add(1, owner=10)
    env.shows.add(2, owner=10)
    env.shows.add(5, owner=20, visibility="public")
    item = _library(env, 10, "2024:12:05 21:00:00", 4)
    url = f"/api/media/{item['id']}/file"
    assert env.client.post(url, json={"show_id": 1}, headers=env.auth(20)).status_code == 404  # not theirs
    r = env.client.post(url, json={"show_id": 5}, headers=env.auth(10))
    assert r.status_code == 403 and r.json()["code"] == "forbidden"  # visible, someone else's
    assert env.client.post(url, json={"show_id": 99}, headers=env.auth(10)).status_code == 404
    r = env.client.post(url, json={"show_id": 1}, headers=env.auth(10))
    assert r.status_code == 200, r.text
    assert (r.json()["show_id"], r.json()["filed_by"]) == (1, "user")
    assert env.outbox_types()[-1] == "media.uploaded"  # still processing: media.ready follows from the worker
    assert env.client.post(url, json={"show_id": 1}, headers=env.auth(10)).status_code == 200  # a retry
    r = env.client.post(url, json={"show_id": 2}, headers=env.auth(10))
    assert r.status_code == 409 and r.json()["code"] == "already_filed"
    env.run_queued()
    assert env.outbox_types()[-1] == "media.ready"
    # the same file uploaded again to the library is the same item; into the show it is filed into: a duplicate
    again = env.client.post("/api/photos", headers=env.auth(10), files={
        "file": ("p.jpg", jpeg_bytes(320, 240, taken="2024:12:05 21:00:00", seed=4), "image/jpeg")})
    assert again.status_code == 200 and again.json()["id"] == item["id"]
    other = _library(env, 10, "2024:12:05 21:00:00", 5)
    up = env.upload(10, "photos", 2, "x.jpg", jpeg_bytes(320, 240, taken="2024:12:05 21:00:00", seed=5), "image/jpeg")
    assert up.status_code == 201
    r = env.client.post(f"/api/media/{other['id']}/file", json={"show_id": 2}, headers=env.auth(10))
    assert r.status_code == 409 and r.json()["code"] == "duplicate_in_show"


def test_gps_is_kept_privately_and_never_served(env) -> None:
    env.shows.add(1, owner=10, visibility="public")
    item = _library(env, 10, "2024:12:01 21:00:00", 6, gps=True, offset="-05:00")
    env.run_queued()
    with env.app.state.session_factory() as s:
        row = s.get(MediaItem, item["id"])
        assert (round(row.latitude, 3), round(row.longitude, 3)) == (40.751, -73.993)
        assert row.captured_at.isoformat() == "2024-12-02T02:00:00+00:00"
    meta = env.client.get(f"/api/photos/{item['id']}", params={"meta": 1}, headers=env.auth(10)).json()
    assert meta["taken_at"] == "2024-12-01T21:00:00-05:00"
    assert not {"latitude", "longitude", "captured_at", "captured_local", "suggestions"} & set(meta)
    assert env.client.get(f"/api/photos/{item['id']}", headers=env.auth(20)).status_code == 404  # library: own only
    r = env.client.post(f"/api/media/{item['id']}/file", json={"show_id": 1}, headers=env.auth(10))
    assert r.status_code == 200
    served = env.client.get(f"/api/photos/{item['id']}", headers=env.auth(20))
    assert served.status_code == 200
    with Image.open(io.BytesIO(served.content)) as im:
        assert not im.getexif().get_ifd(0x8825)
    assert b"GPS" not in served.content


def test_tus_without_a_show_goes_to_the_library(env) -> None:
    data = jpeg_bytes(200, 150, seed=7)
    meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in {"kind": "photo",
                                                                             "filename": "t.jpg"}.items())
    tus = {"Tus-Resumable": "1.0.0"}
    r = env.client.post("/api/uploads", headers={**env.auth(10), **tus, "Upload-Length": str(len(data)),
                                                 "Upload-Metadata": meta})
    assert r.status_code == 201, r.text
    r = env.client.patch(r.headers["Location"], content=data, headers={
        **env.auth(10), **tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
    assert r.status_code == 204, r.text
    (item,) = _unfiled(env)["items"]
    assert item["id"] == int(r.headers["X-Media-Id"]) and item["show_id"] is None


def test_a_show_logged_later_files_what_was_left(env) -> None:
    from media.consumers import make_subscriptions
    from shared.events import EventEnvelope, ShowCreatedV1

    item = _library(env, 10, "2024:12:09 21:00:00", 8)
    env.run_queued()
    assert _file(env, Source()).unfiled == 1  # no show that day yet
    event = ShowCreatedV1(show_id=4, user_id=10, concert_id=4, date=date(2024, 12, 9), aggregate_version=1)
    envelope = EventEnvelope(type=event.type, producer="shows", data=event.model_dump(mode="json"))
    handler, parsed = make_subscriptions(lambda: env.storage).handler_for(envelope)
    with env.app.state.session_factory.begin() as s:
        handler(s, parsed, envelope)
    assert env.outbox_types()[-1] == "task:media.file_library"
    assert _unfiled(env)["items"][0]["filing"] == "pending"
    env.shows.add(4, owner=10)
    assert _file(env, Source(Candidate(4, date(2024, 12, 9)))).filed == 1
    got = env.client.get(f"/api/photos/{item['id']}", params={"meta": 1}, headers=env.auth(10)).json()
    assert (got["show_id"], got["filed_by"]) == (4, "time")


def test_library_video_is_filed_by_its_quicktime_time_and_place(env, tmp_path) -> None:
    env.shows.add(1, owner=10)
    src = make_video(tmp_path / "clip.mp4", seconds=1, width=320, height=240, fps=10,
                     metadata={"creation_time": "2024-12-02T02:30:00Z", "location": "+40.7505-073.9934/"})
    r = env.client.post("/api/videos", headers=env.auth(10),
                        files={"file": ("clip.mp4", src.read_bytes(), "video/mp4")})
    assert r.status_code == 201, r.text
    assert env.run_queued() == ["ready"]
    with env.app.state.session_factory() as s:
        row = s.get(MediaItem, r.json()["id"])
        assert (row.latitude, row.longitude, row.captured_local) == (40.7505, -73.9934, None)
    report = _file(env, Source(Candidate(1, date(2024, 12, 1), latitude=MSG[0], longitude=MSG[1])))
    assert report.filed == 1
    got = env.client.get(f"/api/videos/{r.json()['id']}", params={"meta": 1}, headers=env.auth(10)).json()
    assert (got["show_id"], got["filed_by"], got["taken_at"]) == (1, "gps", "2024-12-02T02:30:00+00:00")
    assert "latitude" not in got
    served = env.client.get(f"/api/videos/{r.json()['id']}", headers=env.auth(10))
    assert served.status_code == 200 and b"+40.7505" not in served.content  # the rendition carries no location


def test_filing_waits_for_the_rest_of_the_folder(env) -> None:
    from datetime import timedelta

    from media.models import PROCESSING
    from shared.db import utcnow

    env.shows.add(1, owner=10)
    first = _library(env, 10, "2024:12:01 21:00:00", 9)
    _library(env, 10, "2024:12:01 21:05:00", 10)
    env.enqueue.sent[1:] = []  # the second photo is still queued
    env.run_queued()
    source = Source(Candidate(1, date(2024, 12, 1)))
    factory = env.app.state.session_factory
    assert file_pending(factory, source, Rules(), user_id=10, settle_s=30).examined == 0 and source.calls == []
    with factory.begin() as s:  # the first has waited long enough: it is filed without the other
        s.get(MediaItem, first["id"]).finished_at = utcnow() - timedelta(seconds=31)
    report = file_pending(factory, source, Rules(), user_id=10, settle_s=30)
    assert (report.examined, report.filed) == (1, 1)
    with factory() as s:
        assert s.query(MediaItem).filter(MediaItem.status == PROCESSING).count() == 1


def test_library_uploads_keep_the_quota_and_rate(make_env) -> None:
    env = make_env(user_quota_bytes=20_000, upload_rate_limit=2)
    big = jpeg_bytes(640, 480, seed=11)
    assert len(big) > 20_000

    def post(data: bytes) -> Any:
        return env.client.post("/api/photos", headers=env.auth(10), files={"file": ("p.jpg", data, "image/jpeg")})

    r = post(big)
    assert r.status_code == 413 and r.json()["code"] == "quota_exceeded"
    r = post(jpeg_bytes(64, 48))
    assert r.status_code == 201, r.text
    r = post(jpeg_bytes(64, 48, seed=1))
    assert r.status_code == 429 and r.json()["code"] == "upload_rate_limited"
    assert env.keys() and len({k.rsplit("/", 1)[0] for k in env.keys()}) == 1  # only the one admitted upload
