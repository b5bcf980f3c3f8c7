"""shared.copies: newer-wins writes, placeholders and locks, snapshot pages, and the reconciler over HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from shared.copies import CopySpec, Reconciler, apply_if_newer, lock_copies, lock_copy, merge_page
from shared.db import make_base, make_engine, make_session_factory, session_scope
from shared.internal import InternalClient

Base = make_base()


class Thing(Base):
    __tablename__ = "thing_copy"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(50))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=0)


def _factory(url: str) -> sessionmaker[Session]:
    engine = make_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    return make_session_factory(engine)


@pytest.fixture(params=["sqlite", "postgresql"])
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> sessionmaker[Session]:
    if request.param == "sqlite":
        return _factory(f"sqlite:///{tmp_path / 'copy.db'}")
    return _factory(request.getfixturevalue("pg_url_factory")(f"copies_{tmp_path.name[-8:]}".lower()))


def _apply(session: Session, item: dict[str, Any]) -> bool:
    return apply_if_newer(session, Thing, {"id": item["id"]}, item["version"],
                          {"name": item.get("name", ""), "deleted": bool(item.get("deleted"))})


def test_only_newer_versions_write(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as s:
        assert _apply(s, {"id": 1, "name": "v2", "version": 2}) is True
        assert _apply(s, {"id": 1, "name": "v1", "version": 1}) is False  # older: ignored
        assert _apply(s, {"id": 1, "name": "v2 again", "version": 2}) is False  # same: ignored
        assert _apply(s, {"id": 1, "deleted": True, "version": 3}) is True
        assert _apply(s, {"id": 1, "name": "revived?", "version": 2}) is False
    with factory() as s:
        thing = s.get(Thing, 1)
        assert thing is not None and (thing.deleted, thing.version, thing.name) == (True, 3, "")


def test_lock_copy_makes_a_placeholder_that_any_event_overwrites(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as s:
        row = lock_copy(s, Thing, {"id": 7}, {"name": "", "deleted": False})
        assert (row.version, row.deleted) == (0, False)
    with session_scope(factory) as s:
        assert _apply(s, {"id": 7, "name": "real", "version": 1}) is True
        assert lock_copy(s, Thing, {"id": 7}, {"name": "", "deleted": False}).name == "real"  # existing kept


def test_lock_copies_locks_many_in_key_order_keeping_what_exists(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as s:
        assert _apply(s, {"id": 5, "name": "gone", "version": 2, "deleted": True}) is True
    with session_scope(factory) as s:
        rows = lock_copies(s, Thing, "id", [9, 5, 7, 9], {"name": "", "deleted": False})
        assert [(r.id, r.version, r.deleted) for r in rows] == [(5, 2, True), (7, 0, False), (9, 0, False)]
        assert lock_copies(s, Thing, "id", [], {"name": "", "deleted": False}) == []


def test_merge_page_interleaves_live_rows_and_tombstones() -> None:
    page = merge_page([{"k": 1}, {"k": 4}, {"k": 5}], [{"k": 2}, {"k": 3}], key="k", limit=3)
    assert [i["k"] for i in page.items] == [1, 2, 3] and page.next_after == "3"
    last = merge_page([{"k": 9}], [], key="k", limit=3)
    assert last.next_after is None


class _Owner:
    """An owner serving `/internal/snapshot/things` from a dict, paged by id, honouring `since` (a counter)."""

    def __init__(self) -> None:
        self.items: dict[int, dict[str, Any]] = {}
        self.requests: list[dict[str, list[str]]] = []
        self.fail = False

    def page(self, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        self.requests.append(query)
        if self.fail:
            return 500, {"error": "down"}
        after = int(query.get("after", ["0"])[0])
        limit = int(query["limit"][0])
        rows = [self.items[k] for k in sorted(self.items) if k > after]
        if "since" in query:
            rows = [r for r in rows if r.get("changed_late")]
        return 200, merge_page(rows[:limit], [], key="id", limit=limit).as_json()


@pytest.fixture
def owner() -> Iterator[tuple[_Owner, str]]:
    state = _Owner()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            status, body = state.page(parse_qs(url.query))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_reconciler_repairs_lost_and_reordered_events_over_http(tmp_path: Path, owner: tuple[_Owner, str]) -> None:
    state, url = owner
    factory = _factory(f"sqlite:///{tmp_path / 'copy.db'}")
    # the owner's truth: 1 live at v3, 2 deleted at v2, 3..25 live at v1 (several pages of 10)
    state.items = {i: {"id": i, "name": f"t{i}", "version": 1} for i in range(3, 26)}
    state.items[1] = {"id": 1, "name": "current", "version": 3}
    state.items[2] = {"id": 2, "deleted": True, "version": 2}
    # the copy: 1 stuck at v2 (the v3 event was lost), 2 live (the deletion never arrived), 3 already current
    with session_scope(factory) as s:
        _apply(s, {"id": 1, "name": "stale", "version": 2})
        _apply(s, {"id": 2, "name": "ghost", "version": 1})
        _apply(s, {"id": 3, "name": "t3", "version": 1})
    client = InternalClient(url, "token", service="owner")
    rec = Reconciler("test", factory, {"owner": client}, [("owner", CopySpec("things", "/snap", _apply))],
                     page_size=10)
    assert rec.run_once() == {"things": 2 + 22}  # 1 and 2 repaired, 4..25 created; 3 already right
    with factory() as s:
        assert s.get(Thing, 1).name == "current" and s.get(Thing, 2).deleted is True
        assert s.query(Thing).count() == 25
    assert len(state.requests) == 3  # 25 items in pages of 10
    # the next pass only asks for what changed since the last one began (minus the overlap)
    state.requests.clear()
    state.items[4] = {"id": 4, "name": "renamed", "version": 2, "changed_late": True}
    assert rec.run_once() == {"things": 1}
    assert all("since" in q for q in state.requests)
    # an owner that cannot answer: nothing changes; what changed meanwhile is caught up by the next pass
    state.fail = True
    assert rec.run_once() == {}
    state.items[5] = {"id": 5, "deleted": True, "version": 2, "changed_late": True}
    state.fail = False
    assert rec.run_once() == {"things": 1}
    with factory() as s:
        assert s.get(Thing, 5).deleted is True
    # after a reconnect of the consumer (events may have been lost meanwhile), a full pass
    state.requests.clear()
    rec.request_pass()
    rec.run_once()
    assert all("since" not in q for q in state.requests)
    client.close()


class Child(Base):
    __tablename__ = "thing_child"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    thing_id: Mapped[int] = mapped_column(Integer)


@pytest.mark.parametrize("writer_first", [True, False])
def test_a_write_racing_a_tombstone_is_never_orphaned_on_postgresql(
    pg_url_factory: Any, tmp_path: Path, writer_first: bool
) -> None:
    """An upload (child row) and the show's deletion (tombstone + delete children) commit concurrently:
    whichever locks the copy row first, no child of a deleted thing survives."""
    import time

    from sqlalchemy import delete, func, select

    factory = _factory(pg_url_factory(f"race_{tmp_path.name[-8:]}_{int(writer_first)}".lower()))
    with session_scope(factory) as s:
        _apply(s, {"id": 1, "name": "show", "version": 1})
    outcome: dict[str, Any] = {}
    first_locked = threading.Event()

    def writer() -> None:
        if not writer_first:
            first_locked.wait(5)
        with session_scope(factory) as s:
            row = lock_copy(s, Thing, {"id": 1}, {"name": "", "deleted": False})
            if writer_first:
                first_locked.set()
                time.sleep(0.5)  # hold the lock while the deletion tries to run
            if row.deleted:
                outcome["writer"] = "refused"
                return
            s.add(Child(thing_id=1))
            outcome["writer"] = "stored"

    def deleter() -> None:
        if writer_first:
            first_locked.wait(5)
        with session_scope(factory) as s:
            _apply(s, {"id": 1, "deleted": True, "version": 2})  # the upsert takes the row lock
            if not writer_first:
                first_locked.set()
                time.sleep(0.5)
            s.execute(delete(Child).where(Child.thing_id == 1))

    threads = [threading.Thread(target=writer), threading.Thread(target=deleter)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Child)) == 0
    assert outcome["writer"] == ("stored" if writer_first else "refused")
