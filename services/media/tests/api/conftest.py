"""In-process media app on SQLite + LocalStorage with a fake shows authority and a recording enqueuer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from media.clients import ShowAccess
from media.config import MediaSettings
from media.main import create_app
from media.pipeline import run_item
from media.storage import LocalStorage
from shared.db import after_commit, run_migrations


@dataclass
class FakeShows:
    """show_id -> (owner, visibility, viewers); public shows are visible to everyone."""

    shows: dict[int, tuple[int, str, set[int]]] = field(default_factory=dict)
    concert_of: dict[int, int] = field(default_factory=dict)  # show -> concert (0 when not said)
    calls: int = 0

    def add(self, show_id: int, owner: int, visibility: str = "private", viewers: set[int] | None = None) -> int:
        self.shows[show_id] = (owner, visibility, viewers or set())
        return show_id

    def access(self, show_id: int, user_id: int) -> ShowAccess | None:
        self.calls += 1
        if show_id not in self.shows:
            return None
        owner, visibility, viewers = self.shows[show_id]
        can_view = user_id == owner or visibility == "public" or user_id in viewers
        return ShowAccess(show_id=show_id, owner_id=owner, can_view=can_view, can_edit=user_id == owner,
                          show_name=f"Show {show_id}", concert_id=self.concert_of.get(show_id, 0),
                          visibility=visibility)


@dataclass
class FakeEnqueue:
    """Records what would be sent to the worker queues."""

    sent: list[tuple[str, int]] = field(default_factory=list)

    def __call__(self, session: Any, kind: str, media_id: int) -> None:
        after_commit(session, lambda: self.sent.append((kind, media_id)))  # sent only if the upload commits


@dataclass
class MediaEnv:
    """Everything a media API test needs."""

    client: TestClient
    app: Any
    settings: MediaSettings
    shows: FakeShows
    enqueue: FakeEnqueue
    storage: LocalStorage
    token: Callable[..., str]

    def auth(self, user_id: int) -> dict[str, str]:
        """Bearer header of a user."""
        return {"Authorization": f"Bearer {self.token(user_id)}"}

    def upload(self, user_id: int, kind: str, show_id: int | str, name: str, data: bytes,
               mime: str = "application/octet-stream", **fields: str) -> Any:
        """Multipart upload with the fields before the file."""
        return self.client.post(f"/api/{kind}", headers=self.auth(user_id),
                                data={"show_id": str(show_id), **fields}, files={"file": (name, data, mime)})

    def run_queued(self) -> list[str]:
        """Run every queued task as a plain function (no Celery), in order."""
        out = []
        while self.enqueue.sent:
            _kind, media_id = self.enqueue.sent.pop(0)
            out.append(run_item(self.app.state.session_factory, self.storage, self.settings, media_id))
        return out

    def keys(self, prefix: str = "") -> list[str]:
        """Every stored object key."""
        return self.storage.list(prefix)

    def outbox_types(self) -> list[str]:
        """Types of the events written so far."""
        from media.db import OutboxEvent

        with self.app.state.session_factory() as s:
            return [e.type for e in s.query(OutboxEvent).order_by(OutboxEvent.created_at)]


@pytest.fixture
def media_settings(tmp_path: Path) -> MediaSettings:
    """Settings on a temp SQLite database and objects folder, bus threads and sweep off."""
    db = tmp_path / "media.db"
    settings = MediaSettings(
        DATABASE_URL=f"sqlite:///{db}", VAR_DIR=str(tmp_path), ENV="testing", BUS_RELAY_ENABLED=False,
        BUS_CONSUMER_ENABLED=False, sweep_enabled=False, BUS_EXCHANGE=f"sms.events.{tmp_path.name}",
    )
    run_migrations("media", settings.db_url)
    return settings


class NoSetlists:
    """shows' concert answers when a test does not care: nobody else at the concert, no setlist."""

    def visible_shows(self, concert_id: int, viewer_id: int, *, setlists: bool = False) -> list[dict[str, Any]]:
        return []

    def setlist_timing(self, show_id: int) -> dict[str, Any] | None:
        return None


@pytest.fixture
def make_env(media_settings: MediaSettings, token_verifier: Any, token_factory: Callable[..., str],
             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., MediaEnv]]:
    """`make_env(store=None, **setting_overrides)`: the app with fakes, started inside a TestClient.

    The worker's questions to shows about setlists go to the app's `state.concerts` (a test may replace it).
    """
    clients: list[TestClient] = []
    apps: list[Any] = []
    monkeypatch.setattr("media.concerts.for_worker", lambda settings: apps[-1].state.concerts)

    def make(store: Any = None, **overrides: Any) -> MediaEnv:
        settings = media_settings.model_copy(update=overrides)
        shows, enqueue = FakeShows(), FakeEnqueue()
        store = store if store is not None else LocalStorage(tmp_path / "objects")
        app = create_app(settings, token_verifier=token_verifier, shows=shows, storage=store, enqueue=enqueue,
                         concerts=NoSetlists())
        apps.append(app)
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return MediaEnv(client, app, settings, shows, enqueue, store, token_factory)

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def env(make_env: Callable[..., MediaEnv]) -> MediaEnv:
    """The default app with fakes."""
    return make_env()
