"""Fixtures of the social tests: a fake shows/media world, an in-process app on SQLite, event helpers."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from shared.db import run_migrations, session_scope
from shared.events import Event, EventEnvelope, make_envelope
from shared.testing.directory import StaticDirectory

ACCESS_RE = re.compile(r"^/internal/shows/(\d+)/access$")
PHOTO_RE = re.compile(r"^/internal/media/photo/(\d+)$")
INFO_RE = re.compile(r"^/internal/shows/(\d+)$")
PROFILE_RE = re.compile(r"^/internal/users/(\d+)/public-profile$")
OWNER_PHOTOS_RE = re.compile(r"^/internal/media/shows/(\d+)/owner-photos(?:/(\d+)/(medium|large))?$")


@dataclass
class FakeWorld:
    """What the shows and media services would answer (visibility, friends, check-ins, photos)."""

    shows: dict[int, dict[str, Any]] = field(default_factory=dict)
    friends: set[frozenset[int]] = field(default_factory=set)
    checked_in: set[tuple[int, int]] = field(default_factory=set)  # (user_id, concert_id)
    photos: dict[int, dict[str, Any]] = field(default_factory=dict)
    shows_down: bool = False
    access_calls: int = 0
    friends_params: list[str | None] = field(default_factory=list)
    revoked: list[dict[str, Any]] = field(default_factory=list)
    jwks: dict[str, Any] = field(default_factory=dict)
    directory: StaticDirectory = field(default_factory=StaticDirectory)  # what auth knows of accounts

    def add_show(self, show_id: int, owner_id: int, *, visibility: str = "friends", concert_id: int | None = None,
                 visible_to: list[int] | None = None, name: str = "Band at Venue") -> None:
        """Register a show."""
        self.shows[show_id] = {"owner_id": owner_id, "visibility": visibility, "visible_to": visible_to,
                               "concert_id": concert_id or show_id * 10, "show_name": name,
                               "date": "2026-06-01"}

    def befriend(self, a: int, b: int) -> None:
        """Make two users friends (as shows knows it)."""
        self.friends.add(frozenset((a, b)))

    def access(self, show_id: int, user_id: int, friends: str | None = None) -> tuple[int, dict[str, Any]]:
        """The (status, body) of shows' access endpoint (`friends`: social's answer, as shows takes it)."""
        self.access_calls += 1
        self.friends_params.append(friends)
        show = self.shows.get(show_id)
        if show is None:
            return 404, {"error": "Show not found.", "code": "not_found"}
        owner = show["owner_id"]
        vis = show["visibility"]
        is_friend = frozenset((owner, user_id)) in self.friends if friends is None else friends in ("1", "true")
        can_view = (
            user_id == owner
            or vis == "public"
            or (vis == "friends" and is_friend and (show["visible_to"] is None or user_id in show["visible_to"]))
        )
        concert = show["concert_id"]
        logged = any(s["owner_id"] == user_id and s["concert_id"] == concert for s in self.shows.values())
        return 200, {
            "show_id": show_id, "owner_id": owner, "concert_id": concert, "visibility": vis,
            "can_view": can_view, "can_edit": user_id == owner, "logged_concert": logged,
            "checked_in": (user_id, concert) in self.checked_in, "show_name": show["show_name"],
            "date": show["date"],
        }

    def owner_photos(self, show_id: int, user_id: int, ids: list[int]) -> list[int]:
        """Of `ids`, media's ready photos of `user_id` on `show_id` (the share links' check)."""
        return [i for i in ids if (p := self.photos.get(i)) and p["show_id"] == show_id and p["user_id"] == user_id
                and p.get("status", "ready") == "ready"]

    def answer(self, path: str, params: dict[str, str]) -> tuple[int, Any]:
        """Route a fake internal request (bytes for a thumbnail, JSON otherwise)."""
        if m := PROFILE_RE.match(path):  # shows' public-profile query: only public shows
            own = [(sid, s) for sid, s in sorted(self.shows.items()) if s["owner_id"] == int(m.group(1))
                   and s["visibility"] == "public"]
            artists = sorted({s["show_name"].partition(" at ")[0] for _, s in own})
            return 200, {"shows": [{"id": sid, "date": s["date"], "artist": {"id": 1, "name": s["show_name"].partition(
                " at ")[0]}, "venue": {"id": 1, "name": s["show_name"].partition(" at ")[2]}} for sid, s in own],
                "counts": {"shows": len(own), "artists": len(artists), "venues": 1 if own else 0},
                "top_artists": [{"artist": {"id": 1, "name": a}, "shows": 1} for a in artists]}
        if m := OWNER_PHOTOS_RE.match(path):
            user = int(params.get("user_id", "0"))
            if m.group(2):
                ok = self.owner_photos(int(m.group(1)), user, [int(m.group(2))])
                return (200, f"webp {m.group(2)} {m.group(3)}".encode()) if ok else (404, {"code": "not_found"})
            ids = [int(i) for i in params.get("ids", "").split(",") if i]
            return 200, {"photos": [{"id": i, "width": 1200, "height": 800}
                                    for i in self.owner_photos(int(m.group(1)), user, ids)]}
        if m := ACCESS_RE.match(path):
            if self.shows_down:
                return 503, {"error": "down", "code": "service_unavailable"}
            return self.access(int(m.group(1)), int(params.get("user_id", "0")), params.get("friends"))
        if m := INFO_RE.match(path):  # shows' minimal facts of a show (the share page)
            show = self.shows.get(int(m.group(1)))
            if show is None:
                return 404, {"error": "Show not found.", "code": "not_found"}
            artist, _, venue = show["show_name"].partition(" at ")
            return 200, {"show_id": int(m.group(1)), "owner_id": show["owner_id"], "concert_id": show["concert_id"],
                         "visibility": show["visibility"], "visible_to": show["visible_to"],
                         "show_name": show["show_name"], "artist_name": artist, "venue_name": venue,
                         "date": show["date"], "time": show.get("time"), "setlist": show.get("setlist", [])}
        if m := PHOTO_RE.match(path):
            photo = self.photos.get(int(m.group(1)))
            if photo is None:
                return 404, {"error": "Photo not found.", "code": "not_found"}
            return 200, {"id": int(m.group(1)), "status": "ready", **photo}
        if path == "/jwks":
            return 200, self.jwks
        if path == "/internal/snapshot/users":
            ids = [int(p) for p in params.get("ids", "").split(",") if p]
            return 200, {"items": self.directory.fetch(ids), "next_after": None}
        if path == "/internal/sessions/revoked":  # auth's catch-up
            return 200, {"revocations": self.revoked, "cursor": 0}
        return 404, {"error": "no route", "code": "not_found"}

    def transport(self) -> httpx.MockTransport:
        """An httpx transport answering like shows + media."""

        def handler(request: httpx.Request) -> httpx.Response:
            if self.shows_down and ACCESS_RE.match(request.url.path):
                raise httpx.ConnectError("shows is down", request=request)
            status, body = self.answer(request.url.path, dict(request.url.params))
            if isinstance(body, bytes):
                return httpx.Response(status, content=body, headers={"Content-Type": "image/webp"})
            return httpx.Response(status, json=body)

        return httpx.MockTransport(handler)


@pytest.fixture
def world(jwks: dict[str, Any]) -> FakeWorld:
    """A fresh fake world."""
    return FakeWorld(jwks=jwks)


@pytest.fixture
def fake_server(world: FakeWorld) -> Iterator[str]:
    """The fake world as a real HTTP server (for uvicorn processes); yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = httpx.URL(self.path)
            status, body = world.answer(url.path, dict(url.params))
            binary = isinstance(body, bytes)
            data = body if binary else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "image/webp" if binary else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def social_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment of an isolated social instance (own SQLite file and bus folder)."""
    env = {
        "ENV": "testing",
        "VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'social.db'}",
        "LOG_FORMAT": "text",
        "LOG_LEVEL": "WARNING",
        "BUS_EXCHANGE": f"sms.events.{tmp_path.name}",
        "SOCIAL_CHAT_EXCHANGE": f"sms.chat.{tmp_path.name}",
    }
    env.update(extra)
    return env


@pytest.fixture
def make_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """`make_settings(**env)` → SocialSettings for an isolated instance."""
    from social.config import SocialSettings

    def make(**extra: str) -> SocialSettings:
        env = social_env(tmp_path, **{"BUS_RELAY_ENABLED": "false", "BUS_CONSUMER_ENABLED": "false",
                                      "SOCIAL_CHAT_BUS_ENABLED": "false", "SOCIAL_ACCESS_CACHE_TTL_S": "0", **extra})
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        return SocialSettings()

    return make


@dataclass
class SocialApp:
    """The in-process app, its client and helpers to feed events and mint tokens."""

    app: Any
    client: TestClient
    world: FakeWorld
    token_factory: Callable[..., str]
    subscriptions: Any
    directory: StaticDirectory

    def headers(self, user_id: int, username: str | None = None) -> dict[str, str]:
        """Bearer header of a user (whose account exists in auth under that name)."""
        if username:
            self.directory.names.setdefault(user_id, username)
        return {"Authorization": f"Bearer {self.token_factory(user_id, username or f'user{user_id}')}"}

    def deliver(self, event: Event, producer: str = "test", envelope: EventEnvelope | None = None) -> EventEnvelope:
        """Run an event through the real consumer path (inbox dedupe included)."""
        from shared.messaging import EventBus, EventConsumer

        env = envelope or make_envelope(event, producer)
        consumer = EventConsumer(EventBus(self.app.state.settings), self.subscriptions,
                                 self.app.state.session_factory, self.app.state.outbox)
        consumer.handle(env)
        return env

    def session(self) -> Any:
        """A committed unit of work on the app's database."""
        return session_scope(self.app.state.session_factory)

    def outbox_types(self) -> list[str]:
        """Types of the events written to the outbox so far, in order."""
        from sqlalchemy import select

        model = self.app.state.outbox.Event
        with self.session() as s:
            return [r.type for r in s.scalars(select(model).order_by(model.created_at, model.id))]

    def befriend(self, a: int, b: int) -> None:
        """Make two users friends in social (which owns friendships) and in shows' copy."""
        from social import repository as repo

        self.world.befriend(a, b)
        with self.session() as s:
            row = repo.add_friend_request(s, a, b)
            repo.accept_if_pending(s, row.id)

    def add_user(self, user_id: int, username: str, email: str | None = None) -> None:
        """Announce a user (user.registered, as auth would: the account exists there too)."""
        from shared.events import UserRegisteredV1

        self.directory.names[user_id] = username
        self.deliver(UserRegisteredV1(user_id=user_id, username=username, aggregate_version=1,
                                      email=email or f"{username.lower()}@example.test"))


def _build(settings: Any, world: FakeWorld, token_verifier: Any,
           token_factory: Callable[..., str]) -> Iterator[SocialApp]:
    from social.consumers import make_subscriptions
    from social.main import create_app

    directory = world.directory
    app = create_app(settings, users=directory)
    app.state.token_verifier = token_verifier
    for client in (app.state.shows_client.client, app.state.media_client.client):
        client._client = httpx.Client(transport=world.transport(), headers=dict(client._client.headers))
    # the consumer path (no live-socket hooks)
    subscriptions = make_subscriptions(app.state.shows_client.forget, shows=app.state.shows_client)
    with TestClient(app) as tc:
        yield SocialApp(app, tc, world, token_factory, subscriptions, directory)
    app.state.engine.dispose()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated once per run (each test gets a copy)."""
    path = tmp_path_factory.mktemp("social-template") / "template.db"
    run_migrations("social", f"sqlite:///{path}")
    return path


@pytest.fixture
def social(make_settings: Callable[..., Any], world: FakeWorld, token_verifier: Any,
           token_factory: Callable[..., str], migrated_template: Path, tmp_path: Path) -> Iterator[SocialApp]:
    """The social app in-process on SQLite (migrated), with shows/media faked by `world`."""
    import sqlite3

    target = tmp_path / "social.db"
    with contextlib.closing(sqlite3.connect(migrated_template)) as src, \
            contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
    settings = make_settings(DATABASE_URL=f"sqlite:///{target}")
    yield from _build(settings, world, token_verifier, token_factory)


@pytest.fixture
def social_factory(make_settings: Callable[..., Any], world: FakeWorld, token_factory: Callable[..., str],
                   migrated_template: Path, tmp_path: Path) -> Iterator[Callable[..., SocialApp]]:
    """`social_factory(verifier, **env)` → a started app like `social`, with its own verifier and settings."""
    import sqlite3

    builds: list[Iterator[SocialApp]] = []

    def make(verifier: Any, **env: str) -> SocialApp:
        target = tmp_path / f"social-{len(builds)}.db"
        with contextlib.closing(sqlite3.connect(migrated_template)) as src, \
                contextlib.closing(sqlite3.connect(target)) as dst:
            src.backup(dst)
        gen = _build(make_settings(DATABASE_URL=f"sqlite:///{target}", **env), world, verifier, token_factory)
        builds.append(gen)
        return next(gen)

    yield make
    for gen in reversed(builds):
        with contextlib.suppress(StopIteration):
            next(gen)


@pytest.fixture
def social_pg(make_settings: Callable[..., Any], world: FakeWorld, token_verifier: Any,
              token_factory: Callable[..., str], pg_url_factory: Callable[[str], str]) -> Iterator[SocialApp]:
    """The same app on a fresh PostgreSQL database (real concurrency: no SQLite write lock)."""
    from shared.db import make_engine
    from social import models  # noqa: F401 - registers the tables
    from social.db import Base

    url = pg_url_factory(f"social_{uuid.uuid4().hex[:8]}")
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    yield from _build(make_settings(DATABASE_URL=url), world, token_verifier, token_factory)
