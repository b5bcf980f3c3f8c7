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


# Variables that reach a container on purpose without any settings class reading them: the pieces that
# Kubernetes composes into DATABASE_URL / BROKER_URL / REDIS_URL ($(VAR) expansion), and process-level ones.
COMPOSITION_ONLY = {
    "TMPDIR",
    "POSTGRES_HOST",
    "POSTGRES_PORT",
    "AUTH_DB_PASSWORD",
    "SHOWS_DB_PASSWORD",
    "MEDIA_DB_PASSWORD",
    "SOCIAL_DB_PASSWORD",
    "RABBITMQ_HOST",
    "RABBITMQ_PORT",
    "RABBITMQ_VHOST",
    "RABBITMQ_USER",
    "RABBITMQ_PASSWORD",
    "REDIS_HOST",
    "REDIS_PORT",
    "REDIS_PASSWORD",
}


def settings_env_groups(cls) -> list[set[str]]:
    """Per field of a pydantic-settings class, the env names that set it (aliases are alternatives)."""
    from pydantic import AliasChoices, AliasPath

    from shared.settings import BaseServiceSettings

    prefix = (cls.model_config.get("env_prefix") or "").upper()
    groups: list[set[str]] = []
    for field_name, info in cls.model_fields.items():
        alias = info.validation_alias or info.alias
        if isinstance(alias, str):
            groups.append({alias.upper()})
        elif isinstance(alias, AliasChoices):
            groups.append(
                {c.upper() for c in alias.choices if isinstance(c, str)}
                | {str(c.path[0]).upper() for c in alias.choices if isinstance(c, AliasPath)}
            )
        elif isinstance(alias, AliasPath):
            groups.append({str(alias.path[0]).upper()})
        elif cls is not BaseServiceSettings:
            groups.append({f"{prefix}{field_name}".upper()})
        # else: an un-aliased field of the shared base is read with each service's prefix and checked there
    return groups


def settings_env_names(cls) -> set[str]:
    """Every environment variable name a pydantic-settings class reads (upper-cased)."""
    return set().union(*settings_env_groups(cls))


@pytest.fixture(scope="session")
def settings_classes() -> dict[str, type]:
    """`shared` plus every service whose `<svc>.config` settings class exists already."""
    import importlib
    import inspect

    from shared.settings import BaseServiceSettings

    classes: dict[str, type] = {"shared": BaseServiceSettings}
    for svc in ALL_SERVICES:
        try:
            module = importlib.import_module(f"{svc}.config")
        except ModuleNotFoundError as exc:
            if exc.name in (svc, f"{svc}.config"):
                continue  # that service has not landed its settings yet
            raise
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(obj, BaseServiceSettings)
                and obj is not BaseServiceSettings
                and obj.__module__ == module.__name__
            ):
                classes[svc] = obj
    return classes


@pytest.fixture(scope="session")
def service_reads(settings_classes) -> dict[str, set[str] | None]:
    """Per owner (`shared` and each service): the env names its settings read, None if not landed yet."""
    return {
        owner: settings_env_names(settings_classes[owner]) if owner in settings_classes else None
        for owner in ("shared", *ALL_SERVICES)
    }


@pytest.fixture(scope="session")
def service_setting_groups(settings_classes) -> dict[str, list[set[str]] | None]:
    """Per owner: one set of alternative env names per setting, None if not landed yet."""
    return {
        owner: settings_env_groups(settings_classes[owner]) if owner in settings_classes else None
        for owner in ("shared", *ALL_SERVICES)
    }


@pytest.fixture(scope="session")
def composition_only() -> set[str]:
    """Env names given to containers on purpose that no settings class reads."""
    return set(COMPOSITION_ONLY)
