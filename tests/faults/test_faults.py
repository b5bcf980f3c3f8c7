"""Fault injection against the real stack; each test prints attempted / stored / ready / lost counts.

A worker SIGKILLed mid-transcode is tested in tests/e2e/test_media_pipeline.py (it needs no stack of its own)."""

from __future__ import annotations

import signal
import subprocess
import threading
import time

import httpx
import pytest

from shared.testing.client import create_show, upload, wait_terminal
from shared.testing.media import jpeg_bytes
from shared.testing.plugin import wait_for

pytestmark = pytest.mark.faults


@pytest.mark.broker_restart  # stops the shared RabbitMQ: runs alone (make test-faults)
def test_rabbitmq_restart_during_upload_burst(fault_stack) -> None:
    fs = fault_stack()
    user = fs.user()
    show = create_show(user)
    photo_ids: list[int] = []
    failures: list[int] = []

    def burst() -> None:
        for i in range(100):
            try:
                r = upload(user, "photos", show["id"], f"p{i}.jpg", jpeg_bytes(800, 600, seed=i), "image/jpeg")
            except httpx.HTTPError:
                failures.append(-1)
                continue
            if r.status_code in (200, 201):
                photo_ids.append(r.json()["id"])
            else:
                assert r.status_code in (502, 503, 504), r.text  # a clean failure, with the contract body
                assert r.json()["code"]
                failures.append(r.status_code)

    t = threading.Thread(target=burst)
    t.start()
    wait_for(lambda: len(photo_ids) >= 20, 120, what="first uploads")
    subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True, timeout=120)
    time.sleep(5)
    subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True, timeout=120)
    subprocess.run(["rabbitmqctl", "await_startup"], check=True, capture_output=True, timeout=120)
    t.join(600)
    fs.counts.update(attempted=100, stored=len(set(photo_ids)), rejected=len(failures))
    final = wait_terminal(user, "photos", sorted(set(photo_ids)), 300)
    fs.counts["ready"] = sum(s == "ready" for s in final.values())
    fs.counts["failed"] = sum(s == "failed" for s in final.values())
    fs.counts["lost"] = fs.counts["stored"] - fs.counts["ready"] - fs.counts["failed"]
    fs.report("RabbitMQ restart")
    assert fs.counts["stored"] + fs.counts["rejected"] == 100
    assert fs.counts["lost"] == 0 and fs.counts["failed"] == 0


def test_storage_down_gives_503_and_recovers(fault_stack) -> None:
    fs = fault_stack()
    user = fs.user()
    show = create_show(user)
    ok = upload(user, "photos", show["id"], "before.jpg", jpeg_bytes(800, 600), "image/jpeg")
    assert ok.status_code == 201, ok.text
    before_keys = set(fs.env.s3.keys())  # type: ignore[union-attr]
    fs.s3_proxy.down()
    started = time.monotonic()
    r = upload(user, "photos", show["id"], "during.jpg", jpeg_bytes(800, 600, seed=3), "image/jpeg")
    elapsed = time.monotonic() - started
    assert r.status_code == 503, r.text
    assert r.json()["code"] and "error" in r.json()
    assert elapsed < 60
    listing = user.client.get(f"/api/photos/show/{show['id']}").json()
    assert listing["total"] == 1  # nothing half-written is referenced
    fs.s3_proxy.up()
    final = wait_terminal(user, "photos", [ok.json()["id"]], 120)
    assert final[ok.json()["id"]] == "ready"
    after = upload(user, "photos", show["id"], "after.jpg", jpeg_bytes(800, 600, seed=4), "image/jpeg")
    assert after.status_code == 201
    assert wait_terminal(user, "photos", [after.json()["id"]], 120)[after.json()["id"]] == "ready"
    # every object left in the bucket belongs to one of the two stored items: nothing half-written stays
    prefixes = {k.rsplit("/", 1)[0] for k in fs.env.s3.keys()}  # type: ignore[union-attr]
    assert len(prefixes) == 2, prefixes
    assert before_keys
    fs.counts.update(attempted=3, stored=2, ready=2, rejected=1, lost=0)
    fs.report("storage down")


def test_service_down_gateway_answers_503_fast(fault_stack) -> None:
    fs = fault_stack()
    user = fs.user()
    create_show(user)
    fs.stack.kill("shows", signal.SIGKILL)
    started = time.monotonic()
    r = user.client.get("/api/shows")
    assert r.status_code in (502, 503), r.text
    assert r.json()["code"]
    assert time.monotonic() - started < 5
    # the others keep working
    assert user.client.get("/api/auth/me").status_code == 200
    assert user.client.get("/api/friends").status_code == 200
    health = httpx.get(fs.stack.gateway_url + "/health").json()
    assert health["services"]["shows"] != "ok" and health["services"]["auth"] == "ok"
    fs.stack.restart("shows")
    assert user.client.get("/api/shows").status_code == 200


def test_consumer_down_catches_up_once(fault_stack) -> None:
    fs = fault_stack()
    user = fs.user()
    shows = [create_show(user, date=f"2024-0{i + 1}-10") for i in range(3)]
    ids = []
    for s in shows:
        r = upload(user, "photos", s["id"], "p.jpg", jpeg_bytes(640, 480), "image/jpeg")
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    wait_terminal(user, "photos", ids, 120)
    assert fs.env.s3.keys()  # type: ignore[union-attr]
    fs.stack.kill("media", signal.SIGKILL)
    fs.stack.kill("media-worker", signal.SIGKILL)
    for s in shows:
        assert user.client.delete(f"/api/shows/{s['id']}").status_code == 204
    time.sleep(2)
    fs.stack.restart("media")
    fs.stack.restart("media-worker")
    wait_for(lambda: not fs.env.s3.keys(), 60, what="objects of deleted shows removed")  # type: ignore[union-attr]
    assert user.client.get("/api/photos").json()["total"] == 0
    fs.counts.update(attempted=3, stored=3, ready=3, lost=0)
    fs.report("consumer down")
