"""The media worker runs one prefork process per usable core unless MEDIA_WORKER_CONCURRENCY says otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from media.config import MediaSettings, usable_cores


def _affinity() -> int:
    return len(os.sched_getaffinity(0))


@pytest.mark.parametrize(("cpu_max", "cap"), [("max 100000\n", None), ("100000 100000\n", 1),
                                               ("150000 100000\n", 2), ("50000 100000\n", 1)])
def test_a_container_cpu_limit_caps_the_pool(tmp_path: Path, cpu_max: str, cap: int | None) -> None:
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max)
    expected = _affinity() if cap is None else min(cap, _affinity())
    assert usable_cores(path) == expected


def test_no_cgroup_file_means_the_affinity(tmp_path: Path) -> None:
    assert usable_cores(tmp_path / "missing") == _affinity()


def test_an_explicit_concurrency_wins(tmp_path: Path) -> None:
    assert MediaSettings(VAR_DIR=str(tmp_path), worker_concurrency=3).pool_size == 3
    assert MediaSettings(VAR_DIR=str(tmp_path)).pool_size == usable_cores()
