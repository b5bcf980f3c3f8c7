"""Event-fed copies that converge whatever the bus does: versioned writes, tombstones, repair from the owner.

A service that decides something from another service's data keeps a copy of it, fed by that service's
events. Events of one aggregate can arrive in any order (a redelivered message goes behind newer ones;
two relays publish different rows), twice, or not at all (a queue purged, a consumer down for longer than
the retention). So:

- the owner keeps a version per aggregate, incremented in the transaction that writes the outbox row, and
  every event about the aggregate carries it (`aggregate_version`);
- a copy row stores the version it reflects and is written only by a newer version (`apply_if_newer`);
  a removal is a tombstone row with its version, so an older event can never bring the thing back;
- the owner serves a paged snapshot of its aggregates (live ones and tombstones, with versions) under
  `/internal/snapshot/...`, and a `Reconciler` thread replays it into the copy at start-up and every few
  minutes: replaying the owner's current state through the same newer-wins rule repairs any loss and
  cannot undo a newer change (versions only grow).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge
from sqlalchemy import Table
from sqlalchemy.orm import Session, sessionmaker

from shared.db import bound, bound_values, dialect_insert, insert_for, iso, session_scope, utcnow
from shared.errors import ValidationFailed
from shared.internal import InternalClient

log = logging.getLogger("shared.copies")

REPAIRS = Counter(
    "sms_copy_repairs_total", "Copy rows the reconciler found stale and rewrote from the owner", ["service", "copy"]
)
RECONCILE_RUNS = Counter(
    "sms_copy_reconcile_runs_total", "Reconcile passes by outcome", ["service", "copy", "outcome"]
)
LAST_RECONCILE = Gauge(
    "sms_copy_last_reconcile_timestamp_seconds", "When the last complete reconcile pass ended", ["service", "copy"]
)


def _table(model: Any) -> Table:
    return model.__table__ if hasattr(model, "__table__") else model


def apply_if_newer(
    session: Session, model: Any, key: Mapping[str, Any], version: int, values: Mapping[str, Any]
) -> bool:
    """Write `values` at `key` if `version` is newer than the copy's; True if this call changed the row.

    One statement (INSERT ... ON CONFLICT DO UPDATE ... WHERE stored.version < new.version), so two
    consumers applying different versions of one row concurrently cannot interleave.
    """
    table = _table(model)
    row = {**key, **values, "version": version}
    stmt = _apply_statement(_dialect(session), table, tuple(row), tuple(key))
    changed = session.execute(stmt, bound(row)).first() is not None
    if changed:
        session.expire_all()  # objects of this table loaded earlier in the session are stale now
    return changed


def lock_copy(session: Session, model: Any, key: Mapping[str, Any], placeholder: Mapping[str, Any]) -> Any:
    """The copy row at `key`, write-locked until commit (created as a version-0 placeholder if missing).

    Writers that must not race a tombstone (an upload committing while its show is deleted) lock the row
    first: the deletion handler locks it too, so one of them sees the other's committed result.
    """
    table = _table(model)
    row = {**key, **placeholder, "version": 0}
    upsert, query = _lock_statements(_dialect(session), table, tuple(row), tuple(key))
    session.execute(upsert, bound(row))
    return session.execute(query, bound(key)).one()


# Statements of the per-event copy writes, built once per dialect, table and columns: building an upsert
# (its `excluded` alias and column proxies) cost more CPU than running it. Values go in as `v_<column>`.


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


@functools.cache
def _apply_statement(dialect: str, table: Table, columns: tuple[str, ...], key: tuple[str, ...]) -> Any:
    stmt = insert_for(dialect, table).values(bound_values(table, columns))
    return stmt.on_conflict_do_update(
        index_elements=list(key),
        set_={k: stmt.excluded[k] for k in columns if k not in key},
        where=table.c.version < stmt.excluded.version,
    ).returning(table.c.version)


@functools.cache
def _lock_statements(dialect: str, table: Table, columns: tuple[str, ...], key: tuple[str, ...]) -> tuple[Any, Any]:
    stmt = insert_for(dialect, table).values(bound_values(table, columns))
    upsert = stmt.on_conflict_do_update(index_elements=list(key), set_={key[0]: stmt.excluded[key[0]]})
    query = table.select().where(*(table.c[k] == value for k, value in bound_values(table, key).items()))
    return upsert, query.with_for_update() if dialect == "postgresql" else query


def lock_copies(session: Session, model: Any, key: str, values: Iterable[Any],
                placeholder: Mapping[str, Any]) -> list[Any]:
    """`lock_copy` of many rows keyed by one column, in two statements whatever their number (in key order,
    so two such writers never deadlock); the rows come back in key order."""
    wanted = sorted(set(values))
    if not wanted:
        return []
    table = _table(model)
    stmt = dialect_insert(session, table).values([{key: v, **placeholder, "version": 0} for v in wanted])
    session.execute(stmt.on_conflict_do_update(index_elements=[key], set_={key: stmt.excluded[key]}))
    query = table.select().where(table.c[key].in_(wanted)).order_by(table.c[key])
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return list(session.execute(query))


# ---------------------------------------------------------------- snapshots (owner side)


SNAPSHOT_PAGE_MAX = 1000


@dataclass(frozen=True)
class SnapshotPage:
    """One page of an owner's snapshot: items in key order and the cursor of the next page (None at the end)."""

    items: list[dict[str, Any]]
    next_after: str | None

    def as_json(self) -> dict[str, Any]:
        """The wire shape of `/internal/snapshot/...`."""
        return {"items": self.items, "next_after": self.next_after}


def merge_page(
    live: list[dict[str, Any]], tombstones: list[dict[str, Any]], *, key: str, limit: int
) -> SnapshotPage:
    """One snapshot page from two key-ordered lists (each fetched with `key > after` and `limit`)."""
    items = sorted([*live, *tombstones], key=lambda item: item[key])[:limit]
    next_after = str(items[-1][key]) if len(items) == limit else None
    return SnapshotPage(items, next_after)


def parse_since(since: str | None) -> datetime | None:
    """The `since` parameter of a snapshot request (ISO 8601)."""
    if not since:
        return None
    try:
        value = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed("since must be an ISO 8601 time.", field="since") from exc
    return value if value.tzinfo else value.replace(tzinfo=utcnow().tzinfo)


# ---------------------------------------------------------------- reconciliation (copy side)


Apply = Callable[[Session, dict[str, Any]], bool]


@dataclass
class CopySpec:
    """How to repair one copy: the owner's snapshot path and the function that applies one item."""

    name: str
    path: str
    apply: Apply


@dataclass
class Reconciler:
    """Replays owners' snapshots into this service's copies: at start-up, then every `interval_s`.

    A full pass at start-up (the consumer may have been down for long); later passes ask only for what
    changed since the previous pass began, minus `overlap_s` (a transaction that started earlier may
    commit later, and owner clocks may differ a little).
    """

    service: str
    session_factory: sessionmaker[Session]
    clients: Mapping[str, InternalClient]
    specs: list[tuple[str, CopySpec]]  # (owner service, spec)
    interval_s: float = 120.0
    overlap_s: float = 300.0
    page_size: int = 500
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _wake: threading.Event = field(default_factory=threading.Event)
    _since: dict[str, datetime] = field(default_factory=dict)
    passes: int = 0

    def pages(self, owner: str, spec: CopySpec, since: datetime | None) -> Iterator[list[dict[str, Any]]]:
        """Every page of an owner's snapshot."""
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": self.page_size}
            if after is not None:
                params["after"] = after
            if since is not None:
                params["since"] = iso(since)
            data = self.clients[owner].get_json(spec.path, params=params)
            yield list(data.get("items") or [])
            after = data.get("next_after")
            if not after:
                return

    def reconcile(self, owner: str, spec: CopySpec, *, full: bool = False) -> int:
        """One pass over one copy; returns how many rows it repaired."""
        started = utcnow()
        since = None if full else self._since.get(spec.name)
        repaired = 0
        try:
            for page in self.pages(owner, spec, since):
                if not page:
                    continue
                with session_scope(self.session_factory) as session:
                    for item in page:
                        if spec.apply(session, item):
                            repaired += 1
        except Exception:
            RECONCILE_RUNS.labels(self.service, spec.name, "failed").inc()
            raise
        self._since[spec.name] = started - timedelta(seconds=self.overlap_s)
        RECONCILE_RUNS.labels(self.service, spec.name, "ok").inc()
        LAST_RECONCILE.labels(self.service, spec.name).set(time.time())
        if repaired:
            REPAIRS.labels(self.service, spec.name).inc(repaired)
            log.warning("reconcile %s: repaired %d rows of the %s copy from %s", self.service, repaired, spec.name,
                        owner)
        return repaired

    def run_once(self, *, full: bool = False) -> dict[str, int]:
        """One pass over every copy (a failing owner does not stop the others); repairs per copy."""
        out: dict[str, int] = {}
        for owner, spec in self.specs:
            try:
                out[spec.name] = self.reconcile(owner, spec, full=full or spec.name not in self._since)
            except Exception as exc:
                log.warning("reconcile %s/%s from %s failed: %s", self.service, spec.name, owner, exc)
        self.passes += 1
        return out

    def request_pass(self, *, full: bool = True) -> None:
        """Run a pass soon (e.g. the consumer reconnected after an outage: events may be missing)."""
        if self.passes == 0:
            return  # the first pass is still to come
        if full:
            self._since.clear()
        self._wake.set()

    def _loop(self, wait_first: Callable[[], bool] | None) -> None:
        if wait_first is not None:
            while not self._stop.is_set() and not wait_first():
                self._stop.wait(0.2)
        while not self._stop.is_set():
            self._wake.clear()
            self.run_once()
            self._wake.wait(self.interval_s)

    def start(self, wait_first: Callable[[], bool] | None = None) -> None:
        """Run in a daemon thread (after `wait_first()` is true, e.g. the consumer is connected)."""
        self._thread = threading.Thread(target=self._loop, args=(wait_first,), name=f"reconcile-{self.service}",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
