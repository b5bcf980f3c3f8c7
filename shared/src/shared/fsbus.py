"""The embedded mode's bus: kombu's filesystem transport, woken by inotify, with per-process queues that die.

kombu's stock filesystem transport sleeps `polling_interval` (1 s) whenever a poll finds nothing — and a
consumer whose prefetch window is full finds nothing — so a Celery worker took one task per second whatever
it could do, and each poll listed and sorted the whole folder to take a single message. Its auto-delete
queues are never deleted: the bindings of a process that is gone stay in the exchange tables and every fanout
message keeps landing in their files forever (1,133 files after a few restarts of the stack).

This subclass (registered for `filesystem://` in shared.settings, so every process of the embedded mode uses
it) changes four things and keeps the on-disk format:
- waiting: `drain_events` sleeps on inotify (the data folder) and on a pipe written by acks and rejects, so a
  new message or a freed prefetch slot wakes the consumer at once; `polling_interval` is only the fallback
  where inotify is missing;
- taking: one directory listing serves every queue until that queue's share of it is used up; a message is
  claimed by an atomic rename (one consumer wins), not a copy;
- writing: a message is written under a temporary name and renamed into place, so a reader never claims a
  half-written file;
- per-process queues (auto-delete or exclusive): the declaring process holds an flock on `<queue>.owner` in
  the control folder for as long as it lives. Cancelling the last consumer deletes the queue (bindings and
  messages); a queue whose owner lock is free — its process died, however — is swept by the next process
  that starts or publishes on a fanout exchange.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import select
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from queue import Empty
from typing import Any

from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

OWNER_SUFFIX = ".owner"
_SEQUENCE = itertools.count()
SWEEP_EVERY_S = 10.0
# an owner file younger than this may be one whose creator has not locked it yet
OWNER_GRACE_S = 5.0


# Names that only have to be unique on this machine: a per-process token and a counter. uuid4() reads the
# kernel's random source, 4 system calls a message (each releasing the GIL, a convoy under load).
_TOKEN = [uuid.uuid4().hex[:12]]
os.register_at_fork(after_in_child=lambda: _TOKEN.__setitem__(0, uuid.uuid4().hex[:12]))


def _unique() -> str:
    """A name unique among this machine's processes (a forked child draws its own token)."""
    return f"{_TOKEN[0]}{next(_SEQUENCE):x}"


def _queue_of(name: str) -> str | None:
    """The queue of a message file `<stamp>_<sequence><token>.<queue>.msg` (None for anything else)."""
    if name.startswith(".") or not name.endswith(".msg"):
        return None
    rest = name.partition(".")[2]
    return rest[:-4] or None


def _messages_of(names: Iterable[str], queues: set[str]) -> Iterator[tuple[str, str]]:
    """(file name, queue) of the message files among `names` that belong to one of `queues`, in order."""
    suffixes = tuple(f".{q}.msg" for q in queues)
    for name in names:
        if name.endswith(suffixes) and (queue := _queue_of(name)) in queues:
            yield name, queue


def sweep_dead_queues(control_folder: Path, data_folder: Path, keep: set[str] | frozenset[str] = frozenset()) -> int:
    """Delete every per-process queue whose owner is gone (bindings, messages, owner file); returns how many."""
    removed = 0
    now = time.time()
    try:
        names = os.listdir(control_folder)
    except FileNotFoundError:
        return 0
    dead: list[str] = []
    for name in names:
        if not name.endswith(OWNER_SUFFIX):
            continue
        queue = name[: -len(OWNER_SUFFIX)]
        path = control_folder / name
        if queue in keep:
            continue
        try:
            if now - path.stat().st_mtime < OWNER_GRACE_S:
                continue
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # its process is alive
        try:
            dead.append(queue)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        finally:
            os.close(fd)
    if not dead:
        return 0
    gone = set(dead)
    for name in names:
        if name.endswith(".exchange"):
            _unbind_all(control_folder / name, gone)
    for name in os.listdir(data_folder):
        if _queue_of(name) in gone:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(data_folder / name)
    removed = len(dead)
    return removed


def _unbind_all(table: Path, queues: set[str]) -> None:
    """Remove every binding of `queues` from one exchange table file (under its lock, like kombu)."""
    try:
        f = table.open("rb+", buffering=0)
    except FileNotFoundError:
        return
    with f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            raw = f.read()
            rows = loads(bytes_to_str(raw)) if raw else []
            kept = [r for r in rows if r[2] not in queues]
            if len(kept) != len(rows):
                f.seek(0)
                f.write(str_to_bytes(dumps(kept)))
                f.truncate()
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


class Channel(filesystem.Channel):
    """Batched, rename-claimed reads; atomic writes; per-process queues owned by a lock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listing: dict[str, deque[str]] = {}
        self._listed: set[str] = set()  # the queues the last listing covered
        # True when the listing may miss a message: before the first listing, and when the transport's wait
        # cannot tell what arrived (inotify overflowed or is missing, the wait timed out). Only the transport's
        # own looks (`_trusted`) rely on the listing; any other `_get` lists the folder when it is empty.
        self._stale = True
        self._trusted = False
        self._claim_dir = Path(self.data_folder_in) / "processed"
        self._claim_dir.mkdir(parents=True, exist_ok=True)
        self.connection.sweep(self)

    # ---------------------------------------------------------------- messages

    def _refresh(self, queue: str) -> None:
        # Only this channel's queues: the folder holds every process's messages, and another service's backlog
        # (1,400 files in a comment load) is none of this consumer's business.
        self._stale = False  # before listing: a message renamed in meanwhile marks it stale again
        wanted = {queue, *self._active_queues}
        self._listed = wanted
        listing: dict[str, deque[str]] = {}
        for name, owner in _messages_of(sorted(os.listdir(self.data_folder_in)), wanted):
            listing.setdefault(owner, deque()).append(name)
        self._listing = listing

    def _arrived(self, names: list[str]) -> bool:
        """inotify's new files: this channel's messages join its listing (no need to list the folder again);
        True if there was one."""
        active = getattr(self, "_active_queues", None)
        if not active:
            return False
        found = False
        for name, queue in _messages_of(names, set(active)):
            found = True
            if queue in self._listed and not self._stale:
                # a name both listed and announced (renamed between the read and the listing) is taken
                # once: the second rename finds it gone
                self._listing.setdefault(queue, deque()).append(name)
            else:
                self._stale = True
        return found

    def _get(self, queue: str) -> Any:
        names = self._listing.get(queue)
        # an ack wakes the wait to look again (a prefetch slot is free): with nothing new for this channel,
        # its listing is current and the folder (every other service's backlog too) is not listed again
        if not names and (self._stale or not self._trusted or queue not in self._listed):
            self._refresh(queue)
            names = self._listing.get(queue)
        folder = self.data_folder_in
        while names:
            name = names.popleft()
            claimed = self._claim_dir / f"{_unique()}-{name}"
            try:
                os.rename(os.path.join(folder, name), claimed)
            except FileNotFoundError:
                continue  # another consumer took it
            try:
                payload = claimed.read_bytes()
            finally:
                with contextlib.suppress(FileNotFoundError):
                    claimed.unlink()
            return loads(bytes_to_str(payload))
        raise Empty()

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        # the stamp sorts in publish order, across processes too (one clock; fixed width)
        name = f"{time.monotonic_ns():020d}_{next(_SEQUENCE):08d}{_TOKEN[0]}.{queue}.msg"
        folder = self.data_folder_out
        tmp = os.path.join(folder, f".tmp-{_unique()}")
        try:
            with open(tmp, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.rename(tmp, os.path.join(folder, name))
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise filesystem.ChannelError(f"Cannot add {name!r} to {folder}") from exc

    def _next_delivery_tag(self) -> str:
        return _unique()  # kombu's is a uuid4 per message; it only has to be unique on this channel

    def _put_fanout(self, exchange: str, payload: Any, routing_key: str, **kwargs: Any) -> None:
        self.connection.sweep(self)
        super()._put_fanout(exchange, payload, routing_key, **kwargs)

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        super().basic_ack(delivery_tag, multiple)
        if self.connection is not None:  # None once the channel is closed
            self.connection.wake()

    def basic_reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        super().basic_reject(delivery_tag, requeue)
        if self.connection is not None:
            self.connection.wake()

    # ---------------------------------------------------------------- per-process queues

    def queue_declare(self, queue: str | None = None, passive: bool = False, **kwargs: Any) -> Any:
        ok = super().queue_declare(queue, passive, **kwargs)
        if not passive and (kwargs.get("auto_delete") or kwargs.get("exclusive")):
            self.connection.own(self, ok.queue)
        return ok

    def basic_cancel(self, consumer_tag: Any) -> None:
        queue = self._tag_to_queue.get(consumer_tag)
        super().basic_cancel(consumer_tag)
        if queue is not None and queue in self.connection.owned and queue not in self._tag_to_queue.values():
            self.delete_owned(queue)

    def delete_owned(self, queue: str) -> None:
        """Delete a per-process queue: its bindings, its messages, its owner lock."""
        with contextlib.suppress(Exception):
            self.queue_delete(queue)
        control = Path(self.control_folder)
        for name in os.listdir(control):
            if name.endswith(".exchange"):
                _unbind_all(control / name, {queue})
        with contextlib.suppress(OSError):
            self._purge(queue)
        self.connection.disown(self, queue)


class Transport(filesystem.Transport):
    """kombu's filesystem transport that waits on inotify and wakes on acks instead of sleeping a second."""

    Channel = Channel
    polling_interval = 1.0  # the safety net: inotify and the wake pipe normally end a wait at once

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._watch: Any = None
        self._watch_ready = False
        self.owned: dict[str, int] = {}  # queue -> fd holding its owner lock
        self._last_sweep = 0.0
        if client.transport_options.get("polling_interval") is None:
            self.polling_interval = 1.0

    # ---------------------------------------------------------------- waiting

    def _watcher(self) -> Any:
        if not self._watch_ready:
            self._watch_ready = True
            from shared.broadcast import _Inotify  # Linux inotify through libc; None elsewhere

            folder = Path(self.client.transport_options.get("data_folder_in", "data_in"))
            # a message appears by a rename only (`_put`): its temporary file's creation and writes would
            # wake every process of the system twice more per message
            self._watch = _Inotify.open(folder, _Inotify.MOVED_IN)
            if self._watch is None:
                self.polling_interval = min(self.polling_interval, 0.05)
        return self._watch

    def wake(self) -> None:
        """End a wait in drain_events (an ack freed a prefetch slot)."""
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def drain_events(self, connection: Any, timeout: float | None = None) -> None:
        start = time.monotonic()
        watch = self._watcher()
        look = True
        while True:
            if look:
                # read the wake-ups first: anything arriving after the look below wakes the wait after it
                if watch is None:
                    self._news()
                else:
                    self._arrived(watch.names())
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_r, 4096)
                for ch in self.channels:
                    ch._trusted = True
                try:
                    self.cycle.get(self._deliver, timeout=timeout)
                    return
                except Empty:
                    pass
                finally:
                    for ch in self.channels:
                        ch._trusted = False
            wait = self.polling_interval
            if timeout is not None:
                remaining = timeout - (time.monotonic() - start)
                if remaining <= 0:
                    raise TimeoutError()
                wait = min(wait, remaining)
            fds = [self._wake_r] + ([watch.fd] if watch is not None else [])
            ready, _, _ = select.select(fds, [], [], wait)
            # every process of the system watches the one data folder: look again only for a message to one
            # of this connection's queues (or an ack, a timeout, an overflowed event queue), not for each
            # message any process writes or claims
            if not ready or watch is None:
                self._news()  # the safety net: a timed-out wait lists the folder again
                look = True
            elif self._wake_r in ready:
                look = True  # the look reads what inotify has pending
            else:
                look = self._arrived(watch.names())

    def _news(self) -> None:
        for ch in self.channels:
            ch._stale = True

    def _arrived(self, names: list[str] | None) -> bool:
        """Hand the names of new message files to the channels; True if one is for them (or may be: the kernel's
        event queue overflowed)."""
        if names is None:
            self._news()
            return True
        found = False
        for ch in self.channels:
            found |= ch._arrived(names)
        return found

    def close_connection(self, connection: Any) -> None:
        super().close_connection(connection)
        for queue in list(self.owned):
            self._release(queue)
        if self._watch is not None:
            with contextlib.suppress(OSError):
                self._watch.close()
            self._watch = None
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    # ---------------------------------------------------------------- per-process queues

    def own(self, channel: Channel, queue: str) -> None:
        """Hold `<queue>.owner` locked while this process lives (the lock goes with the process)."""
        if queue in self.owned:
            return
        path = Path(channel.control_folder) / f"{queue}{OWNER_SUFFIX}"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)  # another connection of this process (or a live process) owns it already
            return
        os.utime(fd)
        self.owned[queue] = fd

    def disown(self, channel: Channel, queue: str) -> None:
        """Release and remove the owner file of a deleted queue."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(Path(channel.control_folder) / f"{queue}{OWNER_SUFFIX}")
        self._release(queue)

    def _release(self, queue: str) -> None:
        fd = self.owned.pop(queue, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def sweep(self, channel: Channel, force: bool = False) -> int:
        """Delete the queues of dead processes (at most every SWEEP_EVERY_S per connection)."""
        now = time.monotonic()
        if not force and now - self._last_sweep < SWEEP_EVERY_S:
            return 0
        self._last_sweep = now
        try:
            return sweep_dead_queues(Path(channel.control_folder), Path(channel.data_folder_in), set(self.owned))
        except OSError:
            return 0
