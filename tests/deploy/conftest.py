"""Shared fixtures for the deployment tests: the documented settings, the conventions, the repo paths."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# docs/conventions.md: "Ports (local defaults)" and "Commands"
PORTS = {"gateway": 5000, "auth": 5001, "shows": 5002, "media": 5003, "social": 5004}
API_SERVICES = ("auth", "shows", "media", "social")  # services behind the gateway, each with a database
ALL_SERVICES = ("gateway", *API_SERVICES)
WORKER_QUEUES = ("images", "video", "audio")

# variable names whose values are secrets: never literal in compose/k8s, always `${VAR:?}` or a secretKeyRef
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|PRIVATE_KEY|ENCRYPTION_KEY|ACCESS_KEY_ID|BASIC_AUTH|_PASS)$")
ASSIGNMENT = re.compile(r"^\s*#?\s*([A-Z][A-Z0-9_]*)=(.*)$")


@dataclass
class EnvExample:
    """The parsed `.env.example`: active assignments and every documented name (commented ones too)."""

    path: Path
    active: dict[str, str] = field(default_factory=dict)
    documented: set[str] = field(default_factory=set)


def parse_env_example(path: Path) -> EnvExample:
    """Read `.env.example`: `VAR=value` lines are active, `# VAR=value` lines are documented only."""
    result = EnvExample(path)
    for line in path.read_text().splitlines():
        m = ASSIGNMENT.match(line)
        if not m:
            continue
        name, value = m.groups()
        result.documented.add(name)
        if not line.lstrip().startswith("#"):
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            result.active[name] = value
    return result


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root."""
    return REPO


@pytest.fixture(scope="session")
def env_example() -> EnvExample:
    """The single documented list of settings."""
    path = REPO / ".env.example"
    assert path.is_file(), ".env.example is missing"
    return parse_env_example(path)


@pytest.fixture(scope="session")
def entry_points() -> dict[str, set[str]]:
    """Console scripts per service package (services/<svc>/pyproject.toml [project.scripts])."""
    result = {}
    for svc in ALL_SERVICES:
        data = tomllib.loads((REPO / "services" / svc / "pyproject.toml").read_text())
        result[svc] = set(data.get("project", {}).get("scripts", {}))
    return result
