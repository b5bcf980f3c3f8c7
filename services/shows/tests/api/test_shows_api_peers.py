"""The real HTTP peers: media and social answering, and down (degraded answers, never an error)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared.testing.directory import StaticDirectory
from shows.config import ShowsSettings
from shows.main import create_app

SEED = {"artist_name": "A", "venue_name": "V", "venue_location": "City, ST", "date": "2024-01-01"}


class _Peer(BaseHTTPRequestHandler):
    routes: dict[str, Any] = {}
    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        self.seen.append((self.path, self.headers.get("X-Internal-Token")))
        body = next((v for k, v in self.routes.items() if path.startswith(k)), None)
        data = json.dumps(body).encode()
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def peer_url() -> Iterator[str]:
    """A fake media + social (one server answering both services' internal paths)."""
    _Peer.routes = {
        "/internal/media/show/": {"photos": [{"id": 1}], "recordings": [{"id": 2}], "videos": [{"id": 3}]},
        "/internal/comments/show/": {"comments": [{"id": 4}], "total": 1},
        "/internal/users/": {"photos": 5, "audio": 6, "videos": 7, "comments": 8, "friends": 9},
    }
    _Peer.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Peer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _client(settings: ShowsSettings, token_verifier: Any, **urls: str) -> TestClient:
    s = settings.model_copy(update=urls)
    return TestClient(create_app(s, token_verifier=token_verifier, users=StaticDirectory()))


def test_http_peers_answering(settings: ShowsSettings, token_verifier: Any, auth: Any, peer_url: str) -> None:
    with _client(settings, token_verifier, media_url=peer_url, social_url=peer_url) as client:
        sid = client.post("/api/shows", json=SEED, headers=auth(1)).json()["id"]
        body = client.get(f"/api/shows/{sid}", headers=auth(1)).json()
        assert body["photos"] == [{"id": 1}] and body["audio"] == [{"id": 2}] and body["videos"] == [{"id": 3}]
        assert body["comments"] == [{"id": 4}] and body["degraded"] is None
        stats = client.get("/api/dashboard/stats", headers=auth(1)).json()
        assert (stats["total_photos"], stats["total_comments"], stats["total_friends"]) == (5, 8, 9)
    assert all(token == settings.internal_token for _, token in _Peer.seen)
    assert any(path.startswith(f"/internal/media/show/{sid}?viewer_id=1") for path, _ in _Peer.seen)


def test_http_peers_down(settings: ShowsSettings, token_verifier: Any, auth: Any) -> None:
    dead = "http://127.0.0.1:9"  # discard port: connection refused at once
    with _client(settings, token_verifier, media_url=dead, social_url=dead) as client:
        sid = client.post("/api/shows", json=SEED, headers=auth(1)).json()["id"]
        detail = client.get(f"/api/shows/{sid}", headers=auth(1))
        assert detail.status_code == 200
        assert detail.json()["photos"] == [] and sorted(detail.json()["degraded"]) == ["media", "social"]
        stats = client.get("/api/dashboard/stats", headers=auth(1)).json()
        assert stats["total_shows"] == 1 and sorted(stats["degraded"]) == ["media", "social"]
