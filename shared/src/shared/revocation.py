"""The in-process list of revoked sessions, checked on every token verification with no I/O.

auth records every revocation in its database with the change. Every process that accepts tokens
keeps this list, fed two ways:
- a push: auth broadcasts `{sid, user_id, expires_at}` on the `sessions.revoked` channel of
  `shared.broadcast` right after the commit, so a revoked session is refused everywhere within a
  fraction of a second;
- a catch-up: `GET {AUTH_URL}/internal/sessions/revoked?after=<cursor>` at start-up (before the process
  serves, so a restarted process refuses already-revoked sessions at once), every
  `REVOCATION_CATCHUP_S` (30 s) and whenever the push subscription (re)connects, so a process that
  missed a push converges anyway.

Until the first catch-up succeeded the list is not ready and token checks answer 503: a process never
accepts a token it cannot check. An entry is forgotten once every token of its session has expired
(`expires_at` = revocation time + the access-token lifetime + the verifier's leeway).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from shared.errors import ServiceUnavailable, Unauthorized

log = logging.getLogger("shared.revocation")

CHANNEL = "sessions.revoked"
CATCHUP_PATH = "/internal/sessions/revoked"

Listener = Callable[[str, int | None], None]
Fetch = Callable[[int], Mapping[str, Any]]


class SessionRevoked(Unauthorized):
    """A token of a session that was signed out, ended by a password change, reset or account deletion."""

    default_code = "session_revoked"
    default_message = "You were signed out; sign in again."


class RevocationsUnavailable(ServiceUnavailable):
    """The process has not loaded the revocation list yet (auth unreachable since start-up)."""

    default_code = "sessions_unavailable"
    default_message = "Sign-in checks are not available right now; try again shortly."


class RevocationList:
    """Revoked session ids; `is_revoked` is one dict lookup (safe to call from any thread)."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._revoked: dict[str, float] = {}
        self._users: dict[str, int | None] = {}
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()  # writers only; readers rely on atomic dict lookups
        self._ready = threading.Event()
        self._loaded = False
        self.clock = clock
        self.cursor = 0
        self.loaded_at: float | None = None

    # ------------------------------------------------------------ reading (request path)

    @property
    def ready(self) -> bool:
        """True once the list was loaded from auth (or marked ready by its owner)."""
        return self._ready.is_set()

    def is_revoked(self, sid: str) -> bool:
        """Whether tokens of session `sid` must be refused."""
        return sid in self._revoked

    def check(self, sid: str) -> None:
        """Raise SessionRevoked for a revoked session, RevocationsUnavailable before the first load."""
        if sid in self._revoked:
            raise SessionRevoked()
        if not self._loaded:
            raise RevocationsUnavailable()

    def __len__(self) -> int:
        return len(self._revoked)

    # ------------------------------------------------------------ writing (push, catch-up, auth itself)

    def listen(self, listener: Listener) -> None:
        """Call `listener(sid, user_id)` (on the writer's thread) for every newly revoked session."""
        self._listeners.append(listener)

    def add(self, sid: str, expires_at: float, user_id: int | None = None) -> bool:
        """Record a revocation; True when it was new (listeners are told)."""
        if not sid or expires_at <= self.clock():
            return False
        with self._lock:
            known = sid in self._revoked
            self._revoked[sid] = max(expires_at, self._revoked.get(sid, 0.0))
            self._users[sid] = user_id
        if not known:
            for listener in self._listeners:
                try:
                    listener(sid, user_id)
                except Exception:
                    log.exception("revocation listener failed")
        return not known

    def apply_notice(self, data: Mapping[str, Any]) -> None:
        """One pushed notice `{sid, user_id, expires_at}` (malformed ones are ignored)."""
        try:
            user_id = data.get("user_id")
            self.add(str(data["sid"]), float(data["expires_at"]), int(user_id) if user_id is not None else None)
        except (KeyError, TypeError, ValueError):
            log.warning("ignoring a malformed revocation notice: %r", data)

    def apply_catchup(self, doc: Mapping[str, Any]) -> int:
        """A catch-up answer `{revocations: [...], cursor}`: merge it, move the cursor, become ready."""
        rows: Iterable[Mapping[str, Any]] = doc.get("revocations") or []
        added = 0
        for row in rows:
            user_id = row.get("user_id")
            if self.add(str(row["sid"]), float(row["expires_at"]), int(user_id) if user_id is not None else None):
                added += 1
        self.cursor = int(doc.get("cursor") or self.cursor)
        self.loaded_at = self.clock()
        self.mark_ready()
        return added

    def mark_ready(self) -> None:
        """Declare the list complete enough to serve (after a load)."""
        self._loaded = True  # a plain attribute: read on every token check
        self._ready.set()

    def wait_ready(self, timeout: float) -> bool:
        """Block until ready or `timeout` seconds passed."""
        return self._ready.wait(timeout)

    def prune(self) -> int:
        """Forget sessions whose tokens have all expired; how many were dropped."""
        now = self.clock()
        with self._lock:
            keep = {sid: exp for sid, exp in self._revoked.items() if exp > now}
            dropped = len(self._revoked) - len(keep)
            if dropped:
                self._users = {sid: self._users.get(sid) for sid in keep}
                self._revoked = keep  # swapped whole: concurrent readers see the old or the new dict
        return dropped


class RevocationFeed:
    """Feeds a RevocationList from the broadcast push and periodic catch-ups (a background thread)."""

    def __init__(
        self,
        revocations: RevocationList,
        fetch: Fetch,
        *,
        interval_s: float = 30.0,
        retry_s: float = 1.0,
        name: str = "revocation-feed",
    ) -> None:
        self.revocations = revocations
        self.fetch = fetch
        self.interval_s = interval_s
        self.retry_s = retry_s
        self.name = name
        self.catchups = 0
        self.failures = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def attach(self, broadcast: Any) -> None:
        """Subscribe to the push (call before the broadcast starts); a reconnect triggers a catch-up."""
        broadcast.subscribe(CHANNEL, self.revocations.apply_notice)
        broadcast.on_connected(self.wake)

    def wake(self) -> None:
        """Catch up now (the push may have missed notices)."""
        self._wake.set()

    def catch_up(self) -> bool:
        """One catch-up from auth; False when auth could not be asked."""
        try:
            doc = self.fetch(self.revocations.cursor)
        except Exception as exc:
            self.failures += 1
            log.warning("revocation catch-up failed: %s", exc)
            return False
        self.revocations.apply_catchup(doc)
        self.catchups += 1
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            self.catch_up()
            self.revocations.prune()
            self._wake.wait(self.interval_s if self.revocations.ready else self.retry_s)

    def start(self) -> None:
        """Start the background thread (its first catch-up runs at once)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


def http_fetch(client: Any) -> Fetch:
    """A catch-up fetch through a `shared.internal.InternalClient` on auth."""

    def fetch(cursor: int) -> Mapping[str, Any]:
        doc: Mapping[str, Any] = client.get_json(CATCHUP_PATH, params={"after": cursor})
        return doc

    return fetch
