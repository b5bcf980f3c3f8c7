"""Fixtures of the shows tests: a migrated SQLite per test, the in-process app, tokens and fakes."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from shared.db import make_engine, make_session_factory, run_migrations
from shows.config import ShowsSettings
from shows.db import OutboxEvent, outbox
from shows.main import create_app

SEED_SHOW = {
    "artist_name": "Arctic Monkeys",
    "venue_name": "Madison Square Garden",
    "venue_location": "New York, NY",
    "date": "2024-12-01",
    "time": "20:00",
    "notes": "Amazing show!",
}


class FakePeers:
    """Media and social stand-ins: canned answers, or an error to simulate a service that is down."""

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.media: dict[str, list[dict[str, Any]]] = {"photos": [], "audio": [], "videos": []}
        self.comments: list[dict[str, Any]] = []
        self.media_counts = {"photos": 0, "audio": 0, "videos": 0}
        self.social_counts = {"comments": 0, "friends": 0}
        self.calls: list[str] = []

    def _check(self, name: str) -> None:
        self.calls.append(name)
        if name in self.down:
            raise ConnectionError(f"{name} is down")

    def show_media(self, show_id: int, viewer_id: int) -> dict[str, list[dict[str, Any]]]:
        self._check("media")
        return self.media

    def show_comments(self, show_id: int, viewer_id: int) -> list[dict[str, Any]]:
        self._check("social")
        return self.comments

    def user_media_counts(self, user_id: int) -> dict[str, int]:
        self._check("media")
        return self.media_counts

    def user_social_counts(self, user_id: int) -> dict[str, int]:
        self._check("social")
        return self.social_counts


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per run (copied for each test)."""
    path = tmp_path_factory.mktemp("shows-template") / "template.db"
    run_migrations("shows", f"sqlite:///{path}")
    return path


@pytest.fixture
def db_url(tmp_path: Path, migrated_db: Path) -> str:
    """A fresh migrated SQLite database for this test."""
    target = tmp_path / "shows.db"
    shutil.copy(migrated_db, target)
    return f"sqlite:///{target}"


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> ShowsSettings:
    """Settings for an in-process app without bus threads."""
    return ShowsSettings(
        ENV="testing",
        VAR_DIR=str(tmp_path / "var"),
        DATABASE_URL=db_url,
        BUS_RELAY_ENABLED=False,
        BUS_CONSUMER_ENABLED=False,
        BUS_EXCHANGE=f"sms.events.{tmp_path.name}",
        LOG_FORMAT="text",
        LOG_LEVEL="WARNING",
    )


@pytest.fixture
def peers() -> FakePeers:
    """Fake media and social."""
    return FakePeers()


@pytest.fixture
def app(settings: ShowsSettings, token_verifier: Any, peers: FakePeers) -> Any:
    """The shows app in-process."""
    return create_app(settings, token_verifier=token_verifier, peers=peers)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    """A test client (lifespan run)."""
    with TestClient(app) as c:
        yield c


@pytest.fixture
def auth(token_factory: Callable[..., str]) -> Callable[[int], dict[str, str]]:
    """`auth(user_id) -> headers` with a bearer token for user<id>."""

    def make(user_id: int, username: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token_factory(user_id, username or f'user{user_id}')}"}

    return make


@pytest.fixture
def session_factory(app: Any) -> sessionmaker[Session]:
    """Sessions on the app's database (for arranging state and reading the outbox)."""
    factory: sessionmaker[Session] = app.state.session_factory
    return factory


@pytest.fixture
def outbox_types(session_factory: sessionmaker[Session]) -> Callable[[], list[str]]:
    """`outbox_types() -> [event types in the outbox, oldest first]`."""

    def read() -> list[str]:
        with session_factory() as s:
            return [e.type for e in s.query(OutboxEvent).order_by(OutboxEvent.created_at)]

    return read


@pytest.fixture
def make_show(client: TestClient, auth: Callable[[int], dict[str, str]]) -> Callable[..., dict[str, Any]]:
    """`make_show(user_id, **fields) -> show JSON` (the seed body with overrides)."""

    def make(user_id: int = 1, **fields: Any) -> dict[str, Any]:
        body = {**SEED_SHOW, **fields}
        resp = client.post("/api/shows", json=body, headers=auth(user_id))
        assert resp.status_code == 201, resp.text
        return resp.json()

    return make


@pytest.fixture
def befriend(session_factory: sessionmaker[Session]) -> Callable[[int, int], None]:
    """Record an accepted friendship as social's event would."""
    from shows import service

    def make(a: int, b: int) -> None:
        with session_factory() as s:
            service.on_friendship(s, user_id=a, friend_id=b, accepted=True)
            s.commit()

    return make


def file_session_factory(url: str) -> sessionmaker[Session]:
    """A session factory on a database URL with the shows outbox (for thread tests)."""
    return make_session_factory(make_engine(url), outbox)
