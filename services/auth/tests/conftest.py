"""Fixtures of the auth tests: an in-process app on a fresh SQLite database, and mail helpers."""

from __future__ import annotations

import email
import email.policy
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from auth.config import AuthSettings
from auth.main import create_app
from shared.db import run_migrations

STRONG_PASSWORD = "stage lights and loud guitars"


def make_settings(tmp_path: Path, **overrides: Any) -> AuthSettings:
    """Settings for an isolated app under `tmp_path` (no bus threads, mail drained by the tests)."""
    db = tmp_path / "auth.db"
    values: dict[str, Any] = {
        "ENV": "testing",
        "VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{db}",
        "BUS_RELAY_ENABLED": False,
        "BUS_CONSUMER_ENABLED": False,
        "BUS_EXCHANGE": f"sms.events.{tmp_path.name}",
        "LOG_FORMAT": "text",
        "PUBLIC_BASE_URL": "https://shows.example",
        "mail_worker_enabled": False,
    }
    values.update(overrides)
    return AuthSettings(**values)


class Mailbox:
    """Reads the .eml files the app wrote (after draining its outbound table)."""

    def __init__(self, app: Any, folder: Path) -> None:
        self.app = app
        self.folder = folder

    def messages(self, to: str | None = None) -> list[email.message.EmailMessage]:
        """Every mail sent so far (optionally to one address), oldest first."""
        self.app.state.mailer.drain()
        out = []
        for path in sorted(self.folder.glob("*.eml")):
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if to is None or msg["To"] == to:
                out.append(msg)
        return out

    def last(self, to: str) -> email.message.EmailMessage:
        """The newest mail to `to`."""
        msgs = self.messages(to)
        assert msgs, f"no mail to {to}"
        return msgs[-1]

    @staticmethod
    def text(msg: email.message.EmailMessage) -> str:
        """The plain-text body."""
        part = msg.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())

    def last_code(self, to: str) -> str:
        """The 6-digit code of the newest mail to `to`."""
        match = re.search(r"\b(\d{6})\b", self.text(self.last(to)))
        assert match, "no code in mail"
        return match.group(1)

    def last_token(self, to: str, path: str) -> str:
        """The token of the newest `/path?token=` link mailed to `to`."""
        match = re.search(rf"/{path}\?token=([A-Za-z0-9_\-]+)", self.text(self.last(to)))
        assert match, f"no {path} link in mail"
        return match.group(1)


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., AuthSettings]:
    """`settings_factory(**overrides)` -> AuthSettings on this test's temp folder."""
    return lambda **kw: make_settings(tmp_path, **kw)


@pytest.fixture
def app_factory(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """`app_factory(**setting_overrides)` -> a started TestClient on a migrated SQLite database."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        settings = make_settings(tmp_path, **overrides)
        run_migrations("auth", settings.db_url)
        client = TestClient(create_app(settings), base_url="http://testserver")
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(app_factory: Callable[..., TestClient]) -> TestClient:
    """A started app with default settings."""
    return app_factory()


@pytest.fixture
def mailbox(client: TestClient, tmp_path: Path) -> Mailbox:
    """The mail sink of `client`'s app."""
    return Mailbox(client.app, tmp_path / "mail")


@pytest.fixture
def new_user(client: TestClient) -> Callable[..., dict[str, Any]]:
    """`new_user(**fields)` registers an account and returns its credentials and id."""

    def make(**fields: Any) -> dict[str, Any]:
        name = fields.pop("username", f"u{uuid.uuid4().hex[:10]}")
        body = {"username": name, "email": f"{name.lower()}@example.test", "password": STRONG_PASSWORD, **fields}
        r = client.post("/api/auth/register", json=body)
        assert r.status_code == 201, r.text
        return {**body, "id": r.json()["user"]["id"], "register": r.json()}

    return make


@pytest.fixture
def mailbox_for(tmp_path: Path) -> Callable[[TestClient], Mailbox]:
    """`mailbox_for(client)` -> the mail sink of that client's app."""
    return lambda c: Mailbox(c.app, tmp_path / "mail")
