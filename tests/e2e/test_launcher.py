"""The launcher behind `make run`: its services never outlive it, and `make stop` stops a running system."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from shared.stack import LauncherLock
from shared.testing.embedded import EmbeddedSystem

pytestmark = pytest.mark.e2e


def _service_processes(launcher_pid: int) -> list[psutil.Process]:
    """Every process under the launcher (services, Celery pool processes ...)."""
    procs = psutil.Process(launcher_pid).children(recursive=True)
    assert len(procs) >= 5, procs  # the system is really up
    return procs


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


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


def test_make_stop_stops_a_running_system(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    system = EmbeddedSystem(var_dir).start()
    assert system.proc is not None
    procs = _service_processes(system.proc.pid)
    try:
        result = subprocess.run([sys.executable, "-m", "shared.stack", "stop", "--var-dir", str(var_dir)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        assert system.proc.wait(10) == 0
        assert _alive(procs) == []
        assert "stopped." in system.output()
    finally:
        system.stop(signal.SIGKILL)
        for p in _alive(procs):
            p.kill()
