"""The embedded path: API publishes to kombu's filesystem transport, a real `media-worker` process consumes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from media.clients import ShowAccess
from media.config import MediaSettings
from media.main import create_app
from shared.db import run_migrations
from shared.testing.media import jpeg_bytes, make_audio


class _OwnerOnly:
    def access(self, show_id: int, user_id: int) -> ShowAccess | None:
        return ShowAccess(show_id=show_id, owner_id=1, can_view=user_id == 1, can_edit=user_id == 1)


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[dict[str, Any]]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "BROKER_URL") and not k.startswith(("MEDIA_", "S3_"))}
    env.update({"VAR_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'media.db'}", "ENV": "testing",
                "MEDIA_WORKER_QUEUES": "images,audio", "MEDIA_WORKER_NAME": f"it-{tmp_path.name}",
                "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"})
    settings = MediaSettings(VAR_DIR=str(tmp_path), DATABASE_URL=env["DATABASE_URL"], ENV="testing",
                             BUS_CONSUMER_ENABLED=False, sweep_enabled=False)  # the relay sends the tasks
    assert settings.bus_url == "filesystem://"
    run_migrations("media", settings.db_url)
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-c", "import media.worker as m; m.main()"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield {"settings": settings, "proc": proc, "log": tmp_path / "worker.log"}
    finally:
        proc.terminate()  # the leader only: it stops its pool (shared.stack.Stack.stop says why)
        try:
            proc.wait(20)
        finally:
            with contextlib.suppress(ProcessLookupError):  # what is left of its group
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()


def test_filesystem_transport_end_to_end(embedded: dict[str, Any], token_verifier: Any, token_factory: Any,
                                         tmp_path: Path) -> None:
    app = create_app(embedded["settings"], token_verifier=token_verifier, shows=_OwnerOnly())
    h = {"Authorization": f"Bearer {token_factory(1)}"}
    wav = make_audio(tmp_path / "a.wav", seconds=2).read_bytes()
    with TestClient(app) as client:
        photo = client.post("/api/photos", headers=h, data={"show_id": "3"},
                            files={"file": ("a.jpg", jpeg_bytes(800, 600), "image/jpeg")})
        audio = client.post("/api/audio", headers=h, data={"show_id": "3"}, files={"file": ("a.wav", wav)})
        assert photo.status_code == audio.status_code == 201, (photo.text, audio.text)
        deadline = time.monotonic() + 90
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            for name, r in (("photos", photo), ("audio", audio)):
                states[name] = client.get(r.json()["url"], headers=h, params={"meta": 1}).json()["status"]
            if all(s != "processing" for s in states.values()):
                break
            assert embedded["proc"].poll() is None, embedded["log"].read_text()[-3000:]
            time.sleep(0.5)
        assert states == {"photos": "ready", "audio": "ready"}, embedded["log"].read_text()[-3000:]
        thumb = client.get(photo.json()["url"] + "/thumbnail", headers=h)
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
