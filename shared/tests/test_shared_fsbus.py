"""shared.fsbus: the embedded bus wakes on new messages and on acks, and per-process queues die with their process.

Each consumer here has a 30 s polling interval: a delivery inside a few seconds can only come from the
inotify / ack wake-up, never from kombu's periodic poll.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue

import shared.settings  # noqa: F401 - registers shared.fsbus for filesystem://
from shared import fsbus

SLOW_POLL = 30.0


def _work_queue() -> Queue:
    # unique names: kombu keeps declared exchanges and bindings in class-level state for the whole process,
    # so a second test reusing a name would skip writing the binding into its own folder
    name = f"work{uuid.uuid4().hex[:8]}"
    return Queue(name, Exchange(f"tasks{name}", type="direct"), routing_key=name)


def _conn(folder: Path, poll: float = SLOW_POLL) -> Connection:
    folder.mkdir(parents=True, exist_ok=True)
    return Connection("filesystem://", transport_options={
        "data_folder_in": str(folder), "data_folder_out": str(folder), "control_folder": str(folder),
        "polling_interval": poll,
    })


def _msg_files(folder: Path) -> list[str]:
    return [n for n in os.listdir(folder) if n.endswith(".msg")]


def _take_while_trickling(conn: Connection, producer: Producer, queue: Queue, numbers: range, *, take: int,
                          timeout: float | None = 5) -> list[int]:
    """Consume `take` messages from `queue` while another thread publishes `numbers` to it, one every 0.1 s."""
    got: list[int] = []

    def later() -> None:
        for n in numbers:
            time.sleep(0.1)
            producer.publish({"n": n}, exchange=queue.exchange, routing_key=queue.routing_key, declare=[queue])

    with Consumer(conn, [queue], callbacks=[lambda body, m: (got.append(body["n"]), m.ack())], accept=["json"]):
        threading.Thread(target=later).start()
        for _ in range(take):
            conn.drain_events(timeout=timeout)
    return got


def test_filesystem_url_uses_the_extended_transport(tmp_path: Path) -> None:
    with _conn(tmp_path) as conn:
        assert isinstance(conn.transport, fsbus.Transport)


def test_a_waiting_consumer_wakes_on_a_new_message_not_on_the_poll(tmp_path: Path) -> None:
    queue = _work_queue()
    got: list[Any] = []
    with _conn(tmp_path) as consumer_conn, _conn(tmp_path) as producer_conn, \
            Consumer(consumer_conn, [queue], callbacks=[lambda body, m: (got.append(body), m.ack())], accept=["json"]):

        def later() -> None:
            time.sleep(0.5)  # the consumer is asleep in drain_events by now
            Producer(producer_conn.default_channel).publish({"n": 1}, exchange=queue.exchange,
                                                             routing_key=queue.routing_key, declare=[queue])

        threading.Thread(target=later).start()
        consumer_conn.drain_events(timeout=10)
    assert got == [{"n": 1}]


def test_an_ack_frees_the_prefetch_slot_at_once(tmp_path: Path) -> None:
    """prefetch 1: the second message is taken as soon as the first is acked (from another thread)."""
    queue = _work_queue()
    got: list[Any] = []
    with _conn(tmp_path) as conn, _conn(tmp_path) as producer_conn:
        producer = Producer(producer_conn.default_channel)
        for n in (1, 2):
            producer.publish({"n": n}, exchange=queue.exchange, routing_key=queue.routing_key, declare=[queue])

        def on_message(body: Any, message: Any) -> None:
            got.append(body)
            # acked by a pool thread a moment later, as Celery's result handler does
            threading.Timer(0.3, message.ack).start()

        with Consumer(conn, [queue], callbacks=[on_message], accept=["json"], prefetch_count=1):
            conn.drain_events(timeout=10)
            conn.drain_events(timeout=10)
    assert got == [{"n": 1}, {"n": 2}]


def test_messages_for_other_queues_do_not_make_a_waiting_consumer_look(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Every process watches the one data folder: a message to another queue wakes the wait, but only a
    message to one of this connection's queues makes it list the folder and look."""
    mine, other = _work_queue(), _work_queue()
    got: list[Any] = []
    looks = 0
    real_get = fsbus.Channel._get

    def counting_get(self: fsbus.Channel, queue: str) -> Any:
        nonlocal looks
        looks += 1
        return real_get(self, queue)

    monkeypatch.setattr(fsbus.Channel, "_get", counting_get)
    with _conn(tmp_path) as consumer_conn, _conn(tmp_path) as producer_conn, \
            Consumer(consumer_conn, [mine], callbacks=[lambda body, m: (got.append(body), m.ack())], accept=["json"]):
        producer = Producer(producer_conn.default_channel)

        def later() -> None:
            time.sleep(0.5)  # the consumer is asleep in drain_events by now
            for n in range(10):
                producer.publish({"n": n}, exchange=other.exchange, routing_key=other.routing_key, declare=[other])
            time.sleep(0.5)
            producer.publish({"mine": 1}, exchange=mine.exchange, routing_key=mine.routing_key, declare=[mine])

        threading.Thread(target=later).start()
        consumer_conn.drain_events(timeout=10)
    assert got == [{"mine": 1}]
    assert looks == 2  # before the wait, and for its own message (not once per message to the other queue)
    assert len(_msg_files(tmp_path)) == 10  # the other queue's messages are still there


def test_every_ready_message_is_taken_from_one_listing_in_order(tmp_path: Path) -> None:
    queue = _work_queue()
    got: list[int] = []
    with _conn(tmp_path) as conn:
        producer = Producer(conn.default_channel)
        for n in range(20):
            producer.publish({"n": n}, exchange=queue.exchange, routing_key=queue.routing_key, declare=[queue])
        with Consumer(conn, [queue], callbacks=[lambda body, m: (got.append(body["n"]), m.ack())], accept=["json"]):
            for _ in range(20):
                conn.drain_events(timeout=5)
    assert got == list(range(20))
    assert _msg_files(tmp_path) == []



def test_a_consumer_lists_the_folder_once_and_then_takes_what_inotify_announces(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The folder holds every service's messages (a backlog of one of them ran to 1,400 files): a consumer lists
    it when it starts and for its own queues only, then adds the new files inotify names to its listing; an
    ack's wake-up with nothing new does not list it again."""
    mine, other = _work_queue(), _work_queue()
    listings: list[set[str]] = []
    real_refresh = fsbus.Channel._refresh

    def counting_refresh(self: fsbus.Channel, *args: Any) -> None:
        real_refresh(self, *args)
        listings.append(set(self._listing))

    monkeypatch.setattr(fsbus.Channel, "_refresh", counting_refresh)
    with _conn(tmp_path) as conn, _conn(tmp_path) as producer_conn:
        producer = Producer(producer_conn.default_channel)
        for n in range(30):  # another service's backlog
            producer.publish({"n": n}, exchange=other.exchange, routing_key=other.routing_key, declare=[other])
        producer.publish({"n": 0}, exchange=mine.exchange, routing_key=mine.routing_key, declare=[mine])
        got = _take_while_trickling(conn, producer, mine, range(1, 6), take=6)
    assert got == list(range(6))
    assert len(listings) == 1  # before: once for each message and for each ack
    assert listings[0] <= {mine.name}  # the other queue's backlog is not read
    assert len(_msg_files(tmp_path)) == 30


@pytest.mark.timeout(20)  # without a wake-up each message would wait for the 30 s poll
@pytest.mark.parametrize("watch", ["overflowed", "missing"])
def test_without_inotifys_names_a_consumer_lists_the_folder_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   watch: str) -> None:
    """An overflowed inotify queue (any file may have changed) or no inotify at all (not Linux: the wait polls):
    each look lists the folder again, and every message is still taken in order."""
    from shared import broadcast

    if watch == "overflowed":
        monkeypatch.setattr(broadcast._Inotify, "names", lambda self: self.drain())  # read, and None
    else:
        monkeypatch.setattr(broadcast._Inotify, "open", classmethod(lambda cls, folder, mask=0: None))
    queue = _work_queue()
    with _conn(tmp_path) as conn, _conn(tmp_path) as producer_conn:
        got = _take_while_trickling(conn, Producer(producer_conn.default_channel), queue, range(4), take=4,
                                    timeout=None)
    assert got == list(range(4))


FANOUT_CHILD = textwrap.dedent("""
    import sys, time
    import shared.settings
    from kombu import Connection, Consumer, Exchange, Queue
    folder = sys.argv[1]
    conn = Connection("filesystem://", transport_options={"data_folder_in": folder, "data_folder_out": folder,
                                                          "control_folder": folder, "polling_interval": 30})
    q = Queue(sys.argv[2], Exchange("fan", type="fanout", durable=False), durable=False, auto_delete=True)
    with Consumer(conn, [q], callbacks=[lambda b, m: None], no_ack=True, accept=["json"]):
        print("ready", flush=True)
        time.sleep(600)
""")


def _start_child(folder: Path, name: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", FANOUT_CHILD, str(folder), name], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _bound(folder: Path, exchange: str = "fan") -> list[str]:
    import json

    path = folder / f"{exchange}.exchange"
    return [row[2] for row in json.loads(path.read_text())] if path.exists() else []


def test_killed_processes_queues_are_swept_and_their_files_do_not_pile_up(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fsbus, "OWNER_GRACE_S", 0.0)
    exchange = Exchange("fan", type="fanout", durable=False)
    for i in range(5):  # five "restarts": each instance killed without a chance to clean up
        child = _start_child(tmp_path, f"chat.instance{i}")
        assert f"chat.instance{i}" in _bound(tmp_path)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    live = _start_child(tmp_path, "chat.live")
    try:
        with _conn(tmp_path) as conn:
            producer = Producer(conn.default_channel, exchange=exchange)
            conn.transport.sweep(conn.default_channel, force=True)
            for n in range(50):
                producer.publish({"n": n}, routing_key="")
        # only the live instance is bound and only its messages are on disk
        assert _bound(tmp_path) == ["chat.live"]
        files = _msg_files(tmp_path)
        assert len(files) == 50 and all(f.endswith(".chat.live.msg") for f in files)
        assert sorted(n for n in os.listdir(tmp_path) if n.endswith(".owner")) == ["chat.live.owner"]
    finally:
        live.send_signal(signal.SIGKILL)
        live.wait(10)


def test_a_live_processes_queue_is_never_swept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fsbus, "OWNER_GRACE_S", 0.0)
    live = _start_child(tmp_path, "chat.live")
    try:
        assert fsbus.sweep_dead_queues(tmp_path, tmp_path) == 0
        assert _bound(tmp_path) == ["chat.live"]
    finally:
        live.send_signal(signal.SIGKILL)
        live.wait(10)


def test_cancelling_the_last_consumer_deletes_an_auto_delete_queue(tmp_path: Path) -> None:
    exchange = Exchange("fan.own", type="fanout", durable=False)
    q = Queue("chat.mine", exchange, durable=False, auto_delete=True)
    with _conn(tmp_path) as conn:
        with Consumer(conn, [q], callbacks=[lambda b, m: None], no_ack=True, accept=["json"]):
            assert _bound(tmp_path, "fan.own") == ["chat.mine"]
            Producer(conn.default_channel, exchange=exchange).publish({"n": 1}, routing_key="")
            assert len(_msg_files(tmp_path)) == 1
        assert _bound(tmp_path, "fan.own") == []
        assert _msg_files(tmp_path) == []
        assert not (tmp_path / "chat.mine.owner").exists()


def test_file_names_stay_unique_in_a_forked_child() -> None:
    # message, claim and temporary names are a per-process token and a counter (no uuid4 per message): a
    # forked child (Celery's pool) must draw its own token, or its counter would repeat its parent's names
    before = fsbus._unique()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, fsbus._unique().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 100).decode()
    os.close(read)
    os.waitpid(pid, 0)
    after = fsbus._unique()
    assert len({before, child, after}) == 3
    assert child[:12] != before[:12] and after[:12] == before[:12]  # the child's token is its own
