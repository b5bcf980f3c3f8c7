"""docker-compose.yml, the Dockerfiles and the infrastructure config under deploy/ (no Docker engine needed).

The compose file is rendered with `docker-compose config` (Debian's `docker-compose` package) or `docker compose
config`, with an env file made from `.env.example` in which every secret is replaced by a unique sentinel.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PORTS = {"gateway": 5000, "auth": 5001, "shows": 5002, "media": 5003, "social": 5004}
API_SERVICES = ("auth", "shows", "media", "social")
ALL_SERVICES = ("gateway", *API_SERVICES)
WORKER_QUEUES = ("images", "video", "audio")
WORKERS = tuple(f"media-worker-{q}" for q in WORKER_QUEUES)
MIGRATIONS = tuple(f"{s}-migrate" for s in API_SERVICES)
INFRA = ("postgres", "rabbitmq", "rabbitmq-setup", "minio", "minio-setup", "redis", "flower")
APP_CONTAINERS = (*ALL_SERVICES, *MIGRATIONS, *WORKERS)
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|PRIVATE_KEY|ENCRYPTION_KEY|ACCESS_KEY_ID|BASIC_AUTH|_PASS)$")
REQUIRED_SECRETS = (
    "INTERNAL_TOKEN",
    "AUTH_JWT_PRIVATE_KEY",
    "AUTH_TOTP_ENCRYPTION_KEY",
    "POSTGRES_PASSWORD",
    "AUTH_DB_PASSWORD",
    "SHOWS_DB_PASSWORD",
    "MEDIA_DB_PASSWORD",
    "SOCIAL_DB_PASSWORD",
    "RABBITMQ_PASSWORD",
    "MINIO_ROOT_USER",
    "MINIO_ROOT_PASSWORD",
    "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY",
    "REDIS_PASSWORD",
)
VAR_REF = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(:?[?-][^}]*)?\}")


def _compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


@pytest.fixture(scope="module")
def compose() -> list[str]:
    """The compose CLI; skipped (with the reason) only when neither flavour is installed."""
    cmd = _compose_command()
    if cmd is None:
        pytest.skip("neither `docker-compose` nor `docker compose` is installed (apt-get install docker-compose)")
    return cmd


def _env_file(tmp: Path, example, *, drop: str | None = None) -> tuple[Path, dict[str, str]]:
    """An env file from .env.example with every secret replaced by a unique sentinel (optionally one dropped)."""
    sentinels: dict[str, str] = {}
    lines = []
    for name, value in example.active.items():
        if name == drop:
            continue
        if SECRET_NAME.search(name) or name == "MINIO_ROOT_USER":
            value = f"sentinel{name.lower().replace('_', '')}{uuid.uuid4().hex[:8]}"
            sentinels[name] = value
        lines.append(f"{name}={json.dumps(value)}")
    path = tmp / f"env-{uuid.uuid4().hex[:6]}"
    path.write_text("\n".join(lines) + "\n")
    return path, sentinels


def _render(compose: list[str], env_file: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [
            *compose,
            "--env-file",
            str(env_file),
            "--project-directory",
            str(REPO),
            "-f",
            str(REPO / "docker-compose.yml"),
            "config",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
        timeout=120,
    )


@pytest.fixture(scope="module")
def rendered(compose, env_example, tmp_path_factory) -> tuple[dict, dict[str, str]]:
    """`compose config` output (parsed) and the sentinel secret values that went in."""
    env_file, sentinels = _env_file(tmp_path_factory.mktemp("compose"), env_example)
    proc = _render(compose, env_file)
    assert proc.returncode == 0, f"compose config failed:\n{proc.stderr}"
    return yaml.safe_load(proc.stdout), sentinels


@pytest.fixture(scope="module")
def services(rendered) -> dict[str, dict]:
    """Rendered services by name."""
    return rendered[0]["services"]


@pytest.fixture(scope="module")
def raw() -> dict:
    """docker-compose.yml as written (before interpolation)."""
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def _published(service: dict) -> list[tuple[str, int, int]]:
    """(host_ip, published, target) for every published port, whatever syntax the renderer used."""
    result = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            if port.get("published") in (None, ""):
                continue
            result.append((port.get("host_ip", ""), int(port["published"]), int(port["target"])))
            continue
        spec = str(port).split("/")[0]
        parts = spec.rsplit(":", 2)
        if len(parts) == 1:
            continue  # container port only: not published
        host_ip = parts[0] if len(parts) == 3 else ""
        result.append((host_ip, int(parts[-2]), int(parts[-1])))
    return result


def _depends(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {d: "service_started" for d in deps}
    return {k: (v or {}).get("condition", "service_started") for k, v in deps.items()}


# --------------------------------------------------------------------------------------------- services


def test_every_service_exists(services):
    missing = {*APP_CONTAINERS, *INFRA} - set(services)
    assert not missing, f"compose lacks services: {sorted(missing)}"


def test_images_come_from_the_service_dockerfiles(services):
    for name in APP_CONTAINERS:
        svc = name.split("-")[0]
        build = services[name].get("build") or {}
        assert build.get("dockerfile", "").endswith(f"services/{svc}/Dockerfile"), name
        assert Path(build.get("context", "")).resolve() == REPO, f"{name}: build context must be the repo root"
        assert services[name]["image"].split("/")[-1].startswith(f"{svc}:"), name


def test_commands_are_the_documented_entry_points(services, entry_points):
    for svc in ALL_SERVICES:
        assert services[svc]["command"] == [svc]
        assert svc in entry_points[svc], f"services/{svc}/pyproject.toml has no `{svc}` script"
    for svc in API_SERVICES:
        assert services[f"{svc}-migrate"]["command"] == [f"{svc}-migrate"]
        assert f"{svc}-migrate" in entry_points[svc], f"services/{svc}/pyproject.toml has no `{svc}-migrate` script"
    for worker in WORKERS:
        assert services[worker]["command"] == ["media-worker"]
    assert "media-worker" in entry_points["media"]


def test_ports_follow_conventions(services):
    for svc, port in PORTS.items():
        assert _env(services[svc]).get("PORT") == str(port), svc
    env = _env(services["gateway"])
    for svc in API_SERVICES:
        assert env[f"{svc.upper()}_URL"] == f"http://{svc}:{PORTS[svc]}"


def test_gateway_is_the_only_published_api_port(services):
    gateway = _published(services["gateway"])
    assert [(p, t) for _, p, t in gateway] == [(5000, 5000)], gateway
    for name in (*API_SERVICES, *MIGRATIONS, *WORKERS, "postgres", "redis", "rabbitmq-setup", "minio-setup"):
        assert not _published(services[name]), f"{name} must not publish ports"
    for name, svc in services.items():
        if name == "gateway":
            continue
        for host_ip, published, target in _published(svc):
            # operator UIs bind OPS_BIND_ADDR (127.0.0.1 by default), never all interfaces
            assert host_ip == "127.0.0.1", f"{name} publishes {published} on all interfaces"
            assert target not in PORTS.values(), f"{name} publishes an API port"


def test_api_services_are_on_the_internal_network_only(rendered, services):
    networks = rendered[0]["networks"]
    assert networks["backend"].get("internal") is True
    for name in (*API_SERVICES, *MIGRATIONS, *WORKERS, "postgres", "redis"):
        assert set(services[name]["networks"]) == {"backend"}, name
    assert set(services["gateway"]["networks"]) == {"backend", "edge"}


def test_api_services_have_healthchecks_and_wait_for_migrations(services):
    for svc in ALL_SERVICES:
        hc = services[svc].get("healthcheck") or {}
        assert hc and not hc.get("disable"), f"{svc} has no healthcheck"
        assert "healthcheck.py" in " ".join(hc["test"]) or "/health" in " ".join(hc["test"]), svc
    for svc in API_SERVICES:
        deps = _depends(services[svc])
        assert deps.get(f"{svc}-migrate") == "service_completed_successfully", f"{svc} must wait for {svc}-migrate"
        for infra in ("postgres", "rabbitmq", "redis"):
            assert deps.get(infra) == "service_healthy", f"{svc} must wait for {infra} to be healthy"
        assert deps.get("rabbitmq-setup") == "service_completed_successfully", svc
        migrate = _depends(services[f"{svc}-migrate"])
        assert migrate.get("postgres") == "service_healthy"
        assert services[f"{svc}-migrate"].get("restart") in (None, "no")
    assert _depends(services["media"]).get("minio-setup") == "service_completed_successfully"
    gateway = _depends(services["gateway"])
    for svc in API_SERVICES:
        assert gateway.get(svc) == "service_healthy", f"gateway must wait for {svc}"
    for infra in ("postgres", "rabbitmq", "minio", "redis"):
        assert services[infra].get("healthcheck"), f"{infra} has no healthcheck"
    assert _depends(services["minio-setup"]).get("minio") == "service_healthy"


def test_workers_scale(services):
    """`--scale media-worker-images=3` works: no container_name, no host ports, one queue each."""
    for queue, name in zip(WORKER_QUEUES, WORKERS, strict=True):
        worker = services[name]
        assert "container_name" not in worker, name
        assert not worker.get("ports"), name
        assert _env(worker)["MEDIA_WORKER_QUEUES"] == queue
        deps = _depends(worker)
        assert deps.get("media-migrate") == "service_completed_successfully"
        assert deps.get("minio-setup") == "service_completed_successfully"
    for name in APP_CONTAINERS:
        assert "container_name" not in services[name], f"{name}: container_name blocks scaling"


def test_app_containers_are_hardened(services):
    for name in APP_CONTAINERS:
        svc = services[name]
        assert svc.get("read_only") is True, name
        assert "ALL" in (svc.get("cap_drop") or []), name
        assert any("no-new-privileges" in o for o in svc.get("security_opt") or []), name


def test_flower_points_at_rabbitmq(services):
    env = _env(services["flower"])
    assert services["flower"]["image"].startswith("mher/flower")
    assert "@rabbitmq:5672/" in env["CELERY_BROKER_URL"]
    assert "@rabbitmq:15672/api" in env["FLOWER_BROKER_API"]


# --------------------------------------------------------------------------------------------- settings and secrets


def test_env_names_are_documented(services, raw, env_example):
    """Every variable an app container gets, and every `${VAR}` the file interpolates, is in .env.example."""
    for name in APP_CONTAINERS:
        undocumented = set(_env(services[name])) - env_example.documented
        assert not undocumented, f"{name}: {sorted(undocumented)} not documented in .env.example"
    text = yaml.safe_dump(raw, width=1 << 20)  # values only: comments may mention ${VAR} as prose
    referenced = {m.group(1) for m in VAR_REF.finditer(text)}
    assert not referenced - env_example.documented, sorted(referenced - env_example.documented)


def test_env_given_to_containers_is_read_by_the_service(services, service_reads, composition_only):
    """A variable passed to a container that its settings do not read is a typo or a stale name."""
    for name in APP_CONTAINERS:
        svc = name.split("-")[0]
        reads = service_reads[svc]
        if reads is None:
            continue  # settings not landed yet
        unread = set(_env(services[name])) - reads - composition_only
        assert not unread, f"{name}: {sorted(unread)} are not read by {svc}'s settings"


def test_env_example_lists_what_the_brief_requires(env_example):
    required = {
        "ENV",
        "LOG_LEVEL",
        "PUBLIC_BASE_URL",
        "JWT_ISSUER",
        "JWT_AUDIENCE",
        "INTERNAL_TOKEN",
        "BUS_RELAY_ENABLED",
        "BUS_CONSUMER_ENABLED",
        "DATABASE_URL",
        "BROKER_URL",
        "REDIS_URL",
        "AUTH_URL",
        "SHOWS_URL",
        "MEDIA_URL",
        "SOCIAL_URL",
        "VAR_DIR",
        "MEDIA_STORAGE",
        "S3_ENDPOINT_URL",
        "S3_BUCKET",
        "S3_ACCESS_KEY_ID",
        "S3_SECRET_ACCESS_KEY",
        "S3_REGION",
        "S3_PUBLIC_ENDPOINT_URL",
        "SMTP_URL",
        "AUTH_MAIL_FROM",
        "AUTH_SMS_SENDER",
        "GATEWAY_CORS_ORIGINS",
        "GATEWAY_WEB_DIR",
        "MEDIA_PHOTO_MAX_BYTES",
        "MEDIA_AUDIO_MAX_BYTES",
        "MEDIA_VIDEO_MAX_BYTES",
        "MEDIA_WORKER_QUEUES",
        "MEDIA_TASK_HARD_LIMIT_S",
        "AUTH_JWT_PRIVATE_KEY",
        "AUTH_TOTP_ENCRYPTION_KEY",
        *REQUIRED_SECRETS,
    }
    assert not required - env_example.documented, sorted(required - env_example.documented)
    assert any(n.startswith("GATEWAY_RATE_LIMIT") for n in env_example.documented)
    assert int(env_example.active["MEDIA_PHOTO_MAX_BYTES"]) == 50 * 1024 * 1024
    assert int(env_example.active["MEDIA_AUDIO_MAX_BYTES"]) == 1024**3
    assert int(env_example.active["MEDIA_VIDEO_MAX_BYTES"]) == 4 * 1024**3
    assert env_example.active["S3_BUCKET"] == "sharemyshows-media"
    assert env_example.active["MEDIA_STORAGE"] in ("s3", "local")


def test_no_secret_literals_in_the_compose_file(raw):
    """Secret-named variables are `${VAR:?...}` references, and URLs embed credentials only through references."""

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                yield from walk(v, f"{path}.{k}")
                if isinstance(k, str) and SECRET_NAME.search(k) and not isinstance(v, dict | list):
                    value = "" if v is None else str(v)
                    assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", value), f"{path}.{k} = {value!r} is not ${{VAR:?}}"
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from walk(v, f"{path}[{i}]")
        elif isinstance(node, str):
            yield path, node

    for path, value in walk(raw, ""):
        # mark `${VAR:?..}` as REQ and other references as OPT, then look at the password part of user:pass@host
        marked = re.sub(r"\$\{[A-Z0-9_]+:\?[^}]*\}", "REQ", value)
        marked = re.sub(r"\$\{[^}]*\}|\$\$[A-Z_]+", "OPT", marked)
        for m in re.finditer(r"://([^/@]*)@", marked):
            creds = m.group(1)
            password = creds.split(":", 1)[1] if ":" in creds else ""
            assert password in ("", "REQ"), f"{path}: credential in {value!r} is not a required ${{VAR:?}} reference"


def test_secrets_flow_from_the_env_file(rendered):
    """Each sentinel secret reaches the containers, so nothing in the file shadows it."""
    config, sentinels = rendered
    text = yaml.safe_dump(config)
    for name, value in sentinels.items():
        assert value in text, f"{name} from the env file does not reach any container"


def test_make_env_generates_usable_secrets(compose, tmp_path):
    """deploy/scripts/make-env.py fills every placeholder with a fresh, well-formed value and the result renders."""
    import sys

    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    out = subprocess.run(
        [sys.executable, str(REPO / "deploy/scripts/make-env.py")], capture_output=True, text=True, check=True
    ).stdout
    assert "change-me" not in "\n".join(line for line in out.splitlines() if not line.startswith("#"))
    env_file = tmp_path / ".env"
    env_file.write_text(out)
    proc = _render(compose, env_file)
    assert proc.returncode == 0, proc.stderr
    auth_env = _env(yaml.safe_load(proc.stdout)["services"]["auth"])
    key = load_pem_private_key(auth_env["AUTH_JWT_PRIVATE_KEY"].encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    Fernet(auth_env["AUTH_TOTP_ENCRYPTION_KEY"].encode())


@pytest.mark.parametrize("secret", REQUIRED_SECRETS)
def test_required_secrets_are_enforced(compose, env_example, tmp_path, secret):
    env_file, _ = _env_file(tmp_path, env_example, drop=secret)
    proc = _render(compose, env_file)
    assert proc.returncode != 0, f"compose config succeeded without {secret}"
    assert secret in proc.stderr


# --------------------------------------------------------------------------------------------- infrastructure config


def test_postgres_init_creates_one_database_per_service():
    sql = (REPO / "deploy/postgres/init-databases.sql").read_text()
    for svc in API_SERVICES:
        assert re.search(rf"CREATE DATABASE {svc}\b", sql), svc
        assert re.search(rf"CREATE ROLE {svc}\b.*PASSWORD :'{svc}_password'", sql), svc
    assert not re.search(r"PASSWORD\s+'", sql), "literal password in the init script"


def test_rabbitmq_definitions_and_timeouts(env_example):
    conf = (REPO / "deploy/rabbitmq/rabbitmq.conf").read_text()
    timeout_ms = int(re.search(r"^consumer_timeout\s*=\s*(\d+)", conf, re.M).group(1))
    hard_limit_s = int(env_example.active["MEDIA_TASK_HARD_LIMIT_S"])
    assert timeout_ms > hard_limit_s * 1000, "consumer_timeout must exceed the media hard time limit"
    defs = json.loads((REPO / "deploy/rabbitmq/definitions.json").read_text())
    assert not defs.get("users") and not defs.get("permissions"), "no users/password hashes in git"
    exchanges = {e["name"]: e for e in defs["exchanges"]}
    # must equal what shared.messaging / shared.celery declare, or their declarations fail (inequivalent args)
    from shared.messaging import DLX_NAME

    assert exchanges["sms.events"]["type"] == "topic" and exchanges["sms.events"]["durable"]
    assert exchanges[DLX_NAME]["type"] == "direct" and exchanges[DLX_NAME]["durable"]
    policies = {p["name"]: p for p in defs["policies"]}
    media = next(p for p in policies.values() if all(re.match(p["pattern"], q) for q in WORKER_QUEUES))
    d = media["definition"]
    assert 1 <= d["delivery-limit"] <= 5
    assert d["dead-letter-strategy"] == "at-least-once" and d["overflow"] == "reject-publish"
    assert d.get("consumer-timeout", timeout_ms) > hard_limit_s * 1000
    bound = {(b["source"], b["routing_key"]): b["destination"] for b in defs["bindings"]}
    for policy in policies.values():
        pd = policy["definition"]
        assert pd.get("delivery-limit", 1) > 0, "never an unlimited delivery-limit"
        assert pd["dead-letter-exchange"] in exchanges
        assert (pd["dead-letter-exchange"], pd["dead-letter-routing-key"]) in bound, f"{policy['name']}: DLQ unbound"
    # the dead-letter queues of the Celery media queues (shared.celery: routing key tasks.<queue>.dlq) exist
    for q in WORKER_QUEUES:
        assert (DLX_NAME, f"tasks.{q}.dlq") in bound, f"no dead-letter queue for {q}"
    # dead-letter queues never dead-letter themselves
    dlqs = {*bound.values(), "sms.auth.events.dlq"}
    assert not any(re.match(p["pattern"], q) for p in policies.values() for q in dlqs), "a DLQ matches a policy"
    assert re.match(policies["quorum-defaults"]["pattern"], "sms.auth.events")


def test_minio_setup_creates_the_bucket(env_example):
    script = (REPO / "deploy/minio/create-buckets.sh").read_text()
    assert "mc mb --ignore-existing" in script and "$S3_BUCKET" in script
    assert "sharemyshows-media" in script


def test_unfinished_uploads_expire_on_minio(raw):
    """The bucket setup asks for an AbortIncompleteMultipartUpload rule (S3 servers honour it, MinIO refuses it
    without failing the setup) and MinIO expires unfinished uploads itself after a day."""
    script = (REPO / "deploy/minio/create-buckets.sh").read_text()
    lifecycle = json.loads(script.split("cat > \"$LIFECYCLE\" <<JSON", 1)[1].split("JSON", 1)[0])
    (rule,) = lifecycle["Rules"]
    assert rule["Status"] == "Enabled" and rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] >= 1
    assert 'if mc ilm rule import "sms/$S3_BUCKET" < "$LIFECYCLE"' in script  # a refusal does not stop the setup
    env = raw["services"]["minio"]["environment"]
    assert env["MINIO_API_STALE_UPLOADS_EXPIRY"] == "24h"


# --------------------------------------------------------------------------------------------- Dockerfiles


@pytest.mark.parametrize("svc", ALL_SERVICES)
def test_dockerfile(svc):
    text = (REPO / "services" / svc / "Dockerfile").read_text()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    args = dict(re.findall(r"^ARG\s+([A-Z_]+)=(\S+)", text, re.M))
    images = [args.get(f.strip("${}"), f) for f in froms]
    assert images.count("python:3.11-slim") >= 2, f"{svc}: multi-stage on python:3.11-slim: {images}"
    assert re.search(r'pip install "?uv', text), f"{svc}: uv from PyPI"
    assert re.search(rf"uv sync --frozen --no-dev --package {svc}\b.*--no-editable", text), svc
    assert "USER 10001" in text
    assert re.search(r"^HEALTHCHECK .*python", text, re.M), f"{svc}: HEALTHCHECK with python"
    assert re.search(rf"^EXPOSE {PORTS[svc]}$", text, re.M)
    assert re.search(rf'^CMD \["{svc}"\]$', text, re.M)
    assert not re.search(r"^(ENV|ARG)\s+\S*(PASSWORD|SECRET|TOKEN|PRIVATE_KEY)", text, re.M), "secret in image"
    assert "apt-get install" not in text or svc == "media", f"{svc}: no system packages needed"
    if svc == "gateway":
        assert "node:20-slim" in images
        assert "npm ci" in text and "npm run build" in text
        assert "GATEWAY_WEB_DIR=/app/web" in text and "/app/web" in text
    if svc == "media":
        assert "ffmpeg" not in re.sub(r"#.*", "", text), "ffmpeg comes from the imageio-ffmpeg wheel"


def test_dockerignore_keeps_secrets_and_state_out():
    lines = set((REPO / ".dockerignore").read_text().split())
    for pattern in (".git", "**/.venv", "**/.env", "var", "web/node_modules", "web/dist"):
        assert pattern in lines, pattern


def test_healthcheck_script_uses_port_and_health():
    text = (REPO / "deploy/docker/healthcheck.py").read_text()
    assert "127.0.0.1" in text and "PORT" in text and "/health" in text
