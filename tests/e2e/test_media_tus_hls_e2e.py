"""Resumable (tus) uploads and HLS end to end through the gateway: real media service, PostgreSQL, moto S3, worker."""

from __future__ import annotations

import base64
import hashlib
import io
import socket
import time
from pathlib import Path

import av
import pytest
from PIL import Image

from shared.testing.client import create_show, media_status, upload, wait_terminal
from shared.testing.media import make_video
from shared.testing.plugin import TestUser

pytestmark = pytest.mark.e2e

TUS = {"Tus-Resumable": "1.0.0"}


def _meta(**fields: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in fields.items())


def _offset(user: TestUser, url: str) -> int:
    r = user.client.head(url, headers=TUS)
    assert r.status_code == 200, r.text
    return int(r.headers["Upload-Offset"])


def _kill_mid_patch(user: TestUser, url: str, offset: int, data: bytes, send: int) -> None:
    """A PATCH announcing all of `data` whose connection dies after `send` bytes (a dropped phone network)."""
    base = str(user.client.base_url).rstrip("/")
    host, port = base.removeprefix("http://").split(":")
    head = (f"PATCH {url} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: {user.client.headers['Authorization']}\r\n"
            f"Tus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\n"
            f"Content-Length: {len(data)}\r\n\r\n")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode())
        sock.sendall(data[:send])
        time.sleep(0.5)
    # the socket closes here, the rest never arrives


def test_video_in_chunks_interrupted_and_resumed(make_user, s3_server, tmp_path: Path) -> None:
    user = make_user()
    show = create_show(user)
    data = make_video(tmp_path / "encore.mp4", seconds=8, width=1920, height=1080).read_bytes()
    r = user.client.post("/api/uploads", headers={**TUS, "Upload-Length": str(len(data)), "Upload-Metadata": _meta(
        kind="video", filename="encore.mp4", show_id=str(show["id"]), title="Encore")})
    assert r.status_code == 201, r.text
    url = r.headers["Location"]
    assert not s3_server.keys(f"video/{user.id}/")  # nothing stored at creation

    chunk = 1024 * 1024
    first = len(data) // 3
    for start in range(0, first, chunk):  # small chunks: the service cuts whole S3 parts from its spool
        end = min(start + chunk, first)
        p = user.client.patch(url, content=data[start:end], headers={
            **TUS, "Upload-Offset": str(start), "Content-Type": "application/offset+octet-stream"})
        assert p.status_code == 204, p.text
        assert p.headers["Upload-Offset"] == str(end) and p.headers["Tus-Resumable"] == "1.0.0"
    assert _offset(user, url) == first

    _kill_mid_patch(user, url, first, data[first:], send=(len(data) - first) // 2)
    deadline = time.monotonic() + 30
    while True:  # the service notices the dropped connection, keeps what arrived and releases the upload
        offset = _offset(user, url)
        p = user.client.patch(url, content=data[offset:], headers={
            **TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}, timeout=120)
        if p.status_code in (409, 423) and time.monotonic() < deadline:
            time.sleep(0.3)
            continue
        break
    assert p.status_code == 204, p.text
    assert offset > first  # the resume started after bytes the dropped request had delivered
    media_id = int(p.headers["X-Media-Id"])

    final = wait_terminal(user, "videos", [media_id], 180)
    assert final[media_id] == "ready", media_status(user, "videos", media_id)
    rec = media_status(user, "videos", media_id)
    assert rec["title"] == "Encore" and rec["file_size"] == len(data)
    original = user.client.get(rec["url"], params={"rendition": "original"}, timeout=60)
    assert hashlib.sha256(original.content).hexdigest() == hashlib.sha256(data).hexdigest()
    out = tmp_path / "1080p.mp4"  # playable from its remux as soon as it is ready
    out.write_bytes(user.client.get(rec["urls"]["rendition_1080p"], timeout=60).content)
    with av.open(str(out)) as c:
        assert c.streams.video[0].height == 1080
    assert _offset(user, url) == len(data)
    _check_hls(user, media_id, tmp_path)
    rec = media_status(user, "videos", media_id)  # the 720p encode came with the ladder
    out = tmp_path / "720p.mp4"
    out.write_bytes(user.client.get(rec["urls"]["rendition_720p"], timeout=60).content)
    with av.open(str(out)) as c:
        assert c.streams.video[0].height == 720


def _check_hls(user: TestUser, media_id: int, tmp_path: Path) -> None:
    """The ladder follows the MP4: master, variant playlists and first segments fetched and decoded."""
    deadline = time.monotonic() + 300
    while (rec := media_status(user, "videos", media_id))["hls"]["status"] not in ("ready", "failed"):
        assert time.monotonic() < deadline, rec
        time.sleep(1)
    assert rec["hls"] == {"status": "ready", "progress": {"360p": 100, "720p": 100, "1080p": 100}}
    master_url = rec["urls"]["hls"]
    master = user.client.get(master_url)
    assert master.status_code == 200 and master.headers["content-type"] == "application/vnd.apple.mpegurl"
    base = master_url.rsplit("/", 1)[0]
    variants = [line for line in master.text.splitlines() if line and not line.startswith("#")]
    assert {"360p/index.m3u8", "720p/index.m3u8", "1080p/index.m3u8"} <= set(variants)
    assert master.text.count("TYPE=AUDIO") == 1
    heights = {"360p": 360, "720p": 720, "1080p": 1080}
    for name, height in heights.items():
        playlist = user.client.get(f"{base}/{name}/index.m3u8").text
        lines = playlist.splitlines()
        init = next(line.split('"')[1] for line in lines if line.startswith("#EXT-X-MAP"))
        first = next(line for line in lines if line and not line.startswith("#"))
        seg = user.client.get(f"{base}/{name}/{first}")
        assert seg.status_code == 200 and seg.headers["content-type"] == "video/iso.segment"
        path = tmp_path / f"{name}.mp4"
        path.write_bytes(user.client.get(f"{base}/{name}/{init}").content + seg.content)
        with av.open(str(path)) as c:
            frame = next(c.decode(video=0))
            assert frame.height == height
    stranger = user.client.get(master_url, headers={"Authorization": "Bearer nope"})
    assert stranger.status_code == 401


def test_unauthorized_show_refused_at_creation_with_nothing_stored(make_user, s3_server) -> None:
    owner, other = make_user(), make_user()
    show = create_show(owner, visibility="public")
    r = other.client.post("/api/uploads", headers={**TUS, "Upload-Length": "1000000", "Upload-Metadata": _meta(
        kind="photo", filename="x.jpg", show_id=str(show["id"]))})
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "forbidden" and r.headers["Tus-Resumable"] == "1.0.0"
    r = other.client.post("/api/uploads", headers={**TUS, "Upload-Length": "1000000", "Upload-Metadata": _meta(
        kind="photo", filename="x.jpg", show_id="999999")})
    assert r.status_code == 404
    assert not s3_server.keys(f"photo/{other.id}/")
    assert other.client.get("/api/me/usage").json()["bytes_used"] == 0
    o = other.client.options("/api/uploads")
    assert o.status_code == 204 and "creation" in o.headers["Tus-Extension"]


def _jpeg(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (96, 64), color).save(buf, "JPEG")
    return buf.getvalue()


def _song(user: TestUser, show_id: int, title: str, duration: str | None = None) -> int:
    r = user.client.post(f"/api/shows/{show_id}/setlist", json={"title": title, "duration": duration})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_concert_album_and_clips_across_attendees(make_user, tmp_path: Path) -> None:
    """Two people at one concert: one album with each show's visibility, a file once, a clip found by song."""
    ann, ben = make_user(), make_user()
    concert = {"artist_name": "Album Band", "venue_name": "Album Hall", "venue_location": "Leipzig, Germany",
               "date": "2024-06-01", "time": "20:00"}
    a_show = create_show(ann, **concert, visibility="public")
    b_show = create_show(ben, **concert, visibility="private")
    assert a_show["concert_id"] == b_show["concert_id"]
    a_intro, a_505 = _song(ann, a_show["id"], "Intro", "3:00"), _song(ann, a_show["id"], "505", "4:00")
    b_intro, b_505 = _song(ben, b_show["id"], "Intro"), _song(ben, b_show["id"], "505")
    # 20:04 is 4:00 into the concert: 505 on Ann's timing (Intro 0:00-3:00, changeover, 505 from 3:20)
    clip = make_video(tmp_path / "505.mp4", seconds=2, width=320, height=240,
                      metadata={"creation_time": "2024-06-01T20:04:00Z"}).read_bytes()
    shared_photo = _jpeg((10, 120, 200))
    ids = {
        "video": upload(ann, "videos", a_show["id"], "505.mp4", clip, "video/mp4").json()["id"],
        "a_photo": upload(ann, "photos", a_show["id"], "crowd.jpg", shared_photo, "image/jpeg").json()["id"],
        "b_photo": upload(ben, "photos", b_show["id"], "stage.jpg", _jpeg((200, 20, 20)), "image/jpeg").json()["id"],
        "b_dup": upload(ben, "photos", b_show["id"], "crowd.jpg", shared_photo, "image/jpeg").json()["id"],
    }
    assert wait_terminal(ann, "videos", [ids["video"]], 120) == {ids["video"]: "ready"}
    assert set(wait_terminal(ann, "photos", [ids["a_photo"]], 60).values()) == {"ready"}
    assert set(wait_terminal(ben, "photos", [ids["b_photo"], ids["b_dup"]], 60).values()) == {"ready"}

    url = f"/api/concerts/{a_show['concert_id']}/album"
    album_ann = ann.client.get(url).json()  # Ben's show is private: none of his items
    assert [i["id"] for i in album_ann["items"]] == [ids["video"], ids["a_photo"]] and album_ann["total"] == 2
    video = album_ann["items"][0]
    assert video["user"] == {"id": ann.id, "username": ann.username} and video["visibility"] == "public"
    assert video["taken_at"] == "2024-06-01T20:04:00+00:00"
    assert [s["song_id"] for s in video["song_suggestions"]] == [a_505]
    album_ben = ben.client.get(url).json()  # both shows; the photo both uploaded once
    assert album_ben["total"] == 3 and ids["b_dup"] not in [i["id"] for i in album_ben["items"]]
    assert {i["id"]: i["user"]["username"] for i in album_ben["items"]} == {
        ids["video"]: ann.username, ids["a_photo"]: ann.username, ids["b_photo"]: ben.username}

    # Ann's suggested clip shows on Ben's setlist by the same song
    assert ben.client.get(f"/api/shows/{b_show['id']}/setlist/clips").json() == {
        "songs": [{"song_id": b_505, "clips": 1}]}
    assert ann.client.get(f"/api/shows/{b_show['id']}/setlist/clips").status_code == 404
    r = ann.client.put(f"/api/videos/{ids['video']}", json={"song_ids": [b_intro]})
    assert r.status_code == 422, r.text
    r = ann.client.put(f"/api/videos/{ids['video']}", json={"song_ids": [a_intro]})  # she corrects it
    assert r.status_code == 200 and r.json()["song_ids"] == [a_intro], r.text
    clips = ben.client.get(f"/api/shows/{b_show['id']}/setlist/{b_intro}/clips").json()
    assert [i["id"] for i in clips["items"]] == [ids["video"]]
    assert clips["items"][0]["clip"]["source"] == "confirmed" and clips["items"][0]["user"]["id"] == ann.id
    assert ben.client.get(f"/api/shows/{b_show['id']}/setlist/{b_505}/clips").json()["total"] == 0
