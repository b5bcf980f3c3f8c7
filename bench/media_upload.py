"""Upload throughput: a 1 GB file streamed through the gateway and the media service into S3, vs boto3.

Run: `.venv/bin/python bench/media_upload.py [--size-mb 1024] [--quick]`.

Full mode (fresh PostgreSQL, RabbitMQ vhost, moto S3 server; `bench/_common.FullStack`). The file is a video
by its first bytes (an ISO-BMFF `ftyp` box) followed by pseudo-random data, so the media service accepts it and
streams it into an S3 multipart upload; the worker later marks it `failed` (not a real video), which does not
matter here. The client streams the multipart body from disk (never in memory). Measures wall time and MB/s
of the upload through the gateway (or straight to the media service when no gateway is in this checkout) and
the peak RSS of the gateway and media processes (and its growth over their idle RSS after a 24 MB warm-up
upload, and over their cold start), then `boto3.upload_file`
of the same file to the same S3 server (default TransferConfig) as the baseline; prints the ratio and writes
bench/results/media_upload.json.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
from _common import (
    NGINX_CONF,
    FullStack,
    RssSampler,
    ensure_tools,
    prefer_installed_packages,
    scratch_dir,
    skip,
    stack_pids,
    write_results,
)

prefer_installed_packages()

from shared.stack import SERVICES, available, free_port  # noqa: E402
from shared.testing.client import create_show  # noqa: E402
from shared.testing.plugin import register_and_login  # noqa: E402

MB = 1024 * 1024
FTYP = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


def make_file(path: Path, size: int) -> Path:
    """A file that sniffs as MP4, then `size` bytes of incompressible data (written in 8 MiB blocks)."""
    block = os.urandom(8 * MB)
    with path.open("wb") as fh:
        fh.write(FTYP)
        left = size - len(FTYP)
        while left > 0:
            fh.write(block[: min(len(block), left)])
            left -= len(block)
    return path


def multipart(path: Path, show_id: int, boundary: str) -> tuple[Iterator[bytes], int]:
    """A streamed multipart body (fields first, then the file from disk) and its exact length."""
    head = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"show_id\"\r\n\r\n{show_id}\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nbench\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = path.stat().st_size

    def gen() -> Iterator[bytes]:
        yield head
        with path.open("rb") as fh:
            while chunk := fh.read(1 * MB):
                yield chunk
        yield tail

    return gen(), len(head) + size + len(tail)


@contextlib.contextmanager
def _stopping(proc: subprocess.Popen[bytes] | None) -> Iterator[None]:
    try:
        yield
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--quick", action="store_true", help="a 128 MB file")
    args = parser.parse_args()
    size = (128 if args.quick else args.size_mb) * MB
    needed = [s for s in SERVICES if s.name in ("auth", "shows", "media")]
    if not all(available(s) for s in needed):
        skip("auth, shows and media must be in this checkout")
    work = scratch_dir("media-upload")
    src = make_file(work / "big.mp4", size)
    with FullStack("media_upload", env_overrides={"MEDIA_WORKER_QUEUES": "images"}) as fs:
        stack = fs.stack
        via = "gateway" if "gateway" in stack.replica_ports else "media"
        base = stack.gateway_url if via == "gateway" else stack.url("auth")
        user = register_and_login(base)
        show = create_show(user)
        targets = {"direct": stack.url("media")}
        nproc: subprocess.Popen[bytes] | None = None
        _, nginx = ensure_tools()
        if nginx:
            ndir = work / "nginx"
            ndir.mkdir(exist_ok=True)
            nport = free_port()
            media_port = int(stack.url("media").rsplit(":", 1)[1])
            (ndir / "nginx.conf").write_text(NGINX_CONF.format(tmp=ndir, upstream=media_port, port=nport, workers=1))
            nproc = subprocess.Popen([nginx, "-p", str(ndir), "-c", str(ndir / "nginx.conf")])
            targets["nginx"] = f"http://127.0.0.1:{nport}"
            for _ in range(100):
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{targets['nginx']}/health", timeout=1).status_code == 200:
                        break
                time.sleep(0.1)
        if via == "gateway":
            targets["gateway"] = stack.gateway_url
        pids = {k: v for k, v in stack_pids(stack).items() if k in ("gateway", "media")}
        runs: dict[str, dict[str, float]] = {}
        cold = {k: RssSampler(pids)._rss(pid) for k, pid in pids.items()}  # before the first upload
        # A 24 MB upload first: what the first multipart upload allocates once (part threads, botocore's
        # operation models, the parser) is not what an upload holds while it streams.
        warm_src = make_file(work / "warm.mp4", 24 * MB)
        boundary = uuid.uuid4().hex
        body, length = multipart(warm_src, show["id"], boundary)
        r = httpx.post(f"{targets['direct']}/api/videos", content=body, timeout=600,
                       headers={**user.headers(), "Content-Type": f"multipart/form-data; boundary={boundary}",
                                "Content-Length": str(length)})
        assert r.status_code == 201, r.text
        user.client.delete(f"/api/videos/{r.json()['id']}")
        idle = {k: RssSampler(pids)._rss(pid) for k, pid in pids.items()}
        with RssSampler(pids, interval_s=0.1) as rss, _stopping(nproc):
            for name, media_base in targets.items():
                boundary = uuid.uuid4().hex
                body, length = multipart(src, show["id"], boundary)
                started = time.perf_counter()
                r = httpx.post(f"{media_base}/api/videos", content=body, timeout=600,
                               headers={**user.headers(), "Content-Type": f"multipart/form-data; boundary={boundary}",
                                        "Content-Length": str(length)})
                took = time.perf_counter() - started
                assert r.status_code == 201, (name, r.text)
                assert r.json()["file_size"] == size, r.json()
                runs[name] = {"upload_s": round(took, 2), "mb_s": round(size / MB / took, 1)}
                print(f"{name:8s} {runs[name]['mb_s']:7.1f} MB/s ({took:.1f} s)", flush=True)
                user.client.delete(f"/api/videos/{r.json()['id']}")  # frees the S3 server's memory
        upload_s = runs[via]["upload_s"]
        s3 = fs.infra.s3
        client = s3.client()
        started = time.perf_counter()
        client.upload_file(str(src), s3.bucket, "bench/boto3-baseline.bin")
        boto_s = time.perf_counter() - started
    mb = size / MB
    result = {
        "size_mb": mb,
        "via": via,
        "upload_s": round(upload_s, 2),
        "upload_mb_s": round(mb / upload_s, 1),
        "boto3_upload_file_s": round(boto_s, 2),
        "boto3_mb_s": round(mb / boto_s, 1),
        "ratio_vs_boto3": round((mb / upload_s) / (mb / boto_s), 2),
        "runs": runs,
        "gateway_vs_nginx_mb_s": round(runs["gateway"]["mb_s"] / runs["nginx"]["mb_s"], 2)
        if "gateway" in runs and "nginx" in runs else None,
        "gateway_vs_direct_mb_s": round(runs["gateway"]["mb_s"] / runs["direct"]["mb_s"], 2)
        if "gateway" in runs else None,
        "peak_rss_mb": {k: round(v, 1) for k, v in rss.peaks_mb.items()},
        "cold_rss_mb": {k: round(v, 1) for k, v in cold.items()},
        "idle_rss_mb": {k: round(v, 1) for k, v in idle.items()},
        "rss_growth_mb": {k: round(rss.peaks_mb[k] - v, 1) for k, v in idle.items()},
        "rss_growth_over_cold_mb": {k: round(rss.peaks_mb[k] - v, 1) for k, v in cold.items()},
    }
    src.unlink(missing_ok=True)
    (work / "warm.mp4").unlink(missing_ok=True)
    path = write_results("media_upload", result)
    print(f"{mb:.0f} MB through the {via}: {result['upload_mb_s']} MB/s ({upload_s:.1f} s); "
          f"boto3 upload_file: {result['boto3_mb_s']} MB/s ({boto_s:.1f} s); ratio {result['ratio_vs_boto3']}")
    print(f"gateway vs nginx: {result['gateway_vs_nginx_mb_s']}, gateway vs direct: {result['gateway_vs_direct_mb_s']}")
    print(f"peak RSS (MB): {result['peak_rss_mb']}, growth over idle after a warm-up upload (MB): "
          f"{result['rss_growth_mb']}, over the cold start: {result['rss_growth_over_cold_mb']}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
