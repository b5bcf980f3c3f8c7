"""pytest plugin (loaded for every test run): real servers per run, tokens, and the whole stack.

Fixtures
- `signer`, `jwks`, `token_verifier`, `token_factory`: mint and verify tokens in-process.
- `pg_url_factory`: `factory(name) -> url` of a fresh PostgreSQL database (dropped after the run).
- `rabbit_vhost`: a fresh RabbitMQ vhost for this run; `rabbit_url`.
- `s3_server`: an S3 API server (moto) on a free port; `S3Server.endpoint`, `.bucket`.
- `stack`: every service as a real process (PostgreSQL, RabbitMQ, S3, a Celery worker), once per run.
- `api`: an httpx client on the gateway; `make_user`: register + log in a fresh user.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.auth import TokenSigner, TokenVerifier
from shared.stack import Stack, free_port
from shared.testing import infra
from shared.testing.fakepush import vapid_private_key
from shared.testing.infra import S3Server

RUN_ID = uuid.uuid4().hex[:8]
FAKE_SETLISTFM_KEY = "e2e-setlistfm-key"
ISSUER = "sharemyshows-auth"
AUDIENCE = "sharemyshows"
# limits of the e2e stack (tests/e2e/test_edge_limits.py fills them)
E2E_QUOTA_BYTES = 64 * 1024 * 1024
E2E_UPLOAD_RATE = 60
E2E_UPLOAD_WINDOW_S = 60  # uploads per window: small enough to fill in a test
E2E_METRICS_TOKEN = f"metrics-{RUN_ID}"



def pytest_addoption(parser: pytest.Parser) -> None:
    """`--live`: the catalogue client tests call the real MusicBrainz / setlist.fm (same as SMS_LIVE_SOURCES=1)."""
    parser.addoption("--live", action="store_true", default=False, help="call the real catalogue sources")


def pytest_configure(config: pytest.Config) -> None:
    """Turn `--live` into the environment switch the tests read."""
    if config.getoption("--live", default=False):
        os.environ["SMS_LIVE_SOURCES"] = "1"


# ---------------------------------------------------------------- tokens (in-process tests)


@pytest.fixture(scope="session")
def signer() -> TokenSigner:
    """A test signing key (Ed25519) with the platform's issuer and audience."""
    return TokenSigner(Ed25519PrivateKey.generate(), ISSUER, AUDIENCE)


@pytest.fixture(scope="session")
def jwks(signer: TokenSigner) -> dict[str, Any]:
    """The public key set of the test signer."""
    return signer.jwks()


@pytest.fixture(scope="session")
def token_verifier(jwks: dict[str, Any]) -> TokenVerifier:
    """A verifier that trusts the test signer (no network)."""
    return TokenVerifier(None, ISSUER, AUDIENCE, jwks=jwks)


@pytest.fixture(scope="session")
def token_factory(signer: TokenSigner) -> Callable[..., str]:
    """`token_factory(user_id, username="u<id>", ttl_s=3600) -> bearer access token`."""

    def make(user_id: int, username: str | None = None, ttl_s: int = 3600) -> str:
        token, _ = signer.access_token(user_id, username or f"user{user_id}", ttl_s)
        return token

    return make


# ---------------------------------------------------------------- PostgreSQL, RabbitMQ, S3


@pytest.fixture(scope="session")
def pg_url_factory() -> Iterator[Callable[[str], str]]:
    """`factory(name) -> url` of a fresh database for this run; all are dropped at the end."""
    try:
        infra.check_postgres()
    except infra.ServerMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    created: list[str] = []

    def make(name: str) -> str:
        db = f"sms_{RUN_ID}_{name}".lower()
        url = infra.create_database(db)
        created.append(db)
        return url

    yield make
    for db in created:
        with contextlib.suppress(Exception):
            infra.drop_database(db)


@pytest.fixture(scope="session")
def rabbit_vhost() -> Iterator[str]:
    """A fresh vhost for this run (deleted at the end)."""
    vhost = f"sms_{RUN_ID}"
    try:
        infra.create_vhost(vhost)
    except infra.ServerMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    yield vhost
    infra.delete_vhost(vhost)


@pytest.fixture(scope="session")
def rabbit_url(rabbit_vhost: str) -> str:
    """AMQP URL of this run's vhost."""
    return f"amqp://guest:guest@{infra.RABBIT_HOST}/{rabbit_vhost}"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """An S3 API server (moto) for this run, with an empty bucket."""
    server = S3Server.launch(f"sms-test-{RUN_ID}")
    yield server
    server.stop()


# ---------------------------------------------------------------- the whole stack


@pytest.fixture(scope="session")
def fake_sources() -> Iterator[str]:
    """The recorded MusicBrainz / setlist.fm / Wikidata answers served by `shared.testing.fakesources` (a process)."""
    from shared.stack import REPO_ROOT

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "shared.testing.fakesources", "--port", str(port), "--fixtures",
         str(REPO_ROOT / "tests" / "fixtures"), "--setlistfm-key", FAKE_SETLISTFM_KEY],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(base + "/_requests", timeout=1.0)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("the fake source server did not start", pytrace=False)
            time.sleep(0.1)
    yield base
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)


@pytest.fixture(scope="session")
def stack_env(
    tmp_path_factory: pytest.TempPathFactory,
    pg_url_factory: Callable[[str], str],
    rabbit_url: str,
    s3_server: S3Server,
    fake_sources: str,
) -> dict[str, str]:
    """The environment of a full-mode stack: PostgreSQL per service, RabbitMQ vhost, S3 bucket."""
    env = dict(os.environ)
    for key in list(env):
        if key.endswith("_DATABASE_URL") or key in ("DATABASE_URL", "BROKER_URL"):
            env.pop(key)
    env.update(
        {
            "ENV": "testing",
            "BROKER_URL": rabbit_url,
            **s3_server.env(),
            "INTERNAL_TOKEN": secrets.token_urlsafe(24),
            "LOG_LEVEL": "INFO",
            # generous limits: the suites create many users from one IP
            "GATEWAY_RATE_LIMIT_IP": "100000",
            "GATEWAY_RATE_LIMIT_USER": "100000",
            "AUTH_REGISTER_LIMIT_PER_IP": "100000",
            "AUTH_LOGIN_LIMIT_PER_IP": "100000",
            # the catalogue's sources are the fake server (real sockets, recorded answers)
            "SHOWS_MUSICBRAINZ_URL": fake_sources,
            "SHOWS_SETLISTFM_URL": fake_sources + "/rest",
            "SHOWS_WIKIDATA_URL": fake_sources,
            "SETLISTFM_API_KEY": FAKE_SETLISTFM_KEY,
            "SHOWS_CATALOG_RETRY_BACKOFF_S": "1",
            # small enough that the e2e tests can fill them (each test uses fresh users)
            "MEDIA_USER_QUOTA_BYTES": str(E2E_QUOTA_BYTES),
            "MEDIA_UPLOAD_RATE_LIMIT": str(E2E_UPLOAD_RATE),
            "MEDIA_UPLOAD_RATE_WINDOW_S": str(E2E_UPLOAD_WINDOW_S),
            "GATEWAY_METRICS_TOKEN": E2E_METRICS_TOKEN,
            # Web Push on, to a fake push service in the test process (shared.testing.fakepush)
            "SOCIAL_VAPID_PRIVATE_KEY": vapid_private_key(),
            "SOCIAL_PUSH_INSECURE_HOSTS": "127.0.0.1",
        }
    )
    for svc in ("auth", "shows", "media", "social"):
        env[f"{svc.upper()}_DATABASE_URL"] = pg_url_factory(svc)
    return env


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, stack_env: dict[str, str]) -> Iterator[Stack]:
    """Every service of this checkout as a real process, started once per test run."""
    var_dir = tmp_path_factory.mktemp("stack-var")
    ports = {name: free_port() for name in ("gateway", "auth", "shows", "media", "social")}
    env = dict(stack_env)
    env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{ports['gateway']}"
    s = Stack(var_dir, env=env, ports=ports, worker_count=int(os.environ.get("TEST_MEDIA_WORKERS", "1")))
    try:
        s.start(timeout_s=120)
    except Exception:
        s.stop()
        raise
    yield s
    s.stop()


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    """An anonymous client on the gateway."""
    with httpx.Client(base_url=stack.gateway_url, timeout=30.0) as client:
        yield client


@dataclass
class TestUser:
    """A registered, signed-in user and an httpx client that carries their bearer token."""

    __test__ = False
    id: int
    username: str
    email: str
    password: str
    access_token: str
    client: httpx.Client

    def headers(self) -> dict[str, str]:
        """The Authorization header of this user."""
        return {"Authorization": f"Bearer {self.access_token}"}


def register_and_login(base_url: str, username: str | None = None, password: str | None = None) -> TestUser:
    """Register a fresh user through the gateway and sign in (bearer token)."""
    username = username or f"u{uuid.uuid4().hex[:12]}"
    email = f"{username.lower()}@example.test"
    password = password or f"stage lights {secrets.token_hex(6)} encore"
    client = httpx.Client(base_url=base_url, timeout=30.0)
    reg = client.post("/api/auth/register", json={"username": username, "email": email, "password": password})
    assert reg.status_code == 201, reg.text
    login = client.post("/api/auth/login", json={"username": username, "password": password})
    assert login.status_code == 200, login.text
    body = login.json()
    token = body["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    client.cookies.clear()  # bearer only: cookie-auth CSRF rules are tested separately
    return TestUser(body["user"]["id"], username, email, password, token, client)


@pytest.fixture
def make_user(stack: Stack) -> Iterator[Callable[..., TestUser]]:
    """`make_user(username=None, password=None) -> TestUser` (clients closed after the test)."""
    users: list[TestUser] = []

    def make(username: str | None = None, password: str | None = None) -> TestUser:
        user = register_and_login(stack.gateway_url, username, password)
        users.append(user)
        return user

    yield make
    for u in users:
        u.client.close()


@contextlib.contextmanager
def extra_instance(stack: Stack, name: str, **env: str) -> Iterator[str]:
    """Another process of service `name` on the stack's databases and broker, with `env` on top; its URL.

    The gateway keeps using the stack's own instance: tests talk to this one directly.
    """
    import subprocess

    spec = next(s for s in stack.specs if s.name == name)
    full = stack.env_for(spec)
    port = free_port()
    full.update({"PORT": str(port), **env})
    log = (stack.var_dir / "log" / f"{name}-extra-{port}.log").open("wb")
    proc = subprocess.Popen(stack._python_cmd(spec.entry), env=full, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert proc.poll() is None, f"the extra {name} instance exited (log: {log.name})"
        try:
            return httpx.get(f"{url}/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(ready, 60, what=f"the extra {name} instance")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def wait_for(predicate: Callable[[], Any], timeout_s: float = 30.0, interval_s: float = 0.2, what: str = "") -> Any:
    """Poll until `predicate()` is truthy; fail the test with `what` otherwise."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval_s)
    pytest.fail(f"timed out after {timeout_s}s waiting for {what or predicate} (last: {last!r})")
