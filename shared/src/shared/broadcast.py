"""Best-effort fan-out of small JSON notices to every process of the system (each uvicorn worker too).

A notice published on a channel reaches every process that subscribed to that channel and is running
at the time; a process that is down or disconnected misses it. Users of this module must therefore be
able to converge without it (session revocations catch up from auth, chat re-checks on a timer): the
push makes things fast, it is never the only path.

Backends, chosen from the settings:
- Redis pub/sub when `REDIS_URL` is set (full mode).
- RabbitMQ when `BROKER_URL` is AMQP: a topic exchange `sms.broadcast`; each process consumes an
  exclusive, auto-delete queue bound to its channels, which the broker drops when the process goes.
- Otherwise (the embedded mode, kombu's filesystem bus) an append-only file per channel under
  `{VAR_DIR}/broadcast/` that every process tails. Per-process queues on kombu's filesystem transport
  are folders that nobody deletes when a process is killed, so they would pile up; a tailed file keeps
  no per-process state on disk, is rotated at a size cap and needs no server.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import json
import logging
import os
import queue
import select
import struct
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from shared.settings import BaseServiceSettings

log = logging.getLogger("shared.broadcast")

Callback = Callable[[dict[str, Any]], None]
EXCHANGE = "sms.broadcast"
REDIS_PREFIX = "sms:bcast:"


class Backend(Protocol):
    """Moves notices between processes."""

    def send(self, channel: str, body: bytes) -> None:
        """Publish one encoded notice (may raise; the caller retries once)."""
        ...

    def run(self, channels: list[str], deliver: Callable[[str, bytes], None], connected: Callable[[], None],
            stop: threading.Event) -> None:
        """Receive notices of `channels` until `stop` is set; call `connected` after each (re)subscription."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


# Waiting subscribers block in a system call without waking up on a short timer: a thread that wakes
# every few milliseconds takes the GIL from the event loop each time (measured: a 50 ms file poll cost
# the gateway 30 % of its throughput). Timeouts only bound how long stop() may wait.
IDLE_WAKE_S = 2.0


class Broadcast:
    """Channels of best-effort notices: `subscribe` before `start`, `publish` from any thread."""

    def __init__(self, backend: Backend, name: str = "process") -> None:
        self.backend = backend
        self.name = name
        self.process_id = f"{name}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._subscribers: dict[str, list[Callback]] = {}
        self._on_connected: list[Callable[[], None]] = []
        self._out: queue.Queue[tuple[str, bytes] | None] = queue.Queue(maxsize=10_000)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.ready = threading.Event()
        self.received = 0

    @classmethod
    def from_settings(cls, settings: BaseServiceSettings, name: str | None = None) -> Broadcast:
        """The backend the settings call for (Redis, RabbitMQ, or tailed files in the embedded mode)."""
        name = name or settings.service_name
        if settings.redis_url:
            return cls(RedisBackend(settings.redis_url), name)
        if settings.bus_url.startswith(("amqp", "pyamqp")):
            return cls(AmqpBackend(settings.bus_url, settings.kombu_transport_options()), name)
        return cls(FileBackend(settings.var_dir / "broadcast", settings.broadcast_poll_s), name)

    @property
    def kind(self) -> str:
        """Which backend carries the notices (redis, amqp or file)."""
        return getattr(self.backend, "kind", type(self.backend).__name__)

    def subscribe(self, channel: str, callback: Callback) -> None:
        """Call `callback(data)` on a background thread for every notice of `channel` (before start)."""
        if self._threads:
            raise RuntimeError("subscribe before start()")
        self._subscribers.setdefault(channel, []).append(callback)

    def on_connected(self, callback: Callable[[], None]) -> None:
        """Call `callback()` each time the subscription is (re)established: notices may have been missed."""
        self._on_connected.append(callback)

    def publish(self, channel: str, data: dict[str, Any]) -> None:
        """Queue a notice for every subscriber of `channel` (never blocks; dropped if the queue is full)."""
        body = json.dumps({"ch": channel, "from": self.process_id, "data": data}, default=str).encode()
        try:
            self._out.put_nowait((channel, body))
        except queue.Full:
            log.warning("broadcast queue full; dropping a notice on %s", channel)

    def start(self) -> None:
        """Start the publisher thread and, when something is subscribed, the subscriber thread."""
        if self._threads:
            return
        self._stop.clear()
        targets: list[tuple[Callable[[], None], str]] = [(self._publish_loop, "broadcast-publisher")]
        if self._subscribers:
            targets.append((self._subscribe_loop, "broadcast-subscriber"))
        else:
            self.ready.set()
        for target, thread_name in targets:
            t = threading.Thread(target=target, name=thread_name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 3.0) -> None:
        """Stop the threads (queued notices still go out first, within `timeout`)."""
        self._stop.set()
        interrupt = getattr(self.backend, "interrupt", None)
        if interrupt is not None:
            interrupt()
        with contextlib.suppress(queue.Full):
            self._out.put_nowait(None)
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()
        self.backend.close()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued notice was handed to the backend (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._out.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)
        return not self._out.unfinished_tasks

    # ------------------------------------------------------------ threads

    def _publish_loop(self) -> None:
        while True:
            item = self._out.get()
            try:
                if item is None:
                    if self._stop.is_set():
                        return
                    continue
                channel, body = item
                for attempt in (1, 2):
                    try:
                        self.backend.send(channel, body)
                        break
                    except Exception as exc:  # best effort: subscribers converge by their own catch-up
                        log.warning("broadcast on %s failed (attempt %d): %s", channel, attempt, exc)
            finally:
                self._out.task_done()

    def _deliver(self, channel: str, body: bytes) -> None:
        try:
            env = json.loads(body)
            data = env["data"]
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed broadcast notice on %s", channel)
            return
        self.received += 1
        for callback in self._subscribers.get(channel, ()):
            try:
                callback(data)
            except Exception:
                log.exception("broadcast subscriber of %s failed", channel)

    def _connected(self) -> None:
        self.ready.set()
        for callback in self._on_connected:
            try:
                callback()
            except Exception:
                log.exception("broadcast on_connected hook failed")

    def _subscribe_loop(self) -> None:
        channels = sorted(self._subscribers)
        backoff = 0.2
        while not self._stop.is_set():
            try:
                self.backend.run(channels, self._deliver, self._connected, self._stop)
                backoff = 0.2
            except Exception as exc:
                log.warning("broadcast subscription (%s) lost, retrying in %.1fs: %s", self.kind, backoff, exc)
                self.ready.clear()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)


# ---------------------------------------------------------------- Redis pub/sub


class RedisBackend:
    """Redis PUBLISH/SUBSCRIBE on `sms:bcast:<channel>`."""

    kind = "redis"

    def __init__(self, url: str, prefix: str = REDIS_PREFIX) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._url = url
        self.prefix = prefix

    def send(self, channel: str, body: bytes) -> None:
        """PUBLISH the notice."""
        self._redis.publish(self.prefix + channel, body)

    def run(self, channels: list[str], deliver: Callable[[str, bytes], None], connected: Callable[[], None],
            stop: threading.Event) -> None:
        """SUBSCRIBE and hand every message over until stopped."""
        import redis

        sub = redis.Redis.from_url(self._url, socket_timeout=None, socket_connect_timeout=2.0,
                                   health_check_interval=10)
        pubsub = sub.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(*[self.prefix + c for c in channels])
            pubsub.get_message(timeout=1.0)  # the subscribe confirmation: the subscription is live now
            connected()
            while not stop.is_set():
                msg = pubsub.get_message(timeout=IDLE_WAKE_S)
                if msg and msg.get("type") == "message":
                    name = msg["channel"].decode() if isinstance(msg["channel"], bytes) else str(msg["channel"])
                    deliver(name[len(self.prefix):], msg["data"])
        finally:
            with contextlib.suppress(Exception):
                pubsub.close()
            sub.close()

    def close(self) -> None:
        """Close the publishing connection pool."""
        self._redis.close()


# ---------------------------------------------------------------- RabbitMQ


class AmqpBackend:
    """A topic exchange; every process consumes its own exclusive auto-delete queue (gone with the process)."""

    kind = "amqp"

    def __init__(self, url: str, transport_options: dict[str, object] | None = None,
                 exchange: str = EXCHANGE) -> None:
        from kombu import Exchange

        self.url = url
        self.transport_options = dict(transport_options or {})
        self.exchange = Exchange(exchange, type="topic", durable=False, auto_delete=False)
        self._conn: Any = None
        self._producer: Any = None

    def _connection(self) -> Any:
        from kombu import Connection

        return Connection(self.url, transport_options=self.transport_options, heartbeat=30)

    def send(self, channel: str, body: bytes) -> None:
        """Publish (non-persistent) with routing key = channel."""
        from kombu import Producer

        try:
            if self._producer is None:
                self._conn = self._connection()
                self._conn.ensure_connection(max_retries=1)
                self.exchange(self._conn.default_channel).declare()
                self._producer = Producer(self._conn.default_channel, exchange=self.exchange)
            self._producer.publish(body, routing_key=channel, content_type="application/json",
                                   content_encoding="binary", delivery_mode=1, retry=False)
        except Exception:
            self.close()
            raise

    def run(self, channels: list[str], deliver: Callable[[str, bytes], None], connected: Callable[[], None],
            stop: threading.Event) -> None:
        """Declare this process's queue, bind it to the channels and consume until stopped."""
        from kombu import Queue, binding

        from shared.messaging import drain_until_stopped

        name = f"{self.exchange.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        # bounded: a stuck process never makes the broker hoard notices for it
        args = {"x-message-ttl": 60_000, "x-max-length": 10_000}
        q = Queue(name, bindings=[binding(self.exchange, routing_key=c) for c in channels], durable=False,
                  exclusive=True, auto_delete=True, queue_arguments=args)

        def on_message(body: Any, message: Any) -> None:
            raw = body if isinstance(body, bytes) else (body.encode() if isinstance(body, str) else json.dumps(body)
                                                        .encode())
            deliver(message.delivery_info.get("routing_key", ""), raw)

        with self._connection() as conn:
            conn.ensure_connection(max_retries=1)
            self.exchange(conn.default_channel).declare()
            with conn.Consumer([q], callbacks=[on_message], no_ack=True, accept=["json", "application/json"]):
                connected()
                drain_until_stopped(conn, stop, poll_s=IDLE_WAKE_S)

    def close(self) -> None:
        """Drop the publishing connection."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.release()
        self._conn = None
        self._producer = None


# ---------------------------------------------------------------- tailed files (embedded mode)


class FileBackend:
    """Append-only files per channel, tailed by every process: `<channel>.<generation>.log`.

    A writer appends to the newest generation under a shared lock; when it is over `max_bytes` a writer
    starts the next generation under the exclusive lock, so once generation n+1 exists nobody appends to
    n any more: a reader finishes n and moves on without losing a line, however many rotations happened
    between two polls. Generations beyond the newest `keep` that are older than a minute are deleted
    (readers keep their open file).

    Readers sleep until the folder changes (inotify on Linux) and poll every `poll_s` only where inotify
    is not available.
    """

    kind = "file"

    def __init__(self, folder: Path, poll_s: float = 0.05, max_bytes: int = 1 << 20, keep: int = 3) -> None:
        self.folder = Path(folder)
        self.poll_s = poll_s
        self.max_bytes = max_bytes
        self.keep = keep
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)

    @staticmethod
    def _safe(channel: str) -> str:
        return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in channel)

    def path(self, channel: str, generation: int) -> Path:
        """The file of one generation of a channel."""
        return self.folder / f"{self._safe(channel)}.{generation:08d}.log"

    def generations(self, channel: str) -> list[int]:
        """The channel's generations on disk, oldest first."""
        prefix = self._safe(channel) + "."
        out = []
        for name in os.listdir(self.folder):
            if name.startswith(prefix) and name.endswith(".log"):
                middle = name[len(prefix):-4]
                if middle.isdigit():
                    out.append(int(middle))
        return sorted(out)

    @contextlib.contextmanager
    def _locked(self, channel: str, kind: int) -> Any:
        with open(self.folder / f"{self._safe(channel)}.lock", "a") as lock:
            fcntl.flock(lock, kind)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _rotate(self, channel: str) -> None:
        with self._locked(channel, fcntl.LOCK_EX):
            gens = self.generations(channel) or [0]
            newest = gens[-1]
            try:
                if os.stat(self.path(channel, newest)).st_size <= self.max_bytes:
                    return  # another writer rotated first
            except FileNotFoundError:
                pass
            self.path(channel, newest + 1).touch()
            cutoff = time.time() - 60
            for g in gens[: -self.keep]:
                with contextlib.suppress(FileNotFoundError):
                    if os.stat(self.path(channel, g)).st_mtime < cutoff:
                        os.unlink(self.path(channel, g))

    def send(self, channel: str, body: bytes) -> None:
        """Append one line to the newest generation (starting the next one first when it is full)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        line = body.replace(b"\n", b" ") + b"\n"
        gens = self.generations(channel)
        if gens:
            with contextlib.suppress(FileNotFoundError):
                if os.stat(self.path(channel, gens[-1])).st_size > self.max_bytes:
                    self._rotate(channel)
        with self._locked(channel, fcntl.LOCK_SH):
            gens = self.generations(channel) or [0]
            fd = os.open(self.path(channel, gens[-1]), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)

    def run(self, channels: list[str], deliver: Callable[[str, bytes], None], connected: Callable[[], None],
            stop: threading.Event) -> None:
        """Follow every channel from its current end (like `tail -F`) until stopped."""
        self.folder.mkdir(parents=True, exist_ok=True)
        watcher = _Inotify.open(self.folder)  # before reading: no change between the two goes unseen
        tails = [_Tail(self, c) for c in channels]
        for t in tails:
            t.start_at_end()
        connected()
        try:
            while not stop.is_set():
                for t in tails:
                    for line in t.poll():
                        deliver(t.channel, line)
                if watcher is None:
                    stop.wait(self.poll_s)
                    continue
                ready, _, _ = select.select([watcher.fd, self._wake_r], [], [], IDLE_WAKE_S)
                if watcher.fd in ready:
                    watcher.drain()
                if self._wake_r in ready:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 64)
        finally:
            for t in tails:
                t.close()
            if watcher is not None:
                watcher.close()

    def interrupt(self) -> None:
        """Wake a waiting reader (stop)."""
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def close(self) -> None:
        """Nothing to release (the wake-up pipe lives as long as the backend)."""


_EVENT = struct.Struct("iIII")


class _Inotify:
    """Linux inotify on a folder (created, written or renamed files), through libc; None elsewhere."""

    MASK = 0x2 | 0x100 | 0x80  # IN_MODIFY | IN_CREATE | IN_MOVED_TO
    MOVED_IN = 0x80  # IN_MOVED_TO: files that appear whole by a rename (the bus's messages)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @classmethod
    def open(cls, folder: Path, mask: int = MASK) -> _Inotify | None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, AttributeError):
            return None  # not Linux: the reader polls
        if fd < 0:
            return None
        if libc.inotify_add_watch(fd, os.fsencode(str(folder)), mask) < 0:
            os.close(fd)
            return None
        return cls(fd)

    def drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self.fd, 65536):
                pass

    def names(self) -> list[str] | None:
        """The names of the files the pending events are about (read off the queue); None if the kernel's
        event queue overflowed, when any file may have changed."""
        out: list[str] = []
        overflow = False
        with contextlib.suppress(BlockingIOError):
            while buf := os.read(self.fd, 65536):
                at = 0
                while at + _EVENT.size <= len(buf):  # struct inotify_event, then its padded name
                    _wd, mask, _cookie, size = _EVENT.unpack_from(buf, at)
                    overflow |= bool(mask & 0x4000)  # IN_Q_OVERFLOW
                    start = at + _EVENT.size
                    out.append(os.fsdecode(buf[start:start + size].rstrip(b"\0")))
                    at = start + size
        return None if overflow else out

    def close(self) -> None:
        os.close(self.fd)


class _Tail:
    """Reads the complete new lines of a channel, across its generations."""

    def __init__(self, backend: FileBackend, channel: str) -> None:
        self.backend = backend
        self.channel = channel
        self.generation = 0
        self.fh: Any = None
        self.partial = b""

    def _open(self, generation: int, at_end: bool) -> bool:
        try:
            fh = open(self.backend.path(self.channel, generation), "rb")  # noqa: SIM115 - kept open
        except FileNotFoundError:
            return False
        self.close()
        self.fh, self.generation = fh, generation
        if at_end:
            fh.seek(0, os.SEEK_END)
        return True

    def start_at_end(self) -> None:
        gens = self.backend.generations(self.channel)
        if gens:
            self._open(gens[-1], at_end=True)
        else:
            self.generation = -1  # nothing yet: the first generation written is new

    def _lines(self) -> list[bytes]:
        if self.fh is None:
            return []
        data = self.fh.read()
        if not data:
            return []
        data = self.partial + data
        *lines, self.partial = data.split(b"\n")
        return [ln for ln in lines if ln]

    def poll(self) -> list[bytes]:
        out = self._lines()
        while True:
            nxt = self.generation + 1
            if not os.path.exists(self.backend.path(self.channel, nxt)):
                # `>=`: nxt may have been created (and more after it) between the check and the listing
                later = [g for g in self.backend.generations(self.channel) if g >= nxt]
                if not later:
                    return out
                nxt = later[0]  # fell so far behind that generations were deleted: skip to the oldest left
            out += self._lines()  # the rest of the finished generation (nobody appends to it any more)
            if not self._open(nxt, at_end=False):
                return out
            out += self._lines()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
        self.fh, self.partial = None, b""
