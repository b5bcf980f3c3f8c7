"""Fault injection for the outbox relay, the filesystem bus's dead-lettering and the storage sweep."""

from __future__ import annotations

import collections
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kombu import Queue, binding
from sqlalchemy import select

from shared import deadletters
from shared.db import make_base, make_engine, make_session_factory, session_scope
from shared.events import FriendshipAcceptedV1, FriendshipRemovedV1, ShowCreatedV1, make_envelope
from shared.messaging import EventBus, OutboxRelay, Publisher, queue_name
from shared.outbox import make_outbox_models
from shared.settings import BaseServiceSettings
from shared.stack import REPO_ROOT, Stack, free_port
from shared.testing.client import create_show, wait_terminal
from shared.testing.infra import RABBIT_HOST
from shared.testing.media import make_audio
from shared.testing.plugin import wait_for
from shared.testing.tcpproxy import TcpProxy

pytestmark = pytest.mark.faults


# --------------------------------------------------------------------------------------------- relay


class CutAfter(OutboxRelay):
    """A relay whose broker connection is cut (TCP proxy down) right after `cut_after` confirmed publishes."""

    proxy: TcpProxy
    cut_after: int
    confirmed = 0
    cut = False

    def _connection(self) -> Publisher:
        publisher = super()._connection()
        if not getattr(publisher, "cuttable", False):
            real = publisher.publish

            def publish(env: dict[str, Any]) -> bool:
                if self.confirmed == self.cut_after and not self.cut:
                    self.cut = True
                    self.proxy.down()  # the broker is gone between two publishes of one batch
                routed = real(env)
                self.confirmed += 1
                return routed

            publisher.publish = publish  # type: ignore[method-assign]
            publisher.cuttable = True  # type: ignore[attr-defined]
        return publisher


def test_broker_lost_mid_batch_every_event_is_delivered_exactly_once(pg_url_factory, rabbit_vhost: str,
                                                                     tmp_path: Path) -> None:
    Base = make_base()
    outbox = make_outbox_models(Base, "social")
    engine = make_engine(pg_url_factory(f"relayfault_{uuid.uuid4().hex[:6]}"))
    Base.metadata.create_all(engine)
    factory = make_session_factory(engine, outbox)
    host, _, port = RABBIT_HOST.partition(":")
    proxy = TcpProxy(host, int(port or 5672))
    exchange = f"sms.events.{tmp_path.name}"
    direct = EventBus(BaseServiceSettings(BROKER_URL=f"amqp://guest:guest@{RABBIT_HOST}/{rabbit_vhost}",
                                          BUS_EXCHANGE=exchange, VAR_DIR=str(tmp_path)))
    via_proxy = EventBus(BaseServiceSettings(BROKER_URL=f"amqp://guest:guest@127.0.0.1:{proxy.port}/{rabbit_vhost}",
                                             BUS_EXCHANGE=exchange, VAR_DIR=str(tmp_path)))
    tap = Queue(f"tap.{uuid.uuid4().hex[:8]}", bindings=[binding(direct.exchange, routing_key="#")], durable=True)
    # 100 events of 10 friendships, accepted / removed in turn: one batch (200 rows max)
    events = []
    for round_ in range(5):
        for friend in range(2, 12):
            cls = FriendshipAcceptedV1 if round_ % 2 == 0 else FriendshipRemovedV1
            events.append(cls(user_id=1, friend_id=friend))
    events += [FriendshipAcceptedV1(user_id=1, friend_id=f) for f in range(12, 62)]
    with direct.connection() as conn:
        direct.declare_topology(conn)
        tap(conn.default_channel).declare()
    with session_scope(factory) as s:
        emitted = [str(outbox.emit(s, e).id) for e in events]
    relay = CutAfter(via_proxy, factory, outbox, poll_interval_s=0.1)
    relay.proxy, relay.cut_after = proxy, 40
    relay.start()
    try:
        wait_for(lambda: relay.confirmed >= 40, 30, what="the first 40 confirmed")
        time.sleep(3)  # the relay retries against a dead broker meanwhile
        with factory() as s:
            rows = {r.id: r for r in s.scalars(select(outbox.Event))}
        published_while_down = sum(r.published_at is not None for r in rows.values())
        failed = rows[emitted[40]]
        assert published_while_down == 40  # the confirmed rows were committed despite the failure
        assert failed.attempts >= 1 and failed.last_error and failed.published_at is None
        proxy.up()

        def all_published() -> bool:
            with factory() as s:
                return all(r.published_at is not None for r in s.scalars(select(outbox.Event)))

        wait_for(all_published, 60, what="every row published after the broker came back")
    finally:
        relay.stop()
        proxy.close()
    delivered: list[dict[str, Any]] = []
    with direct.connection() as conn:
        bound = tap(conn.default_channel)
        while (m := bound.get(no_ack=True, accept=["application/json"])) is not None:
            delivered.append(json.loads(m.body))
        bound.delete()
    counts = collections.Counter(d["id"] for d in delivered)
    print(f"\n[relay cut mid-batch] attempted=100, confirmed_before_cut=40, failed_row_attempts={failed.attempts}, "
          f"delivered={len(delivered)}, distinct={len(counts)}, duplicates={sum(c - 1 for c in counts.values())}")
    assert sorted(counts) == sorted(emitted) and set(counts.values()) == {1}
    # each friendship's events arrived in the order they were written
    order: dict[tuple[int, int], list[str]] = collections.defaultdict(list)
    for d in delivered:
        order[(d["data"]["user_id"], d["data"]["friend_id"])].append(d["type"])
    for (_, friend), types in order.items():
        expected = [type(e).type for e in events if e.friend_id == friend]
        assert types == expected, (friend, types)
    engine.dispose()


# --------------------------------------------------------------------------------------------- dead letters


@pytest.fixture
def embedded_media(tmp_path: Path) -> Iterator[tuple[Stack, BaseServiceSettings]]:
    """The media service alone in the embedded mode: SQLite, local objects, the kombu filesystem bus."""
    env = {k: v for k, v in os.environ.items()
           if not k.endswith("DATABASE_URL") and k not in ("BROKER_URL", "MEDIA_STORAGE", "REDIS_URL")}
    env.update({"ENV": "testing", "INTERNAL_TOKEN": secrets.token_urlsafe(16), "MEDIA_SWEEP_ENABLED": "false"})
    var = tmp_path / "var"
    stack = Stack(var, env=env, ports={"media": free_port()}, services=["media"])
    stack.start(timeout_s=120)
    yield stack, BaseServiceSettings(VAR_DIR=str(var))
    stack.stop()


def _failures(stack: Stack, event_type: str) -> int:
    log = stack.find("media")[0].log_path.read_text(errors="replace")
    return len(re.findall(rf"handler for {re.escape(event_type)} failed \(delivery \d+ of", log))


def _show_refs(settings: BaseServiceSettings) -> list[int]:
    engine = make_engine(f"sqlite:///{settings.var_dir.resolve() / 'media.db'}")
    try:
        with engine.connect() as conn:
            return [r[0] for r in conn.exec_driver_sql("SELECT show_id FROM show_ref ORDER BY show_id")]
    finally:
        engine.dispose()


def test_poison_event_on_the_filesystem_bus_is_dead_lettered_not_dropped_nor_retried_forever(
    embedded_media: tuple[Stack, BaseServiceSettings],
) -> None:
    stack, settings = embedded_media
    bus = EventBus(settings)
    poison = make_envelope(ShowCreatedV1(show_id=1, user_id=1, concert_id=1), "shows").model_dump(mode="json")
    poison["data"]["show_id"] = "not-a-number"  # every delivery fails validation in media's handler
    good = make_envelope(ShowCreatedV1(show_id=7, user_id=3, concert_id=2, show_name="after"), "shows")
    with bus.connection() as conn:
        bus.publish_envelopes(conn, [poison, good.model_dump(mode="json")])

    def dead() -> list[deadletters.DeadLetter]:
        return deadletters.run("list", ["media"], [], every=False, limit=100, settings=settings)

    wait_for(lambda: len(dead()) == 1, 60, what="the poison event in sms.media.events.dlq")
    wait_for(lambda: _show_refs(settings) == [7], 20, what="the event behind it applied")
    time.sleep(8)  # long enough for more retries, if there were any
    letters = dead()
    assert [(x.event_id, x.type) for x in letters] == [(str(poison["id"]), "show.created")]
    assert letters[0].error and "ValidationError" in letters[0].error
    assert _failures(stack, "show.created") == 5  # the delivery limit, then no more
    assert not list(settings.bus_folder.glob(f"*.{queue_name('media')}.msg"))  # nothing left in the live queue
    metrics = httpx.get(stack.url("media") + "/metrics").text
    assert 'bus_dead_lettered_total{service="media",type="show.created"} 1.0' in metrics

    # the operator's command line: replaying hands it to media again with a fresh delivery count
    env = {**stack.env_for(stack.specs[0]), "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run([sys.executable, "-m", "shared.deadletters", "replay", "--service", "media", "--all"],
                         env=env, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert out.returncode == 0 and "1 replayed" in out.stderr, out.stderr
    wait_for(lambda: _failures(stack, "show.created") == 10 and len(dead()) == 1, 60,
             what="five more deliveries, then back in the dead-letter queue")
    print(f"\n[poison on filesystem bus] deliveries={_failures(stack, 'show.created')} (5 + 5 after replay), "
          f"dead_letters={len(dead())}, dropped=0")


# --------------------------------------------------------------------------------------------- storage sweep


def _slow_multipart_body(path: Path, show_id: int, boundary: str, chunk: int, pause_s: float) -> Callable[[], Any]:
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"show_id\"\r\n\r\n{show_id}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.wav\"\r\n"
            "Content-Type: audio/wav\r\n\r\n").encode()

    def body() -> Iterator[bytes]:
        yield head
        with path.open("rb") as fh:
            while data := fh.read(chunk):
                time.sleep(pause_s)
                yield data
        yield f"\r\n--{boundary}--\r\n".encode()

    return body


def test_storage_sweep_removes_an_orphan_aborts_a_stale_upload_and_spares_one_in_flight(fault_stack,
                                                                                          tmp_path: Path) -> None:
    fs = fault_stack(MEDIA_ORPHAN_SWEEP_INTERVAL_S="1", MEDIA_ORPHAN_GRACE_S="3", MEDIA_STALE_UPLOAD_AGE_S="15")
    s3 = fs.env.s3
    assert s3 is not None
    client = s3.client()
    orphan = f"photo/4242/{uuid.uuid4().hex}/original.jpg"  # an upload whose row never committed
    client.put_object(Bucket=s3.bucket, Key=orphan, Body=b"\xff\xd8\xff orphan")
    stale = client.create_multipart_upload(Bucket=s3.bucket, Key=f"video/4242/{uuid.uuid4().hex}/original.mp4")
    client.upload_part(Bucket=s3.bucket, Key=stale["Key"], UploadId=stale["UploadId"], PartNumber=1,
                       Body=b"\0" * (5 * 1024 * 1024))
    user = fs.user()
    show = create_show(user)
    wav = make_audio(tmp_path / "slow.wav", seconds=200)  # ~17.6 MB: a multipart upload in 8 MiB parts
    time.sleep(4)  # the sweeper has seen the stale upload once by now
    boundary = uuid.uuid4().hex
    result: dict[str, Any] = {}

    def slow_upload() -> None:  # ~11 s on the wire, sweeps every 3 s meanwhile
        body = _slow_multipart_body(wav, show["id"], boundary, 1024 * 1024, 0.6)
        result["response"] = user.client.post("/api/audio", content=body(), timeout=180,
                                              headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})

    uploader = threading.Thread(target=slow_upload)
    uploader.start()
    wait_for(lambda: not any(k == orphan for k in s3.keys("photo/4242")), 60, what="the orphan removed")
    uploader.join(180)

    def uploads() -> set[str]:
        return {u["UploadId"] for u in client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", [])}

    wait_for(lambda: stale["UploadId"] not in uploads(), 60, what="the stale multipart upload aborted")
    r = result["response"]
    assert r.status_code == 201, r.text
    item = r.json()
    assert wait_terminal(user, "audio", [item["id"]], 180)[item["id"]] == "ready"
    time.sleep(8)  # more sweeps after the item exists: its objects stay
    prefix = next(k.rsplit("/", 1)[0] for k in s3.keys("audio/") if k.endswith("original.wav"))
    kept = s3.keys(prefix)
    assert f"{prefix}/original.wav" in kept and len(kept) >= 2  # the original and its waveform
    log = fs.stack.find("media")[0].log_path.read_text(errors="replace")
    aborted = re.findall(r"storage sweep aborted the unfinished upload of (\S+)", log)
    assert aborted == [stale["Key"]], aborted  # never the upload in flight
    fs.counts.update(attempted=1, stored=1, ready=1, lost=0)
    fs.report(f"storage sweep: orphan removed, stale multipart aborted={len(aborted)}, in-flight kept")
