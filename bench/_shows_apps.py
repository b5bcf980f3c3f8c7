"""The helper apps of bench/shows.py, importable by name so uvicorn can run them in several processes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Response


def stub_app() -> Any:
    """JWKS + media/social internal endpoints answering like healthy, empty services."""
    app = FastAPI()
    jwks = json.loads(Path(os.environ["BENCH_JWKS_FILE"]).read_text())

    @app.get("/jwks.json")
    def get_jwks() -> dict[str, Any]:
        return jwks

    @app.get("/api/auth/.well-known/jwks.json")
    def get_jwks_auth_path() -> dict[str, Any]:
        return jwks

    @app.get("/internal/media/show/{show_id}")
    async def media(show_id: int) -> dict[str, Any]:
        return {"photos": [], "audio": [], "videos": []}

    @app.get("/internal/comments/show/{show_id}")
    async def comments(show_id: int) -> dict[str, Any]:
        return {"comments": [], "total": 0}

    @app.get("/internal/users/{user_id}/counts")
    async def counts(user_id: int) -> dict[str, int]:
        return {"photos": 0, "audio": 0, "videos": 0, "comments": 0, "friends": 0}

    @app.get("/internal/sessions/revoked")
    async def revoked() -> dict[str, Any]:
        return {"revocations": [], "cursor": 0}  # auth's catch-up: nothing revoked

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def bare_app() -> Any:
    """The same queries as the shows service, served by plain FastAPI + SQLAlchemy (no auth, no middleware)."""
    from shared.db import make_engine, make_session_factory
    from shows import repository as repo
    from shows.db import outbox
    from shows.serialize import show_json, song_json

    engine = make_engine(os.environ["BENCH_DATABASE_URL"])
    factory = make_session_factory(engine, outbox)
    user_id = int(os.environ["BENCH_USER_ID"])
    app = FastAPI()

    @app.get("/bare/shows")
    def list_shows(response: Response, limit: int = 20, offset: int = 0) -> list[dict[str, Any]]:
        with factory() as s:
            rows, total = repo.list_shows(
                s,
                owner_id=user_id,
                visibility=None,
                filters=repo.ShowFilters(),
                ascending=False,
                limit=min(max(limit, 1), 100),
                offset=offset,
            )
            response.headers["X-Total-Count"] = str(total)
            return [show_json(r, user_id) for r in rows]

    @app.get("/bare/shows/{show_id}")
    def get_show(show_id: int) -> dict[str, Any]:
        with factory() as s:
            row = repo.show_row(s, show_id)
            assert row is not None
            body = show_json(row, user_id)
            body["setlist"] = [song_json(x) for x in repo.list_songs(s, show_id)]
            body.update({"photos": [], "audio": [], "videos": [], "comments": []})
            return body

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
