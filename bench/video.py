"""Video pipeline: wall time from upload complete to `ready` for a 60 s 1080p clip, vs bare ffmpeg.

Run: `.venv/bin/python bench/video.py [--seconds 60] [--codec mpeg4|libx264] [--quick]`.

Full mode (fresh PostgreSQL, RabbitMQ vhost, moto S3; `bench/_common.FullStack`) with one media worker. The
clip (1920x1080, 30 fps, testsrc2 + a tone) is made by ffmpeg first; by default in MPEG-4 Part 2 so that both
rungs (720p and 1080p) are re-encoded, which is the expensive case (`--codec libx264` gives a source that the
pipeline remuxes for 1080p). The clip is uploaded through the gateway; the clock runs from the upload response
to the first poll (every 0.2 s) that sees `ready`. Then the same rendition commands the worker runs
(`media.processing.transcode.video_rendition_cmd` for each planned rung, plus the poster) are run bare on the
same file, in the same run, on the same machine, once before the stack starts and once after it stops
(their mean is the baseline). Prints both times and the ratio and writes
bench/results/video.json.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

from _common import FullStack, prefer_installed_packages, scratch_dir, skip, write_results

prefer_installed_packages()

from media.processing import plan_video, poster_cmd, poster_time, probe, video_rendition_cmd  # noqa: E402
from shared.stack import SERVICES, available  # noqa: E402
from shared.testing.client import create_show, media_status, upload  # noqa: E402
from shared.testing.media import make_video  # noqa: E402
from shared.testing.plugin import register_and_login  # noqa: E402


def bare_ffmpeg(src: Path, out: Path) -> dict[str, float]:
    """Run the worker's commands directly: seconds per rendition and for the poster."""
    info = probe(src, container_format="mp4")
    times: dict[str, float] = {}
    for plan in plan_video(info):
        cmd = video_rendition_cmd(src, out / plan.filename, plan, "mp4")
        started = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times[plan.name + (" (remux)" if plan.remux else "")] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    subprocess.run(poster_cmd(src, out / "poster.jpg", "mp4", poster_time(info.duration)), check=True,
                   capture_output=True)
    times["poster"] = round(time.perf_counter() - started, 2)
    return times


def _fresh(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--codec", default="mpeg4")
    parser.add_argument("--quick", action="store_true", help="a 10 s clip")
    args = parser.parse_args()
    seconds = 10 if args.quick else args.seconds
    if not all(available(s) for s in SERVICES if s.name in ("auth", "shows", "media", "media-worker")):
        skip("auth, shows, media and the media worker must be in this checkout")
    work = scratch_dir("video")
    clip = make_video(work / "clip.mp4", seconds=seconds, width=1920, height=1080, fps=30, vcodec=args.codec)
    data = clip.read_bytes()
    # Bare runs before and after the pipeline: this machine is shared, so one sample each side shows the noise.
    before = bare_ffmpeg(clip, _fresh(work / "bare-before"))
    with FullStack("video", worker_count=1) as fs:
        base = fs.stack.gateway_url if "gateway" in fs.stack.replica_ports else fs.stack.url("media")
        user = register_and_login(base)
        show = create_show(user)
        started = time.perf_counter()
        r = upload(user, "videos", show["id"], "clip.mp4", data, "video/mp4")
        upload_s = time.perf_counter() - started
        assert r.status_code == 201, r.text
        vid = r.json()["id"]
        t0 = time.perf_counter()
        while True:
            rec = media_status(user, "videos", vid)
            if rec["status"] != "processing":
                break
            if time.perf_counter() - t0 > 1800:
                raise SystemExit("timed out waiting for ready")
            time.sleep(0.2)
        pipeline_s = time.perf_counter() - t0
        assert rec["status"] == "ready", rec
    after = bare_ffmpeg(clip, _fresh(work / "bare-after"))
    bare = {k: round((before[k] + after[k]) / 2, 2) for k in before}
    bare_total = sum(bare.values())
    result = {
        "clip": {"seconds": seconds, "size": "1920x1080", "fps": 30, "codec": args.codec,
                 "bytes": len(data)},
        "upload_s": round(upload_s, 2),
        "upload_to_ready_s": round(pipeline_s, 2),
        "bare_ffmpeg_s": bare,
        "bare_ffmpeg_before_after_s": [round(sum(before.values()), 2), round(sum(after.values()), 2)],
        "bare_ffmpeg_total_s": round(bare_total, 2),
        "ratio": round(pipeline_s / bare_total, 2),
        "renditions": {k: v for k, v in rec["urls"].items() if v},
    }
    path = write_results("video", result)
    print(f"{seconds:g} s 1080p ({args.codec}): upload->ready {pipeline_s:.1f} s; bare ffmpeg {bare_total:.1f} s "
          f"{bare}; ratio {result['ratio']}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
