"""The revocation list and its feed, and the broadcast backends (tailed files, Redis, RabbitMQ)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from shared.broadcast import AmqpBackend, Broadcast, FileBackend, RedisBackend
from shared.errors import ServiceUnavailable, Unauthorized
from shared.revocation import CHANNEL, RevocationFeed, RevocationList


def _eventually(predicate: Callable[[], Any], timeout: float = 5.0, what: str = "") -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.01)
    pytest.fail(f"not within {timeout}s: {what}")


# ---------------------------------------------------------------- the list


def test_list_refuses_revoked_and_is_unavailable_before_the_first_load() -> None:
    now = [1000.0]
    rl = RevocationList(clock=lambda: now[0])
    with pytest.raises(ServiceUnavailable):
        rl.check("a")
    rl.apply_catchup({"revocations": [{"sid": "a", "user_id": 1, "expires_at": 1300.0}], "cursor": 7})
    assert rl.ready and rl.cursor == 7 and rl.is_revoked("a")
    with pytest.raises(Unauthorized) as err:
        rl.check("a")
    assert err.value.code == "session_revoked"
    rl.check("b")  # not revoked: no error
    # expired entries (every token of the session is past its lifetime) are forgotten by prune
    assert not rl.add("old", 900.0)
    now[0] = 1301.0
    assert rl.prune() == 1 and not rl.is_revoked("a")


def test_listeners_hear_each_session_once() -> None:
    rl = RevocationList()
    heard: list[tuple[str, int | None]] = []
    rl.listen(lambda sid, uid: heard.append((sid, uid)))
    exp = time.time() + 60
    rl.apply_notice({"sid": "s", "user_id": 4, "expires_at": exp})
    rl.apply_catchup({"revocations": [{"sid": "s", "user_id": 4, "expires_at": exp}], "cursor": 1})
    rl.apply_notice({"sid": "t", "expires_at": "not a number"})  # malformed: ignored
    assert heard == [("s", 4)]


# ---------------------------------------------------------------- the feed


class FakeAuth:
    """auth's catch-up endpoint: every revocation, ids as cursor; can be down."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.down = False
        self.calls: list[int] = []

    def revoke(self, sid: str) -> None:
        self.rows.append({"sid": sid, "user_id": 1, "expires_at": time.time() + 600})

    def fetch(self, after: int) -> Mapping[str, Any]:
        self.calls.append(after)
        if self.down:
            raise ConnectionError("auth is down")
        return {"revocations": self.rows[after:], "cursor": len(self.rows)}


def test_feed_loads_at_start_and_converges_after_a_missed_push(tmp_path: Path) -> None:
    auth = FakeAuth()
    auth.revoke("before-start")
    rl = RevocationList()
    feed = RevocationFeed(rl, auth.fetch, interval_s=0.2)
    feed.start()
    try:
        assert rl.wait_ready(5) and rl.is_revoked("before-start")  # a restarted process knows at once
        auth.revoke("push-missed")  # auth revoked it, the push never reached this process
        _eventually(lambda: rl.is_revoked("push-missed"), 5, "catch-up")
        assert auth.calls[-1] >= 1  # later catch-ups ask only for what is new
    finally:
        feed.stop()


def test_feed_retries_until_auth_answers() -> None:
    auth = FakeAuth()
    auth.down = True
    rl = RevocationList()
    feed = RevocationFeed(rl, auth.fetch, interval_s=30, retry_s=0.05)
    feed.start()
    try:
        time.sleep(0.3)
        assert not rl.ready and feed.failures >= 2
        auth.down = False
        _eventually(lambda: rl.ready, 5, "ready once auth answers")
    finally:
        feed.stop()


def test_a_process_that_missed_pushes_catches_up_when_its_subscription_comes_back(tmp_path: Path) -> None:
    """Process B is disconnected while A pushes; B's reconnect triggers a catch-up at once (not 30 s later)."""
    folder = tmp_path / "broadcast"
    auth = FakeAuth()
    a = Broadcast(FileBackend(folder, poll_s=0.01), "a")
    a.start()
    rl = RevocationList()
    b = Broadcast(FileBackend(folder, poll_s=0.01), "b")
    feed = RevocationFeed(rl, auth.fetch, interval_s=3600)
    feed.attach(b)
    b.start()
    feed.start()
    try:
        assert rl.wait_ready(5) and b.ready.wait(5)
        b.stop()  # B loses its subscription
        auth.revoke("while-away")
        a.publish(CHANNEL, {"sid": "while-away", "user_id": 1, "expires_at": time.time() + 600})
        assert a.flush()
        time.sleep(0.1)
        assert not rl.is_revoked("while-away")
        b.start()  # reconnected: the file is followed from its end, so only the catch-up can tell
        _eventually(lambda: rl.is_revoked("while-away"), 5, "catch-up on reconnect")
    finally:
        feed.stop()
        b.stop()
        a.stop()


# ---------------------------------------------------------------- broadcast backends


def _pair(make: Callable[[], Broadcast], channel: str = "test.ch") -> tuple[Broadcast, Broadcast, list[dict[str, Any]]]:
    got: list[dict[str, Any]] = []
    sender, receiver = make(), make()
    receiver.subscribe(channel, got.append)
    sender.start()
    receiver.start()
    assert receiver.ready.wait(10), "subscription not established"
    return sender, receiver, got


def _roundtrip(make: Callable[[], Broadcast]) -> None:
    sender, receiver, got = _pair(make)
    try:
        sender.publish("test.ch", {"n": 1})
        sender.publish("other.ch", {"n": 2})  # not subscribed: not delivered
        sender.publish("test.ch", {"n": 3, "text": "line\nbreak"})
        _eventually(lambda: len(got) >= 2, 10, "two notices")
        time.sleep(0.2)
        assert got == [{"n": 1}, {"n": 3, "text": "line\nbreak"}]
    finally:
        sender.stop()
        receiver.stop()


def test_file_backend_roundtrip(tmp_path: Path) -> None:
    _roundtrip(lambda: Broadcast(FileBackend(tmp_path / "b", poll_s=0.01)))


def test_file_backend_loses_nothing_across_rotation(tmp_path: Path) -> None:
    folder = tmp_path / "b"
    sender, receiver, got = _pair(lambda: Broadcast(FileBackend(folder, poll_s=0.02, max_bytes=2000)))
    try:
        for i in range(300):
            sender.publish("test.ch", {"n": i, "pad": "x" * 40})
        _eventually(lambda: len(got) >= 300, 10, "every notice")
        assert [g["n"] for g in got] == list(range(300))  # in order, none lost, none twice
        # ~15 rotations happened (often several between two polls); old generations are kept a minute
        assert len(FileBackend(folder).generations("test.ch")) > 10
    finally:
        sender.stop()
        receiver.stop()


def test_file_backend_leaves_nothing_behind_a_killed_subscriber(tmp_path: Path) -> None:
    folder = tmp_path / "b"
    code = (
        "import sys, time\n"
        "from shared.broadcast import Broadcast, FileBackend\n"
        f"b = Broadcast(FileBackend({str(folder)!r}, poll_s=0.01))\n"
        "b.subscribe('test.ch', lambda d: print(d['n'], flush=True))\n"
        "b.start(); b.ready.wait(5); print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        sender = Broadcast(FileBackend(folder, poll_s=0.01))
        sender.start()
        sender.publish("test.ch", {"n": 42})
        assert proc.stdout.readline().strip() == "42"  # another process got it
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        sender.publish("test.ch", {"n": 43})
        assert sender.flush()
        sender.stop()
        # nothing per process on disk: a killed subscriber leaves no queue to pile messages into
        assert sorted(p.name for p in folder.iterdir()) == ["test.ch.00000000.log", "test.ch.lock"]
    finally:
        if proc.poll() is None:
            proc.kill()


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _listening("127.0.0.1", 6379), reason="no Redis on 127.0.0.1:6379")
def test_redis_backend_roundtrip() -> None:
    prefix = f"sms:test:{os.getpid()}:{time.monotonic_ns()}:"
    _roundtrip(lambda: Broadcast(RedisBackend("redis://127.0.0.1:6379/0", prefix=prefix)))


@pytest.fixture
def amqp_url(rabbit_url: str) -> Iterator[str]:
    yield rabbit_url


def test_amqp_backend_roundtrip_and_queue_gone_with_the_process(amqp_url: str) -> None:
    exchange = f"sms.broadcast.test.{os.getpid()}.{time.monotonic_ns()}"
    _roundtrip(lambda: Broadcast(AmqpBackend(amqp_url, exchange=exchange)))


def test_revocation_reaches_every_subscriber_of_many(tmp_path: Path) -> None:
    """One push, ten processes' lists (as separate subscribers): all refuse within a moment."""
    folder = tmp_path / "b"
    lists = [RevocationList() for _ in range(10)]
    subs: list[Broadcast] = []
    for rl in lists:
        rl.mark_ready()
        b = Broadcast(FileBackend(folder, poll_s=0.02))
        b.subscribe(CHANNEL, rl.apply_notice)
        b.start()
        subs.append(b)
    for b in subs:
        assert b.ready.wait(5)
    auth = Broadcast(FileBackend(folder))
    auth.start()
    started = time.monotonic()
    auth.publish(CHANNEL, {"sid": "gone", "user_id": 9, "expires_at": time.time() + 600})
    done = threading.Event()

    def all_refuse() -> bool:
        ok = all(rl.is_revoked("gone") for rl in lists)
        if ok:
            done.set()
        return ok

    _eventually(all_refuse, 5, "every list")
    print(f"ten subscribers refused after {1000 * (time.monotonic() - started):.0f} ms")
    for b in [*subs, auth]:
        b.stop()


def test_file_backend_deletes_old_generations(tmp_path: Path) -> None:
    backend = FileBackend(tmp_path, max_bytes=100, keep=2)
    for i in range(5):
        backend.send("ch", b'{"pad": "' + b"x" * 150 + b'"}')
        for g in backend.generations("ch"):  # make every generation look older than a minute
            os.utime(backend.path("ch", g), (time.time() - 120, time.time() - 120))
        assert len(backend.generations("ch")) <= 3, i
    assert backend.generations("ch")[-1] == 4
