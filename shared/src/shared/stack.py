"""The local launcher behind `make run` and the end-to-end fixtures: migrate, start, watch, stop.

`python -m shared.stack` runs every service that exists in this checkout as its own process, in the
embedded default (SQLite, local objects, kombu filesystem bus) unless the environment names real
servers (`<SVC>_DATABASE_URL`, `BROKER_URL`, `MEDIA_STORAGE=s3` ...).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import fcntl
import importlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[3]


PR_SET_PDEATHSIG = 1
ORPHAN_GRACE_S = 3.0
# the gateway finishes the requests in flight before the services behind it are asked to stop
GATEWAY_GRACE_S = 5.0


def die_with_parent() -> None:
    """In a child between fork and exec: SIGTERM when the launcher dies, however it dies (Linux)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def child_main(entry: str, launcher_pid: int) -> None:
    """Run a service's entry point; when its launcher is gone, SIGTERM it and then kill its process group.

    PR_SET_PDEATHSIG delivers the SIGTERM at once on Linux; the watchdog covers the rest: a launcher that
    died before the prctl, systems without it, and a service whose graceful stop takes longer than
    ORPHAN_GRACE_S or leaves pool processes behind (each service is its own process group).
    """
    if os.getppid() != launcher_pid:
        os._exit(0)  # the launcher died while this process was starting

    def watch() -> None:
        while os.getppid() == launcher_pid:
            time.sleep(0.25)
        with contextlib.suppress(ProcessLookupError):
            os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(ORPHAN_GRACE_S)
        os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=watch, name="launcher-watchdog", daemon=True).start()
    module, func = entry.split(":")
    getattr(importlib.import_module(module), func)()


# ---------------------------------------------------------------- one system per VAR_DIR, ports in use


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on a TCP port (IPv4 and IPv6), from /proc/net."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(parts[9])
    return inodes


def port_holder(port: int) -> str | None:
    """`pid N (command line)` of the process listening on a port, when /proc tells (None otherwise)."""
    inodes = {f"socket:[{i}]" for i in _listening_inodes(port)}
    if not inodes:
        return None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue  # gone, or another user's
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    return f"pid {pid} ({cmd.strip()[:120]})"
            except OSError:
                continue
    return None


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when a TCP port cannot be bound (something listens on it)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def check_ports(ports: Mapping[str, int]) -> str | None:
    """One line naming the first port already taken (and its process when /proc tells), or None."""
    for name, port in ports.items():
        if port_in_use(port):
            holder = port_holder(port)
            who = f" by {holder}" if holder else " by another program"
            return f"port {port} ({name}) is already in use{who}; stop it or choose another port (--port {name}=N)"
    return None


class LauncherLock:
    """`{VAR_DIR}/stack.pid`, locked while a launcher runs on that folder: one system per VAR_DIR."""

    def __init__(self, var_dir: Path) -> None:
        self.path = Path(var_dir) / "stack.pid"
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock and write this pid; False when another launcher holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def holder(self) -> int | None:
        """The pid of the launcher holding the lock (None when no launcher runs on this folder)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                text = os.read(fd, 64).decode().strip()
                return int(text) if text.isdigit() else None
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None  # nobody holds it: a stale file
        finally:
            os.close(fd)

    def release(self) -> None:
        """Drop the lock (the file stays; it is the lock, not the state)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None


def stop_running(var_dir: Path, timeout_s: float = 30.0) -> int:
    """`make stop`: SIGTERM the launcher running on `var_dir` and wait for it; exit status for the shell."""
    pid = LauncherLock(var_dir).holder()
    if pid is None:
        print(f"ShareMyShows is not running (no launcher on {var_dir}).", flush=True)
        return 0
    print(f"stopping the launcher (pid {pid}) ...", flush=True)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if LauncherLock(var_dir).holder() is None:
            print("stopped.", flush=True)
            return 0
        time.sleep(0.2)
    # it did not finish its ordered shutdown: its services die with it (die_with_parent, child_main)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    print(f"the launcher did not stop in {timeout_s:.0f} s; killed it (its services follow it).", flush=True)
    return 1


@dataclass(frozen=True)
class ServiceSpec:
    """One process of the system."""

    name: str
    package: str
    port: int | None
    entry: str  # module:function
    migrate: bool = True


SERVICES: list[ServiceSpec] = [
    ServiceSpec("auth", "auth", 5001, "auth.main:main"),
    ServiceSpec("shows", "shows", 5002, "shows.main:main"),
    ServiceSpec("media", "media", 5003, "media.main:main"),
    ServiceSpec("social", "social", 5004, "social.main:main"),
    ServiceSpec("media-worker", "media", None, "media.worker:main", migrate=False),
    # one catalog worker: MusicBrainz's and setlist.fm's rate limits are kept per process
    ServiceSpec("shows-worker", "shows", None, "shows.catalog.worker:main", migrate=False),
    ServiceSpec("gateway", "gateway", 5000, "gateway.main:main", migrate=False),
]


def available(spec: ServiceSpec) -> bool:
    """True when this checkout contains the service's entry module."""
    module = spec.entry.split(":")[0]
    try:
        found = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        return False
    if found is None or found.origin is None:
        return False
    return ("def " + spec.entry.split(":")[1]) in Path(found.origin).read_text()


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Proc:
    """A running service process."""

    spec: ServiceSpec
    popen: subprocess.Popen[bytes]
    log_path: Path
    index: int = 0
    started_at: float = field(default_factory=time.monotonic)
    restarts: int = 0


class Stack:
    """Starts the system's processes with one consistent environment."""

    def __init__(
        self,
        var_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        ports: Mapping[str, int] | None = None,
        services: list[str] | None = None,
        worker_count: int = 1,
        replicas: Mapping[str, int] | None = None,
        separate_worker_dirs: bool = False,
        quiet: bool = False,
    ) -> None:
        self.var_dir = var_dir.resolve()
        self.base_env = dict(os.environ if env is None else env)
        wanted = [s for s in SERVICES if available(s)]
        if services is not None:
            wanted = [s for s in wanted if s.name in services]
        self.specs = wanted
        self.ports = {s.name: (ports or {}).get(s.name, s.port) for s in self.specs if s.port}
        # extra replicas of an API service listen on free ports; others reach all of them (comma list)
        self.replica_ports: dict[str, list[int]] = {
            name: [port] + [free_port() for _ in range((replicas or {}).get(name, 1) - 1)]
            for name, port in self.ports.items()
        }
        self.worker_count = worker_count
        self.separate_worker_dirs = separate_worker_dirs
        self.quiet = quiet
        self.procs: list[Proc] = []
        (self.var_dir / "log").mkdir(parents=True, exist_ok=True)

    def url(self, name: str, replica: int = 0) -> str:
        """Base URL of a service (of one of its replicas)."""
        return f"http://127.0.0.1:{self.replica_ports[name][replica]}"

    def urls(self, name: str) -> str:
        """Comma-separated base URLs of every replica of a service."""
        return ",".join(f"http://127.0.0.1:{p}" for p in self.replica_ports[name])

    @property
    def gateway_url(self) -> str:
        """The public entry point."""
        return self.url("gateway")

    def env_for(self, spec: ServiceSpec, index: int = 0) -> dict[str, str]:
        """The environment of one process: shared settings plus its own port and database."""
        env = dict(self.base_env)
        env.setdefault("VAR_DIR", str(self.var_dir))
        env.setdefault("LOG_FORMAT", "json")
        for other in self.ports:
            if other != "gateway":
                env[f"{other.upper()}_URL"] = self.urls(other)
        if spec.port:
            env["PORT"] = str(self.replica_ports[spec.name][index])
        elif self.separate_worker_dirs:
            # a worker "host" of its own: only RabbitMQ, PostgreSQL and S3 are shared
            host_dir = self.var_dir / f"host-{spec.name}-{index + 1}"
            host_dir.mkdir(parents=True, exist_ok=True)
            env["VAR_DIR"] = str(host_dir)
        db_var = f"{spec.package.upper()}_DATABASE_URL"
        if env.get(db_var):
            env["DATABASE_URL"] = env[db_var]
        else:
            env.pop("DATABASE_URL", None)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _python_cmd(self, entry: str) -> list[str]:
        # every child watches its launcher (shared.stack.child_main): it goes when the launcher goes
        return [sys.executable, "-c", f"import shared.stack as s; s.child_main({entry!r}, {os.getpid()})"]

    def migrate(self) -> None:
        """Run every service's migrations, side by side: each in its own process, against its own database."""
        running: list[tuple[ServiceSpec, subprocess.Popen[str]]] = []
        try:
            for spec in self.specs:
                if not spec.migrate:
                    continue
                cmd = self._python_cmd(f"{spec.package}.main:migrate")
                running.append((spec, subprocess.Popen(cmd, env=self.env_for(spec), stdout=subprocess.PIPE,
                                                       stderr=subprocess.PIPE, text=True, start_new_session=True,
                                                       preexec_fn=die_with_parent)))
            for spec, proc in running:
                _, stderr = proc.communicate(timeout=300)
                if proc.returncode != 0:
                    raise RuntimeError(f"migrations of {spec.name} failed:\n{stderr[-4000:]}")
        finally:
            for _, proc in running:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(5)

    def _spawn(self, spec: ServiceSpec, index: int = 0) -> Proc:
        suffix = f"-{index + 1}" if index or self.count_of(spec) > 1 else ""
        log_path = self.var_dir / "log" / f"{spec.name}{suffix}.log"
        log_file = log_path.open("ab")
        env = self.env_for(spec, index)
        if spec.port is None:
            env.setdefault("MEDIA_WORKER_NAME", f"worker{index + 1}")
        popen = subprocess.Popen(
            self._python_cmd(spec.entry),
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=str(REPO_ROOT),
            start_new_session=True,  # Ctrl-C reaches the launcher only: it stops the services in order
            preexec_fn=die_with_parent,
        )
        log_file.close()
        return Proc(spec, popen, log_path, index=index)

    def count_of(self, spec: ServiceSpec) -> int:
        """How many processes of this spec run."""
        if spec.port is None:
            return self.worker_count if spec.name == "media-worker" else 1
        return len(self.replica_ports[spec.name])

    def start(self, timeout_s: float = 90.0) -> None:
        """Migrate, start every process and wait until each HTTP service answers /health."""
        self.migrate()
        for spec in self.specs:
            for i in range(self.count_of(spec)):
                self.procs.append(self._spawn(spec, i))
        self.wait_healthy(timeout_s)

    def wait_healthy(self, timeout_s: float = 90.0) -> None:
        """Block until every HTTP service answers /health (raise with the log tail otherwise)."""
        deadline = time.monotonic() + timeout_s
        for proc in self.procs:
            if proc.spec.port is None:
                continue
            url = self.url(proc.spec.name, proc.index) + "/health"
            while True:
                if proc.popen.poll() is not None:
                    raise RuntimeError(f"{proc.spec.name} exited early:\n{self.tail(proc)}")
                try:
                    if httpx.get(url, timeout=1.0).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{proc.spec.name} did not become healthy:\n{self.tail(proc)}")
                time.sleep(0.2)

    def tail(self, proc: Proc, lines: int = 40) -> str:
        """The last lines of a process's log."""
        try:
            return "\n".join(proc.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def find(self, name: str) -> list[Proc]:
        """Running processes of one service."""
        return [p for p in self.procs if p.spec.name == name]

    def kill(self, name: str, sig: int = signal.SIGKILL, index: int | None = None) -> None:
        """Send a signal to every process of a service (or one replica) and its children."""
        for proc in self.find(name):
            if index is not None and proc.index != index:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(10)

    def restart(self, name: str) -> None:
        """Start a service's processes again after a kill."""
        for proc in self.find(name):
            if proc.popen.poll() is None:
                continue
            fresh = self._spawn(proc.spec, proc.index)
            proc.popen, proc.log_path, proc.restarts = fresh.popen, fresh.log_path, proc.restarts + 1
        self.wait_healthy()

    def stop(self) -> None:
        """SIGTERM each service's leader, then SIGKILL whatever is left of its process group.

        Only the leader gets the SIGTERM, as under Kubernetes or Compose: it stops its own children (uvicorn
        workers, Celery's pool). A SIGTERM to the whole group kills Celery's pool processes under the parent's
        feet, and billiard then waits forever for a queue lock a dead child held (the parent never exits).
        The gateway goes first: it stops taking requests and finishes those in flight while the services
        behind it still answer them; then the rest.
        """
        front = [p for p in self.procs if p.spec.name == "gateway"]
        self._stop_all(front, grace_s=GATEWAY_GRACE_S)
        self._stop_all([p for p in self.procs if p not in front], grace_s=10.0)

    @staticmethod
    def _stop_all(procs: list[Proc], grace_s: float) -> None:
        for proc in procs:
            if proc.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for proc in procs:
            remaining = max(0.1, deadline - time.monotonic())
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(remaining)
            with contextlib.suppress(ProcessLookupError):  # the group outlives its leader: sweep it
                os.killpg(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait(5)

    def supervise(self) -> None:
        """Keep the system up until Ctrl-C: report and restart a process that dies."""
        while True:
            time.sleep(1)
            for proc in self.procs:
                code = proc.popen.poll()
                if code is None:
                    continue
                print(f"! {proc.spec.name} exited with {code}; restarting (log: {proc.log_path})", flush=True)
                print(self.tail(proc, 15), flush=True)
                time.sleep(min(30, 2 ** min(proc.restarts, 5)))
                fresh = self._spawn(proc.spec, proc.index)
                proc.popen, proc.restarts = fresh.popen, proc.restarts + 1


def _describe(stack: Stack) -> None:
    mode_db = "PostgreSQL" if any(k.endswith("_DATABASE_URL") for k in stack.base_env) else "SQLite"
    mode_bus = "RabbitMQ" if stack.base_env.get("BROKER_URL", "").startswith("amqp") else "filesystem bus"
    mode_store = "S3" if stack.base_env.get("MEDIA_STORAGE") == "s3" else "local objects"
    print(f"ShareMyShows ({mode_db}, {mode_bus}, {mode_store}; state in {stack.var_dir})", flush=True)
    for proc in stack.procs:
        where = stack.url(proc.spec.name, proc.index) if proc.spec.port else "celery worker"
        print(f"  {proc.spec.name:<13} {where:<24} pid {proc.popen.pid:<7} log {proc.log_path}", flush=True)
    missing = [s.name for s in SERVICES if s not in stack.specs]
    if missing:
        print(f"  (not in this checkout yet: {', '.join(missing)})", flush=True)
    if "gateway" in stack.ports:
        print(f"\nOpen {stack.base_env.get('PUBLIC_BASE_URL', 'http://localhost:5000')}  —  Ctrl-C stops everything.",
              flush=True)


def main(argv: list[str] | None = None) -> None:
    """`python -m shared.stack [run|migrate|stop]`."""
    parser = argparse.ArgumentParser(description="Run the ShareMyShows services locally")
    parser.add_argument("command", nargs="?", default="run", choices=["run", "migrate", "stop"])
    parser.add_argument("--var-dir", default=os.environ.get("VAR_DIR", str(REPO_ROOT / "var")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("MEDIA_WORKERS", "1")))
    parser.add_argument("--port", action="append", default=[], metavar="SERVICE=PORT",
                        help="listen port of one service (repeatable), e.g. --port gateway=8080")
    args = parser.parse_args(argv)
    if args.command == "stop":
        sys.exit(stop_running(Path(args.var_dir)))
    ports: dict[str, int] = {}
    for item in args.port:
        name, _, value = item.partition("=")
        if not value.isdigit():
            parser.error(f"--port wants SERVICE=PORT, got {item!r}")
        ports[name] = int(value)
    stack = Stack(Path(args.var_dir), worker_count=args.workers, ports=ports)
    lock = LauncherLock(stack.var_dir)
    if not lock.acquire():
        print(f"ShareMyShows is already running on {stack.var_dir} (launcher pid {lock.holder()}); "
              "`make stop` stops it.", file=sys.stderr, flush=True)
        sys.exit(1)
    if args.command == "migrate":
        stack.migrate()
        print("migrations applied", flush=True)
        return
    taken = check_ports({name: stack.replica_ports[name][i] for name in stack.replica_ports
                         for i in range(len(stack.replica_ports[name]))})
    if taken:
        print(f"could not start: {taken}", file=sys.stderr, flush=True)
        sys.exit(1)

    def _interrupt(sig: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(sig).name)

    # Installed explicitly: a launcher started from a script may inherit SIGINT as ignored. SIGHUP is a
    # closed terminal: the same ordered stop.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    try:
        print("migrating and starting services ...", flush=True)
        stack.start()
        _describe(stack)
        stack.supervise()
    except KeyboardInterrupt as exc:
        print(f"\nstopping ({exc or 'SIGINT'}) ...", flush=True)
    except RuntimeError as exc:
        print(f"could not start: {exc}", file=sys.stderr, flush=True)
        stack.stop()
        lock.release()
        sys.exit(1)
    # a second signal during the ordered stop must not abandon it half-way
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    stack.stop()
    lock.release()
    print("stopped.", flush=True)


if __name__ == "__main__":
    main()
