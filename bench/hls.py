"""HLS ladder: the media service's `run_hls` (download, probe, one ffmpeg pass, upload of every file, state in
the database) against the bare ffmpeg command that makes the same ladder, in the same run.

Run: `.venv/bin/python bench/hls.py [--seconds 60] [--repeat 1] [--quick]`.

The source is a 1080p30 H.264/AAC test pattern (`shared.testing.media.make_video`). The service side runs
in-process on SQLite and a local objects folder (the storage work is a copy; S3 adds its upload time, which
the video benchmark measures). The bare command is `media.processing.hls.ladder_cmd` without `-progress`,
run with subprocess into a scratch folder. Each side runs `--repeat` times, alternating, best of each; the
ratio is service / bare (target <= 1.15). Writes bench/results/hls.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
from pathlib import Path

from _common import prefer_installed_packages, scratch_dir, write_results

prefer_installed_packages()

from media.config import MediaSettings  # noqa: E402
from media.models import READY, MediaItem  # noqa: E402
from media.pipeline import run_hls  # noqa: E402
from media.processing import probe  # noqa: E402
from media.processing.hls import ladder_cmd, plan_ladder  # noqa: E402
from media.processing.transcode import plan_video, split_plans, video_rendition_cmd  # noqa: E402
from media.storage import LocalStorage  # noqa: E402
from shared.db import make_engine, make_session_factory, run_migrations, session_scope, utcnow  # noqa: E402
from shared.testing.media import make_video  # noqa: E402


def bare(src: Path, out: Path) -> float:
    """The same work by bare commands (no progress pipe), wall seconds: the ladder, then the MP4 encodes that a
    remuxed video gets after it is ready (`split_plans`), which `run_hls` makes in the same task."""
    shutil.rmtree(out, ignore_errors=True)
    info = probe(src, container_format="mp4")
    cmds = [ladder_cmd(src, out, plan_ladder(info), "mp4", has_audio=info.audio_stream is not None)]
    cmds += [video_rendition_cmd(src, out / plan.filename, plan, "mp4") for plan in split_plans(plan_video(info))[1]]
    started = time.perf_counter()
    for cmd in cmds:
        if "-progress" in cmd:
            i = cmd.index("-progress")
            del cmd[i : i + 3]  # -progress pipe:1 -nostats
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def service(src: Path, work: Path, n: int) -> tuple[float, dict[str, int]]:
    """`run_hls` on a ready video item whose original is in local storage, wall seconds."""
    settings = MediaSettings(DATABASE_URL=f"sqlite:///{work / f'media-{n}.db'}", VAR_DIR=str(work), ENV="testing")
    run_migrations("media", settings.db_url)
    factory = make_session_factory(make_engine(settings.db_url))
    storage = LocalStorage(work / f"objects-{n}")
    prefix = f"video/1/{os.urandom(16).hex()}"
    storage.upload_file(src, f"{prefix}/original.mp4", "video/mp4")
    with session_scope(factory) as session:
        now = utcnow()
        item = MediaItem(kind="video", show_id=1, user_id=1, status=READY, content_type="video/mp4", format="mp4",
                         file_size=src.stat().st_size, sha256="0" * 64, prefix=prefix,
                         original_key=f"{prefix}/original.mp4", created_at=now, updated_at=now, renditions=[])
        session.add(item)
        session.flush()
        media_id = item.id
    started = time.perf_counter()
    status = run_hls(factory, storage, settings, media_id)
    took = time.perf_counter() - started
    assert status == "ready", status
    with session_scope(factory) as session:
        progress = dict(session.get(MediaItem, media_id).hls_progress or {})  # type: ignore[union-attr]
    shutil.rmtree(work / f"objects-{n}", ignore_errors=True)
    return took, progress


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="a 15 s clip")
    args = parser.parse_args()
    seconds = 15.0 if args.quick else args.seconds
    work = scratch_dir("hls")
    src = make_video(work / "src.mp4", seconds=seconds, width=1920, height=1080, fps=30)
    bare_runs: list[float] = []
    service_runs: list[float] = []
    progress: dict[str, int] = {}
    for n in range(args.repeat):
        bare_runs.append(bare(src, work / "bare"))
        print(f"bare ffmpeg ladder: {bare_runs[-1]:.1f} s", flush=True)
        took, progress = service(src, work, n)
        service_runs.append(took)
        print(f"run_hls:            {took:.1f} s", flush=True)
    best_bare, best_service = min(bare_runs), min(service_runs)
    result = {
        "source": f"{seconds:g} s 1920x1080 30 fps H.264/AAC",
        "rungs": sorted(progress),
        "bare_ffmpeg_s": round(best_bare, 2),
        "run_hls_s": round(best_service, 2),
        "ratio_vs_bare": round(best_service / best_bare, 3),
        "target_ratio": 1.15,
        "runs": {"bare": [round(x, 2) for x in bare_runs], "run_hls": [round(x, 2) for x in service_runs]},
        "load_avg": os.getloadavg(),
    }
    path = write_results("hls", result)
    print(f"ladder {result['rungs']}: run_hls {best_service:.1f} s vs bare ffmpeg {best_bare:.1f} s, "
          f"ratio {result['ratio_vs_bare']} (target <= 1.15); wrote {path}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
