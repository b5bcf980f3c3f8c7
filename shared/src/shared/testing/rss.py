"""Peak RSS of processes and their children, sampled in a background thread (benchmarks and e2e tests)."""

from __future__ import annotations

import threading

import psutil


class RssSampler:
    """Samples the RSS of processes (and their children) in the background; keeps each one's peak."""

    def __init__(self, pids: dict[str, int], interval_s: float = 0.2) -> None:
        self.pids = pids
        self.interval_s = interval_s
        self.peaks_mb: dict[str, float] = dict.fromkeys(pids, 0.0)
        self.start_mb: dict[str, float] = dict.fromkeys(pids, 0.0)  # each one's RSS when sampling began
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self, pid: int) -> float:
        try:
            proc = psutil.Process(pid)
            procs = [proc, *proc.children(recursive=True)]
            return sum(p.memory_info().rss for p in procs if p.is_running()) / 2**20
        except psutil.Error:
            return 0.0

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pid in self.pids.items():
                self.peaks_mb[name] = max(self.peaks_mb[name], self._rss(pid))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        for name, pid in self.pids.items():
            self.start_mb[name] = self.peaks_mb[name] = self._rss(pid)
        self._thread.start()
        return self

    def growth_mb(self) -> dict[str, float]:
        """Each one's peak above its RSS when sampling began (what the sampled work itself added)."""
        return {name: self.peaks_mb[name] - self.start_mb[name] for name in self.pids}

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
