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


def test_stop_takes_the_gateway_down_before_the_services_behind_it(tmp_path: Path) -> None:
    # the gateway finishes its requests in flight while the services still answer them: only once it has exited
    # are the others asked to stop (each process writes when it got SIGTERM and when it exits)
    import time

    from shared.stack import SERVICES, Proc, Stack

    script = (
        "import signal, sys, time\n"
        "out = open(sys.argv[1], 'a')\n"
        "def bye(*_):\n"
        "    out.write(f'term {time.monotonic()}\\n'); out.flush(); time.sleep(float(sys.argv[2]))\n"
        "    out.write(f'exit {time.monotonic()}\\n'); out.flush(); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "print('up', flush=True)\n"
        "while True: time.sleep(0.05)\n"
    )
    stack = Stack(tmp_path / "var", services=[])
    specs = {s.name: s for s in SERVICES}
    times: dict[str, Path] = {}
    for name, linger in (("auth", "0"), ("gateway", "0.6"), ("shows", "0")):
        times[name] = tmp_path / f"{name}.times"
        popen = subprocess.Popen([sys.executable, "-c", script, str(times[name]), linger], stdout=subprocess.PIPE,
                                 start_new_session=True)
        assert popen.stdout is not None and popen.stdout.readline() == b"up\n"
        stack.procs.append(Proc(specs[name], popen, tmp_path / f"{name}.log"))
    started = time.monotonic()
    stack.stop()
    assert time.monotonic() - started < 8
    seen = {name: dict(line.split() for line in path.read_text().splitlines()) for name, path in times.items()}
    gateway_exit = float(seen["gateway"]["exit"])
    assert all(float(seen[name]["term"]) >= gateway_exit for name in ("auth", "shows")), seen
    assert all(proc.popen.poll() is not None for proc in stack.procs)
