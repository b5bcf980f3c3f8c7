"""The embedded system exactly as `make run` starts it: `python -m shared.stack run` as a child process.

Used by bench/embedded.py, the embedded e2e tests and the launcher tests. SQLite, local objects and the
kombu filesystem bus in its own VAR_DIR, every service on a free port.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from shared.stack import REPO_ROOT, free_port

SERVICES = ("gateway", "auth", "shows", "media", "social")
READY_LINE = "Ctrl-C stops everything"


def embedded_env(**overrides: str) -> dict[str, str]:
    """This shell's environment without any full-mode server, with limits one test client does not hit."""
    env = {k: v for k, v in os.environ.items()
           if not (k.endswith("_DATABASE_URL") or k in ("DATABASE_URL", "BROKER_URL", "VAR_DIR", "REDIS_URL",
                                                          "MEDIA_STORAGE"))}
    env.update({
        "ENV": "testing",
        "LOG_LEVEL": "INFO",
        "GATEWAY_RATE_LIMIT_IP": "10000000",
        "GATEWAY_RATE_LIMIT_USER": "10000000",
        "GATEWAY_RATE_LIMIT_IP_PER_MIN": "10000000",
        "GATEWAY_RATE_LIMIT_USER_PER_MIN": "10000000",
        "AUTH_REGISTER_LIMIT_PER_IP": "100000",
        "AUTH_LOGIN_LIMIT_PER_IP": "100000",
        "MEDIA_UPLOAD_RATE_LIMIT": "0",
        "MEDIA_USER_QUOTA_BYTES": str(2**40),
        "SOCIAL_CHAT_RATE_LIMIT": "100000",
        "GATEWAY_ACCESS_LOG": "false",
        **overrides,
    })
    return env


class EmbeddedSystem:
    """`with EmbeddedSystem(var_dir) as system:` the launcher runs until the block ends (then SIGINT)."""

    def __init__(self, var_dir: Path, env: dict[str, str] | None = None, start_timeout_s: float = 180.0) -> None:
        self.var_dir = Path(var_dir)
        self.ports = {name: free_port() for name in SERVICES}
        self.env = dict(env) if env is not None else embedded_env()
        self.env["PUBLIC_BASE_URL"] = self.url
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self._offset = 0  # where this run's output starts (the file is appended to across runs)

    @property
    def url(self) -> str:
        """The gateway."""
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @property
    def output_path(self) -> Path:
        """The launcher's own stdout/stderr."""
        return self.var_dir / "launcher.out"

    def output(self) -> str:
        """What the launcher printed so far (in this run)."""
        try:
            with self.output_path.open("rb") as f:
                f.seek(self._offset)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def command(self) -> list[str]:
        """The launcher's command line with this run's folder and ports."""
        args = [sys.executable, "-m", "shared.stack", "run", "--var-dir", str(self.var_dir)]
        for name, port in self.ports.items():
            args += ["--port", f"{name}={port}"]
        return args

    def start(self) -> EmbeddedSystem:
        """Start the launcher and wait until it says the system is up."""
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self._offset = self.output_path.stat().st_size if self.output_path.exists() else 0
        with self.output_path.open("ab") as log:
            self.proc = subprocess.Popen(self.command(), env=self.env, cwd=str(REPO_ROOT), stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the launcher exited ({self.proc.returncode}):\n{self.output()[-3000:]}")
            if READY_LINE in self.output():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the system did not start in {self.start_timeout_s:.0f} s:\n{self.output()[-3000:]}")

    def stop(self, sig: int = signal.SIGINT, timeout_s: float = 30.0) -> int | None:
        """Stop the launcher (Ctrl-C by default); returns its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def __enter__(self) -> EmbeddedSystem:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
