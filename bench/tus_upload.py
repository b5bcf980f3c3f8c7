"""Resumable (tus) upload of a large file through the gateway into S3, killed at 50 % and resumed, vs boto3.

Run: `.venv/bin/python bench/tus_upload.py [--size-mb 1024] [--chunk-mb 64] [--quick]`.

Full mode (`bench/_common.FullStack`: fresh PostgreSQL, RabbitMQ vhost, moto S3). The file sniffs as MP4 and is
otherwise random (media_upload.make_file). The client creates the upload, PATCHes chunks of `--chunk-mb` read
from disk, and at half the file sends a PATCH whose connection it kills after half its body; it then asks HEAD
for the offset and sends the rest in one streamed PATCH. Reported: wall time of the whole upload (interruption
included), MB/s, the offset the server kept after the kill, the media process's RSS growth over its idle
baseline (target < 64 MB), and `boto3.upload_file` of the same file to the same server as the baseline
(target ratio >= 0.8). Writes bench/results/tus_upload.json.
"""

from __future__ import annotations

import argparse
import base64
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from _common import (
    FullStack,
    RssSampler,
    cpu_seconds,
    prefer_installed_packages,
    scratch_dir,
    skip,
    stack_pids,
    write_results,
)
from media_upload import make_file

prefer_installed_packages()

from shared.stack import SERVICES, available  # noqa: E402
from shared.testing.client import create_show  # noqa: E402
from shared.testing.plugin import register_and_login  # noqa: E402

MB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu(pids: dict[str, int | None]) -> dict[str, float]:
    """CPU seconds of each process (None: this one)."""
    return {k: time.process_time() if pid is None else cpu_seconds(pid) for k, pid in pids.items()}


def _read(path: Path, start: int, end: int, block: int = MB) -> Iterator[bytes]:
    with path.open("rb") as fh:
        fh.seek(start)
        left = end - start
        while left > 0:
            data = fh.read(min(block, left))
            if not data:
                return
            left -= len(data)
            yield data


def _kill_mid_patch(base: str, auth: str, url: str, src: Path, offset: int, length: int, send: int) -> None:
    host, port = base.removeprefix("http://").split(":")
    head = (f"PATCH {url} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: {auth}\r\nTus-Resumable: 1.0.0\r\n"
            f"Upload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\n"
            f"Content-Length: {length}\r\n\r\n")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(head.encode())
        for data in _read(src, offset, offset + send):
            sock.sendall(data)
        time.sleep(0.2)


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--chunk-mb", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="a 128 MB file")
    args = parser.parse_args()
    size = (128 if args.quick else args.size_mb) * MB
    chunk = args.chunk_mb * MB
    if not all(available(s) for s in SERVICES if s.name in ("auth", "shows", "media", "gateway")):
        skip("auth, shows, media and the gateway must be in this checkout")
    work = scratch_dir("tus-upload")
    src = make_file(work / "big.mp4", size)
    with FullStack("tus_upload", env_overrides={"MEDIA_WORKER_QUEUES": "images"}) as fs:
        stack = fs.stack
        base = stack.gateway_url
        user = register_and_login(base)
        show = create_show(user)
        auth = user.headers()["Authorization"]
        media_pid = stack_pids(stack)["media"]
        baseline = _rss_mb(media_pid)
        client = httpx.Client(base_url=base, headers={**user.headers(), **TUS}, timeout=600)
        meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in
                        {"kind": "video", "filename": "big.mp4", "show_id": str(show["id"])}.items())
        # CPU of every process a byte crosses: where the time goes when the ratio falls short
        moto_pid = fs.infra.s3.process.pid if fs.infra.s3 and fs.infra.s3.process else None
        crossed = {"client (this process)": None, "gateway": stack_pids(stack)["gateway"], "media": media_pid,
                   "S3 server (moto)": moto_pid}
        cpu0 = _cpu(crossed)
        with RssSampler({"media": media_pid, **{k: v for k, v in stack_pids(stack).items() if k == "gateway"}},
                        interval_s=0.1) as rss:
            started = time.perf_counter()
            r = client.post("/api/uploads", headers={"Upload-Length": str(size), "Upload-Metadata": meta})
            assert r.status_code == 201, r.text
            url = r.headers["Location"]
            offset = 0
            half = size // 2
            while offset < half:
                end = min(offset + chunk, half)
                p = client.patch(url, content=_read(src, offset, end), headers={
                    "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream",
                    "Content-Length": str(end - offset)})
                assert p.status_code == 204, p.text
                offset = int(p.headers["Upload-Offset"])
            _kill_mid_patch(base, auth, url, src, offset, size - offset, send=min(chunk, size - offset) // 2)
            while True:
                kept = int(client.head(url).headers["Upload-Offset"])
                p = client.patch(url, content=_read(src, kept, size), headers={
                    "Upload-Offset": str(kept), "Content-Type": "application/offset+octet-stream",
                    "Content-Length": str(size - kept)})
                if p.status_code in (409, 423):
                    time.sleep(0.2)
                    continue
                break
            assert p.status_code == 204 and "X-Media-Id" in p.headers, p.text
            took = time.perf_counter() - started
        cpu_tus = {k: v - cpu0[k] for k, v in _cpu(crossed).items()}
        rec = client.get(f"/api/videos/{p.headers['X-Media-Id']}", params={"meta": 1}).json()
        assert rec["file_size"] == size, rec
        client.delete(f"/api/videos/{rec['id']}")
        s3 = fs.infra.s3
        boto_crossed = {"client (this process)": None, "S3 server (moto)": moto_pid}
        cpu0 = _cpu(boto_crossed)
        started = time.perf_counter()
        s3.client().upload_file(str(src), s3.bucket, "bench/boto3-baseline.bin")
        boto_s = time.perf_counter() - started
        cpu_boto = {k: v - cpu0[k] for k, v in _cpu(boto_crossed).items()}
    mb = size / MB
    peak = rss.peaks_mb.get("media", 0.0)
    result = {
        "size_mb": mb,
        "chunk_mb": args.chunk_mb,
        "upload_s": round(took, 2),
        "upload_mb_s": round(mb / took, 1),
        "offset_kept_after_kill_mb": round((kept - offset) / MB, 1),
        "resumed_from_mb": round(kept / MB, 1),
        "boto3_upload_file_s": round(boto_s, 2),
        "boto3_mb_s": round(mb / boto_s, 1),
        "ratio_vs_boto3": round(boto_s / took, 2),
        "media_rss_baseline_mb": round(baseline, 1),
        "media_rss_peak_mb": round(peak, 1),
        "media_rss_growth_mb": round(peak - baseline, 1),
        "peak_rss_mb": {k: round(v, 1) for k, v in rss.peaks_mb.items()},
        "load_avg": os.getloadavg(),
        "cpu_s_per_gb": {"tus": {k: round(v / (mb / 1024), 2) for k, v in cpu_tus.items()},
                         "boto3": {k: round(v / (mb / 1024), 2) for k, v in cpu_boto.items()}},
    }
    src.unlink(missing_ok=True)
    path = write_results("tus_upload", result)
    print(f"{mb:.0f} MB by tus through the gateway (killed at 50 %, resumed from {kept / MB:.1f} MB): "
          f"{result['upload_mb_s']} MB/s ({took:.1f} s); boto3 upload_file {result['boto3_mb_s']} MB/s "
          f"({boto_s:.1f} s); ratio {result['ratio_vs_boto3']} (target >= 0.8); media RSS growth "
          f"{result['media_rss_growth_mb']} MB (target < 64); wrote {path}")
    for name, per in result["cpu_s_per_gb"].items():
        total = sum(per.values())
        print(f"  CPU s per GB, {name}: {per}; all {total:.2f} s -> at most {1024 / (total / os.cpu_count()):.0f} "
              f"MB/s on {os.cpu_count()} cores if nothing else ran")


if __name__ == "__main__":
    main()
