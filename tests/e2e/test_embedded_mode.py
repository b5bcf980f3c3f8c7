"""The embedded mode (`make run`: SQLite, local objects, filesystem bus): a burst of photos drains promptly,
`make stop` stops the running system, and a launcher killed with SIGKILL leaves no service behind.

kombu's stock filesystem transport polled once a second and took one message per poll: 30 photos took 30 s
or more whatever the worker could do. The bound here is generous (the target, >= 0.8 x the worker's own rate,
is measured by bench/embedded.py); it fails on the old one-per-second pipeline.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from shared.stack import LauncherLock
from shared.testing.client import create_show, upload
from shared.testing.embedded import EmbeddedSystem
from shared.testing.media import jpeg_bytes
from shared.testing.plugin import register_and_login

pytestmark = pytest.mark.e2e

PHOTOS = 30
BOUND_S = 30.0


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedSystem]:
    """One system started as `make run` starts it, for the burst and then `make stop` (the last to use it)."""
    running = EmbeddedSystem(tmp_path_factory.mktemp("embedded") / "var").start()
    try:
        yield running
    finally:
        running.stop(signal.SIGKILL)


def test_thirty_photos_uploaded_at_once_are_ready_within_30s(system: EmbeddedSystem) -> None:
    photos = [jpeg_bytes(1600, 1200, seed=i) for i in range(PHOTOS)]
    user = register_and_login(system.url)
    show = create_show(user)
    # warm the worker (its first task imports the imaging stack) before the clock starts
    warm = upload(user, "photos", create_show(user, date="2024-11-30")["id"], "warm.jpg",
                  jpeg_bytes(640, 480, seed=999), "image/jpeg")
    assert warm.status_code == 201, warm.text
    _wait_ready(user, [warm.json()["id"]], 120)

    t0 = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(
            lambda i: upload(user, "photos", show["id"], f"p{i}.jpg", photos[i], "image/jpeg"), range(PHOTOS)))
    assert [r.status_code for r in responses] == [201] * PHOTOS, [r.text for r in responses if r.status_code != 201]
    ids = [r.json()["id"] for r in responses]
    status = _wait_ready(user, ids, BOUND_S - (time.monotonic() - t0))
    elapsed = time.monotonic() - t0
    print(f"{PHOTOS} photos ready {elapsed:.1f} s after the first upload started")
    assert all(s == "ready" for s in status.values()), status
    assert elapsed < BOUND_S


def _wait_ready(user: object, ids: list[int], timeout_s: float) -> dict[int, str]:
    """Poll the photos' records until every one is terminal or the time is up; id -> status."""
    client = user.client  # type: ignore[attr-defined]
    deadline = time.monotonic() + max(0.0, timeout_s)
    status: dict[int, str] = {}
    while True:
        for mid in ids:
            if status.get(mid) not in ("ready", "failed"):
                r = client.get(f"/api/photos/{mid}", params={"meta": 1})
                status[mid] = r.json().get("status", "?") if r.status_code == 200 else f"http {r.status_code}"
        if all(s in ("ready", "failed") for s in status.values()) or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def _service_processes(launcher_pid: int) -> list[psutil.Process]:
    """Every process under the launcher (services, Celery pool processes ...)."""
    procs = psutil.Process(launcher_pid).children(recursive=True)
    assert len(procs) >= 5, procs  # the system is really up
    return procs


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_make_stop_stops_a_running_system(system: EmbeddedSystem) -> None:
    assert system.proc is not None
    procs = _service_processes(system.proc.pid)
    try:
        result = subprocess.run([sys.executable, "-m", "shared.stack", "stop", "--var-dir", str(system.var_dir)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        assert system.proc.wait(10) == 0
        assert _alive(procs) == []
        assert "stopped." in system.output()
    finally:
        for p in _alive(procs):
            p.kill()


def test_services_die_with_a_launcher_killed_by_sigkill(tmp_path: Path) -> None:
    system = EmbeddedSystem(tmp_path / "var").start()
    assert system.proc is not None
    procs = _service_processes(system.proc.pid)
    try:
        system.proc.send_signal(signal.SIGKILL)  # no chance to stop anything itself
        system.proc.wait(10)
        deadline = time.monotonic() + 5
        while _alive(procs) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [(p.pid, " ".join(p.cmdline())[:80]) for p in _alive(procs)]
        assert left == [], left
    finally:
        for p in _alive(procs):
            p.kill()
    assert LauncherLock(tmp_path / "var").holder() is None  # the lock went with the process
