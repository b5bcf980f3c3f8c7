"""The HLS ladder of a video through the API: made after the MP4, served with the video's access check."""

from __future__ import annotations

from pathlib import Path

import av

from media.models import MediaItem
from media.pipeline import run_hls
from shared.testing.media import make_video


def _get(env, user: int, url: str, **headers: str):
    return env.client.get(url, headers={**env.auth(user), **headers})


def test_ladder_served_like_the_video(env, tmp_path: Path) -> None:
    env.shows.add(1, owner=10, viewers={11})
    clip = make_video(tmp_path / "c.mp4", seconds=6, width=1280, height=720).read_bytes()
    r = env.upload(10, "videos", 1, "c.mp4", clip, "video/mp4")
    assert r.status_code == 201, r.text
    rec = r.json()
    assert rec["urls"]["hls"] is None and rec["hls"] == {"status": None, "progress": {}}
    assert env.run_queued() == ["ready"]  # the ladder is made in the same task, after the MP4
    rec = _get(env, 10, f"/api/videos/{rec['id']}?meta=1").json()
    assert rec["hls"] == {"status": "ready", "progress": {"360p": 100, "720p": 100}}
    master_url = rec["urls"]["hls"]
    assert master_url == f"/api/videos/{rec['id']}/hls/master.m3u8"

    master = _get(env, 11, master_url)  # a viewer of the show
    assert master.status_code == 200
    assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert master.headers["cache-control"] == "private, no-cache" and master.headers["etag"]
    assert _get(env, 11, master_url, **{"If-None-Match": master.headers["etag"]}).status_code == 304
    variants = [line for line in master.text.splitlines() if line and not line.startswith("#")]
    assert {"360p/index.m3u8", "720p/index.m3u8"} <= set(variants)
    base = master_url.rsplit("/", 1)[0]
    playlist = _get(env, 11, f"{base}/720p/index.m3u8")
    assert playlist.status_code == 200 and "#EXT-X-PLAYLIST-TYPE:VOD" in playlist.text
    init_name = next(line.split('"')[1] for line in playlist.text.splitlines() if line.startswith("#EXT-X-MAP"))
    first = next(line for line in playlist.text.splitlines() if line and not line.startswith("#"))
    init = _get(env, 11, f"{base}/720p/{init_name}")
    seg = _get(env, 11, f"{base}/720p/{first}")
    assert init.headers["content-type"] == "video/mp4" and seg.headers["content-type"] == "video/iso.segment"
    assert seg.headers["cache-control"] == "private, max-age=86400, immutable"
    joined = tmp_path / "first.mp4"
    joined.write_bytes(init.content + seg.content)
    with av.open(str(joined)) as c:
        frames = list(c.decode(video=0))
        assert frames and (frames[0].width, frames[0].height) == (1280, 720)

    assert _get(env, 12, master_url).status_code == 404  # not a viewer: as if it did not exist
    assert _get(env, 10, f"{base}/720p/../../original.mp4").status_code == 404
    assert _get(env, 10, f"{base}/1080p/index.m3u8").status_code == 404


def test_ladder_not_ready_yet_is_409_and_mp4_plays(env, tmp_path: Path, monkeypatch) -> None:
    env.shows.add(1, owner=10)
    clip = make_video(tmp_path / "c.mp4", seconds=2, width=640, height=360).read_bytes()
    media_id = env.upload(10, "videos", 1, "c.mp4", clip, "video/mp4").json()["id"]
    factory = env.app.state.session_factory
    with monkeypatch.context() as m:
        m.setattr("media.pipeline.run_hls", lambda *a, **k: "skipped")  # the ladder has not run yet
        assert env.run_queued() == ["ready"]
    rec = _get(env, 10, f"/api/videos/{media_id}?meta=1").json()
    assert rec["urls"]["hls"] is None and rec["urls"]["rendition_720p"]
    r = _get(env, 10, f"/api/videos/{media_id}/hls/master.m3u8")
    assert r.status_code == 409 and r.json()["code"] == "not_ready"
    assert _get(env, 10, rec["urls"]["rendition_720p"]).status_code == 200
    assert run_hls(factory, env.storage, env.settings, media_id) == "ready"
    assert run_hls(factory, env.storage, env.settings, media_id) == "skipped"  # done once
    assert _get(env, 10, f"/api/videos/{media_id}/hls/master.m3u8").status_code == 200
    with factory() as s:
        assert s.get(MediaItem, media_id).hls_status == "ready"
    env.client.delete(f"/api/videos/{media_id}", headers=env.auth(10))
    assert env.keys() == []


def test_h264_source_is_ready_from_its_remux_and_gets_its_encodes_with_the_ladder(env, tmp_path: Path,
                                                                                   monkeypatch) -> None:
    env.shows.add(1, owner=10)
    clip = make_video(tmp_path / "c.mp4", seconds=2, width=1920, height=1080).read_bytes()  # H.264/AAC, ~15 Mbit/s
    media_id = env.upload(10, "videos", 1, "c.mp4", clip, "video/mp4").json()["id"]
    factory = env.app.state.session_factory
    with monkeypatch.context() as m:
        m.setattr("media.pipeline.run_hls", lambda *a, **k: "skipped")  # only what `ready` waits for
        assert env.run_queued() == ["ready"]
    rec = _get(env, 10, f"/api/videos/{media_id}?meta=1").json()
    assert rec["status"] == "ready" and rec["urls"]["rendition_1080p"] and rec["urls"]["rendition_720p"] is None
    # a remux: the source's coded video packets byte for byte (a re-encode would give other bytes)
    assert _video_packets(tmp_path / "c.mp4") == _video_packets(
        Path(_save(tmp_path / "r.mp4", _get(env, 10, rec["urls"]["rendition_1080p"]).content)))
    assert run_hls(factory, env.storage, env.settings, media_id) == "ready"
    rec = _get(env, 10, f"/api/videos/{media_id}?meta=1").json()
    with av.open(_save(tmp_path / "720.mp4", _get(env, 10, rec["urls"]["rendition_720p"]).content)) as c:
        assert (c.streams.video[0].codec_context.width, c.streams.video[0].codec_context.height) == (1280, 720)


def _save(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def _video_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(video=0) if p.size]
