"""The launcher's guards (fast: nothing is started): a port already taken, a second launcher, `make stop`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from shared.stack import LauncherLock, free_port, port_holder

SERVICES = ("gateway", "auth", "shows", "media", "social")


def _launch(var_dir: Path, ports: dict[str, int], *extra: str) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "shared.stack", *(extra or ("run",)), "--var-dir", str(var_dir)]
    for name, port in ports.items():
        args += ["--port", f"{name}={port}"]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def test_a_port_already_taken_is_reported_in_one_line_with_its_process(tmp_path: Path) -> None:
    ports = {name: free_port() for name in SERVICES}
    with socket.socket() as held:
        held.bind(("127.0.0.1", ports["gateway"]))
        held.listen()
        assert port_holder(ports["gateway"]) is not None
        result = _launch(tmp_path / "var", ports)
    assert result.returncode == 1
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert f"port {ports['gateway']} (gateway) is already in use by pid {os.getpid()}" in lines[0]
    assert "migrating" not in result.stdout  # refused before touching anything


def test_a_second_launcher_on_the_same_folder_says_so(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    lock = LauncherLock(var_dir)
    assert lock.acquire()  # stands in for a running launcher
    try:
        result = _launch(var_dir, {name: free_port() for name in SERVICES})
        assert result.returncode == 1
        assert result.stderr.strip() == (f"ShareMyShows is already running on {var_dir.resolve()} "
                                         f"(launcher pid {os.getpid()}); `make stop` stops it.")
    finally:
        lock.release()
    assert LauncherLock(var_dir).holder() is None


def test_stop_without_a_running_system_says_so(tmp_path: Path) -> None:
    result = _launch(tmp_path / "var", {}, "stop")
    assert result.returncode == 0
    assert "not running" in result.stdout
