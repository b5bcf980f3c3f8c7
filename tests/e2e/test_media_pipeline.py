"""Media end to end through the gateway: real worker, RabbitMQ, PostgreSQL and the S3 API server (moto)."""

from __future__ import annotations

import io
import signal
import time
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image

from shared.testing.client import create_show, media_status, upload, wait_terminal
from shared.testing.media import jpeg_bytes, make_audio, make_video, png_bytes
from shared.testing.plugin import TestUser, wait_for
from shared.testing.rss import RssSampler

pytestmark = pytest.mark.e2e

GPS_IFD = 0x8825


def _ready(user: TestUser, kind: str, media_id: int, timeout_s: float = 180) -> dict[str, Any]:
    final = wait_terminal(user, kind, [media_id], timeout_s)
    rec = media_status(user, kind, media_id)
    assert final[media_id] == "ready", rec
    return rec


def _image(user: TestUser, url: str) -> Image.Image:
    r = user.client.get(url)
    assert r.status_code == 200, r.text
    return Image.open(io.BytesIO(r.content))


def _probe(user: TestUser, url: str, tmp_path: Path, name: str) -> av.container.InputContainer:
    r = user.client.get(url)
    assert r.status_code == 200, r.text
    path = tmp_path / name
    path.write_bytes(r.content)
    return av.open(str(path))


def _prefix_of(s3_server: Any, user_id: int, kind: str) -> set[str]:
    return {k.rsplit("/", 1)[0] for k in s3_server.keys(f"{kind}/{user_id}/")}


def test_photos_each_format_ready_with_real_derivatives(make_user, s3_server, tmp_path: Path) -> None:
    user = make_user()
    show = create_show(user)
    big = jpeg_bytes(4000, 3000, orientation=6, gps=True)  # 12 MP, rotated, with GPS
    r = upload(user, "photos", show["id"], "IMG_0001.JPG", big, "image/jpeg")
    assert r.status_code == 201, r.text
    rec = _ready(user, "photos", r.json()["id"])
    assert (rec["width"], rec["height"]) == (3000, 4000) and rec["placeholder"]
    for label, edge in (("small", 320), ("medium", 1024), ("large", 2048)):
        img = _image(user, rec["urls"][f"thumbnail_{label}"])
        assert img.format == "WEBP" and max(img.size) == edge and img.size[1] > img.size[0]
        assert not img.getexif().get_ifd(GPS_IFD)
    display = _image(user, rec["url"])
    assert display.size == (3000, 4000) and not display.getexif().get_ifd(GPS_IFD)
    original = user.client.get(rec["url"], params={"rendition": "original"})
    assert original.content == big

    png = upload(user, "photos", show["id"], "x.png", png_bytes(640, 480), "image/png")
    assert _ready(user, "photos", png.json()["id"])["width"] == 640
    try:
        import pillow_heif

        heif = pillow_heif.from_pillow(Image.new("RGB", (320, 240), (200, 30, 30)))
        buf = io.BytesIO()
        heif.save(buf, quality=80)
        heic = upload(user, "photos", show["id"], "x.heic", buf.getvalue(), "image/heic")
        assert heic.status_code == 201, heic.text
        assert _ready(user, "photos", heic.json()["id"])["height"] == 240
    except (ImportError, RuntimeError, OSError) as exc:  # no HEVC encoder in this pillow-heif build
        print(f"HEIC skipped: {exc}")


def test_video_and_audio_ready_with_decoded_renditions(make_user, tmp_path: Path) -> None:
    user = make_user()
    show = create_show(user)
    clip = make_video(tmp_path / "c.mp4", seconds=10, width=1920, height=1080).read_bytes()
    v = upload(user, "videos", show["id"], "c.mp4", clip, "video/mp4")
    wav = make_audio(tmp_path / "a.wav", seconds=5).read_bytes()
    a = upload(user, "audio", show["id"], "a.wav", wav, "audio/wav")
    assert v.status_code == a.status_code == 201, (v.text, a.text)
    rec = _ready(user, "videos", v.json()["id"], 300)
    assert (rec["width"], rec["height"]) == (1920, 1080) and rec["duration"] == pytest.approx(10, abs=0.3)
    # an H.264/AAC source is ready from its remux; the 720p encode comes with the HLS ladder
    assert rec["urls"]["rendition_1080p"] and rec["urls"]["rendition_720p"] is None, rec["urls"]
    rec = wait_for(lambda: (r := media_status(user, "videos", v.json()["id"]))["hls"]["status"] == "ready" and r,
                   timeout_s=300, interval_s=0.5, what="the ladder and the later encodes")
    for rung, size in (("720p", (1280, 720)), ("1080p", (1920, 1080))):
        with _probe(user, rec["urls"][f"rendition_{rung}"], tmp_path, f"{rung}.mp4") as c:
            vs = c.streams.video[0]
            assert vs.codec_context.name == "h264" and (vs.codec_context.width, vs.codec_context.height) == size
            assert c.streams.audio[0].codec_context.name == "aac"
            assert c.duration / 1e6 == pytest.approx(10, abs=0.3)
    assert _image(user, rec["thumbnail_url"]).format == "JPEG"
    arec = _ready(user, "audio", a.json()["id"])
    assert arec["duration"] == pytest.approx(5, abs=0.1)
    with _probe(user, arec["url"], tmp_path, "a.m4a") as c:
        assert c.streams.audio[0].codec_context.name == "aac" and c.duration / 1e6 == pytest.approx(5, abs=0.2)
    peaks = user.client.get(arec["urls"]["waveform"]).json()["peaks"]
    assert 0 < len(peaks) <= 1000


def test_range_and_delete_removes_every_object(make_user, s3_server) -> None:
    user = make_user()
    show = create_show(user)
    r = upload(user, "photos", show["id"], "p.jpg", jpeg_bytes(1200, 900), "image/jpeg")
    rec = _ready(user, "photos", r.json()["id"])
    body = user.client.get(rec["url"]).content
    part = user.client.get(rec["url"], headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == body[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(body)}"
    [prefix] = _prefix_of(s3_server, user.id, "photo")
    assert len(s3_server.keys(prefix + "/")) == 5
    assert user.client.delete(rec["url"]).status_code == 204
    assert s3_server.keys(prefix + "/") == []
    assert user.client.get(rec["url"], params={"meta": 1}).status_code == 404


def test_second_user_cannot_read_private_or_delete(make_user) -> None:
    alice, bob = make_user(), make_user()
    show = create_show(alice, visibility="private")
    r = upload(alice, "photos", show["id"], "p.jpg", jpeg_bytes(400, 300), "image/jpeg")
    rec = _ready(alice, "photos", r.json()["id"])
    for url in (rec["url"], rec["url"] + "/thumbnail", f"/api/photos/show/{show['id']}"):
        assert bob.client.get(url).status_code == 404, url
    assert bob.client.delete(rec["url"]).status_code == 404
    assert bob.client.put(rec["url"], json={"caption": "mine"}).status_code == 404
    assert upload(bob, "photos", show["id"], "b.jpg", jpeg_bytes(64, 64), "image/jpeg").status_code == 404
    public = create_show(alice, visibility="public", date="2024-11-02")
    p = upload(alice, "photos", public["id"], "q.jpg", jpeg_bytes(400, 300, seed=2), "image/jpeg")
    assert bob.client.get(p.json()["url"], params={"meta": 1}).status_code == 200
    assert bob.client.delete(p.json()["url"]).status_code == 403
    assert upload(bob, "photos", public["id"], "b.jpg", jpeg_bytes(64, 64), "image/jpeg").status_code == 403


def _bomb_png() -> bytes:
    import struct
    import zlib

    width = height = 20000  # 400 MP of zeros compresses to a few hundred KB
    raw = zlib.compressobj(9)
    row = b"\x00" + b"\x00" * width
    data = b"".join(raw.compress(row) for _ in range(height)) + raw.flush()

    def chunk(tag: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", zlib.crc32(tag + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def test_bad_inputs_rejected_or_failed_and_nothing_left(make_user, s3_server, tmp_path: Path) -> None:
    user = make_user()
    show = create_show(user)
    sid = show["id"]
    assert upload(user, "photos", sid, "e.jpg", b"", "image/jpeg").status_code == 422
    assert upload(user, "photos", sid, "t.jpg", b"hello, not an image\n" * 50, "image/jpeg").status_code == 415
    assert upload(user, "videos", sid, "p.mp4", png_bytes(64, 64), "video/mp4").status_code == 415
    assert _prefix_of(s3_server, user.id, "photo") == set() and _prefix_of(s3_server, user.id, "video") == set()
    too_big = b"\xff\xd8\xff\xe0" + b"\x00" * (52 * 1000 * 1000)
    try:
        r = user.client.post("/api/photos", data={"show_id": str(sid)}, files={"file": ("big.jpg", too_big)},
                             timeout=120)
        assert r.status_code == 413, r.text
    except Exception as exc:  # the server may close the connection while the client still sends
        print(f"over-limit upload cut by the server: {type(exc).__name__}")
    assert _prefix_of(s3_server, user.id, "photo") == set()
    bad = {
        "photos": [("trunc.jpg", jpeg_bytes(1600, 1200)[:5000]), ("bomb.png", _bomb_png())],
        "videos": [("trunc.mp4",
                    make_video(tmp_path / "v.mp4", seconds=3, width=640, height=360).read_bytes()[:20000])],
    }
    ids: dict[str, list[int]] = {}
    for kind, files in bad.items():
        for name, data in files:
            r = upload(user, kind, sid, name, data, "application/octet-stream")
            assert r.status_code == 201, r.text
            ids.setdefault(kind, []).append(r.json()["id"])
    for kind, kind_ids in ids.items():
        final = wait_terminal(user, kind, kind_ids, 120)
        for mid in kind_ids:
            rec = media_status(user, kind, mid)
            assert final[mid] == "failed" and rec["error"], rec


def test_worker_sigkill_mid_transcode_still_ends_ready(make_user, stack, tmp_path: Path) -> None:
    user = make_user()
    show = create_show(user)
    clip = make_video(tmp_path / "long.mp4", seconds=10, width=1920, height=1080, vcodec="mpeg4").read_bytes()
    r = upload(user, "videos", show["id"], "long.mp4", clip, "video/mp4")
    assert r.status_code == 201, r.text
    vid = r.json()["id"]
    wait_for(lambda: media_status(user, "videos", vid)["progress"] > 5, 180, what="transcode progress")
    stack.kill("media-worker", signal.SIGKILL)
    time.sleep(1)
    assert media_status(user, "videos", vid)["status"] == "processing"
    stack.restart("media-worker")
    rec = _ready(user, "videos", vid, 300)
    assert rec["urls"]["rendition_720p"] and rec["duration"] == pytest.approx(10, abs=0.5)


# The corpus is generated here; every entry names what the platform must answer: a 4xx at upload, or an
# item that ends `failed` with a reason. Two valid images carrying hostile extras end `ready`, cleaned.
# the media worker with its prefork children and their ffmpeg, summed: 512 MB per pool process (one per usable
# core by default); children recycle at 1.5 GB
WORKER_RSS_CAP_MB_PER_PROCESS = 512


def _png_header_only(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(tag: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", zlib.crc32(tag + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(
        b"IEND", b""
    )


def _bad_exif_jpeg() -> bytes:
    raw = jpeg_bytes(800, 600)
    # APP1 Exif whose IFD offset and entry count point far outside the segment
    tiff = b"MM\x00\x2a\x7f\xff\xff\xf0" + b"\xff\xff" + b"\x01\x12\x00\x03\xff\xff\xff\xff\x00\x06\x00\x00" * 4
    payload = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    return raw[:2] + app1 + raw[2:]


def _wav_absurd_rate() -> bytes:
    import struct

    data = b"\x00\x01" * 4000
    fmt = struct.pack("<HHIIHH", 1, 1, 0x7FFFFFFF, 0x7FFFFFFF, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _mp4_broken_moov(tmp_path: Path) -> bytes:
    raw = bytearray(make_video(tmp_path / "m.mp4", seconds=2, width=320, height=240).read_bytes())
    at = raw.find(b"moov")
    assert at > 0
    raw[at + 8 : at + 400] = b"\xde\xad\xbe\xef" * 98  # the index is garbage, the frames are intact
    return bytes(raw)


def test_bad_media_corpus_fails_cleanly_within_the_worker_memory_cap(
    make_user, stack, s3_server, tmp_path: Path
) -> None:
    user, stranger = make_user(), make_user()
    show = create_show(user, visibility="public")
    sid = show["id"]
    html = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(1)</script></svg>'
    refused = [  # (kind, name, bytes, mime, status at upload)
        ("photos", "zero.jpg", b"", "image/jpeg", 422),
        ("photos", "magic.jpg", b"\x7fELF\x02\x01\x01" + b"\x00" * 300, "image/jpeg", 415),
        ("photos", "script.svg", svg, "image/svg+xml", 415),
        ("photos", "page.jpg", html + jpeg_bytes(64, 64), "image/jpeg", 415),
        ("videos", "text.mp4", b"not a video at all\n" * 100, "video/mp4", 415),
        ("audio", "image.mp3", png_bytes(32, 32), "audio/mpeg", 415),
    ]
    failing = [  # accepted (the type is right), then failed by the worker with a reason
        ("photos", "trunc.jpg", jpeg_bytes(1600, 1200)[:5000]),
        ("photos", "gif-named.jpg", b"GIF87a" + b"\x00" * 300),  # a GIF by its bytes, whatever the name says
        ("photos", "bomb.png", _bomb_png()),
        ("photos", "huge.png", _png_header_only(65000, 65000)),
        ("videos", "moov.mp4", _mp4_broken_moov(tmp_path)),
        ("videos", "trunc.mp4", make_video(tmp_path / "t.mp4", seconds=3, width=640, height=360).read_bytes()[:20000]),
        ("audio", "rate.wav", _wav_absurd_rate()),
    ]
    cleaned = [  # valid pictures with hostile extras: ready, and the extras are gone
        ("photos", "polyglot.jpg", jpeg_bytes(640, 480) + html),
        ("photos", "badexif.jpg", _bad_exif_jpeg()),
    ]
    worker_pids = {f"media-worker-{i}": p.popen.pid for i, p in enumerate(stack.find("media-worker"))}
    assert worker_pids
    with RssSampler(worker_pids, interval_s=0.05) as watch:
        for kind, name, data, mime, want in refused:
            r = upload(user, kind, sid, name, data, mime)
            assert r.status_code == want, (name, r.status_code, r.text)
            assert r.json()["code"], r.text  # the contract's machine-readable error
        accepted: dict[str, list[tuple[str, int]]] = {}
        for kind, name, data in [*failing, *cleaned]:
            r = upload(user, kind, sid, name, data, "application/octet-stream")
            assert r.status_code == 201, (name, r.text)
            accepted.setdefault(kind, []).append((name, r.json()["id"]))
        finals = {kind: wait_terminal(user, kind, [i for _, i in items], 180) for kind, items in accepted.items()}
    outcome = {name: (finals[kind][mid], media_status(user, kind, mid)) for kind, items in accepted.items()
               for name, mid in items}
    for _, name, _ in failing:
        status, rec = outcome[name]
        assert status == "failed" and rec["error"], (name, rec)
        assert not any(rec.get("urls", {}).values()), (name, rec)  # nothing half-made is referenced
    for _kind, name, _ in cleaned:
        status, rec = outcome[name]
        assert status == "ready", (name, rec)
        shown = user.client.get(rec["url"])  # what everyone who may see the show gets: re-encoded, clean
        assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg", name
        assert b"<script" not in shown.content and b"Exif" not in shown.content[:4096], name
        # The original comes back byte for byte to its uploader only, never renderable as a page.
        original = user.client.get(rec["url"], params={"rendition": "original"})
        assert original.status_code == 200 and original.headers["content-type"] == "image/jpeg", name
        assert original.headers["x-content-type-options"] == "nosniff", name
        assert "sandbox" in original.headers["content-security-policy"], name
        assert stranger.client.get(rec["url"], params={"rendition": "original"}).status_code in (403, 404)
    def objects() -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for prefix in ("photo", "video", "audio"):
            for key in s3_server.keys(f"{prefix}/{user.id}/"):
                folder, _, leaf = key.rpartition("/")
                found.setdefault(folder, set()).add(leaf.split(".")[0])
        return found

    # A failed item keeps only its original (the record shows the reason; deleting it removes the file);
    # no partial derivative survives the failure.
    assert sorted(objects().values(), key=len)[: len(failing)] == [{"original"}] * len(failing), objects()
    for kind, items in accepted.items():
        for name, mid in items:
            if outcome[name][0] == "failed":
                assert user.client.delete(f"/api/{kind}/{mid}").status_code == 204, name
    left = objects()
    assert len(left) == len(cleaned) and all("display" in leaves for leaves in left.values()), left
    print("peak worker RSS MB:", {k: round(v, 1) for k, v in watch.peaks_mb.items()},
          "growth:", {k: round(v, 1) for k, v in watch.growth_mb().items()})
    from media.config import MediaSettings

    # what the corpus added: the pool's children keep what earlier tests' videos grew them to (they recycle at
    # 1.5 GB), so the absolute tree size depends on the order the tests ran in
    cap = WORKER_RSS_CAP_MB_PER_PROCESS * MediaSettings().pool_size
    assert max(watch.peaks_mb.values()) > 0 and max(watch.growth_mb().values()) < cap, (watch.peaks_mb, cap)
    assert stack.find("media-worker")[0].popen.poll() is None  # no worker crash


def test_library_photos_filed_into_the_right_shows(make_user) -> None:
    """Photos uploaded without a show are filed by their EXIF time; the unsure one is offered, then filed by hand."""
    user = make_user()
    first = create_show(user, date="2024-12-01", time="20:00")
    early = create_show(user, date="2024-12-05", artist_name="Matinee Band")
    late = create_show(user, date="2024-12-05", artist_name="Night Band")
    photos = {"evening": "2024:12:01 22:10:00", "after_midnight": "2024:12:02 00:40:00", "torn": "2024:12:05 21:00:00"}
    ids: dict[str, int] = {}
    for seed, (name, taken) in enumerate(photos.items()):
        r = user.client.post("/api/photos", files={"file": (f"{name}.jpg", jpeg_bytes(640, 480, taken=taken,
                                                                                      seed=seed), "image/jpeg")})
        assert r.status_code == 201, r.text
        assert r.json()["show_id"] is None
        ids[name] = r.json()["id"]

    def filed(name: str) -> dict[str, Any] | None:
        rec = media_status(user, "photos", ids[name])
        return rec if rec["show_id"] is not None else None

    for name in ("evening", "after_midnight"):
        rec = wait_for(lambda name=name: filed(name), timeout_s=120, interval_s=0.5, what=f"{name} filed")
        assert (rec["show_id"], rec["filed_by"], rec["status"]) == (first["id"], "time", "ready")

    def offered() -> dict[str, Any] | None:
        page = user.client.get("/api/media/unfiled").json()
        return next((i for i in page["items"] if i["id"] == ids["torn"] and i["filing"] == "unfiled"), None)

    torn = wait_for(offered, timeout_s=60, interval_s=0.5, what="the unsure photo offered")
    assert {s["show_id"] for s in torn["suggestions"]} == {early["id"], late["id"]}
    assert all(s["reason"] == "time" for s in torn["suggestions"])

    r = user.client.post(f"/api/media/{ids['torn']}/file", json={"show_id": late["id"]})
    assert r.status_code == 200, r.text
    assert (r.json()["show_id"], r.json()["filed_by"]) == (late["id"], "user")
    assert user.client.get("/api/media/unfiled").json()["total"] == 0
    # shows counted them from the events filing sent (as fresh uploads of those shows)
    wait_for(lambda: user.client.get(f"/api/shows/{first['id']}").json()["photo_count"] == 2, timeout_s=30,
             what="shows counts the filed photos")
    wait_for(lambda: user.client.get(f"/api/shows/{late['id']}").json()["photo_count"] == 1, timeout_s=30,
             what="shows counts the photo filed by hand")
