"""On PostgreSQL: migrations round-trip, 20 concurrent setlist moves (row lock), list query and visibility."""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from shared.db import downgrade_migrations, make_engine, make_session_factory, run_migrations
from shared.testing.directory import StaticDirectory
from shows import repository as repo
from shows import service, setlist
from shows.db import outbox
from shows.schemas import ShowCreate, SongCreate, SongUpdate
from shows.service import Viewer


@pytest.fixture(scope="module")
def pg_factory(pg_url_factory: Callable[[str], str]) -> Iterator[sessionmaker[Session]]:
    """A migrated PostgreSQL database for this module."""
    url = pg_url_factory("shows_it")
    run_migrations("shows", url)
    downgrade_migrations("shows", url)
    run_migrations("shows", url)
    engine = make_engine(url, pool_size=25)
    yield make_session_factory(engine, outbox)
    engine.dispose()


def test_concurrent_moves_stay_dense(pg_factory: sessionmaker[Session]) -> None:
    with pg_factory() as s:
        show = service.create_show(
            s,
            viewer=Viewer(1, "u1"),
            data=ShowCreate(artist_name="Concurrency", venue_name="Lock Hall", date=dt.date(2024, 1, 1)),
            users=StaticDirectory(),
        )
        sid = show["id"]
        ids = [
            setlist.add_song(s, viewer=Viewer(1), show_id=sid, data=SongCreate(title=f"S{i}"), max_songs=100)["id"]
            for i in range(10)
        ]
        s.commit()
    errors: list[BaseException] = []
    barrier = threading.Barrier(20)
    rng = random.Random(11)
    jobs = [(rng.choice(ids), rng.randint(1, 11)) for _ in range(20)]

    def move(song_id: int, target: int) -> None:
        try:
            barrier.wait()
            with pg_factory() as s:
                setlist.update_song(s, viewer=Viewer(1), show_id=sid, song_id=song_id, data=SongUpdate(order=target))
                s.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=move, args=j) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with pg_factory() as s:
        songs = repo.list_songs(s, sid)
        assert [x.position for x in songs] == list(range(1, 11))
        assert sorted(x.id for x in songs) == sorted(ids)


def test_list_filters_and_visibility_on_pg(pg_factory: sessionmaker[Session]) -> None:
    with pg_factory() as s:
        for i, vis in enumerate(["private", "friends", "public"]):
            service.create_show(
                s,
                viewer=Viewer(20, "owner"),
                data=ShowCreate(
                    artist_name="Sigur Rós",
                    venue_name="Harpa",
                    city="Reykjavík",
                    date=dt.date(2023, 1, 1 + i),
                    visibility=vis,
                    visible_to=[21] if vis == "friends" else None,
                ),
                users=StaticDirectory(),
            )
        service.on_friendship(s, user_id=21, friend_id=20, version=1, accepted=True)
        service.on_friendship(s, user_id=22, friend_id=20, version=1, accepted=True)
        s.commit()
        f = repo.ShowFilters(artist="sigur ros", city="reykjavik")
        mine, total = service.list_shows(s, viewer=Viewer(20), owner_id=None, filters=f, sort=None, limit=10, offset=0)
        assert total == 3 and [x["date"] for x in mine] == sorted([x["date"] for x in mine], reverse=True)
        seen: dict[int, set[Any]] = {}
        for viewer in (21, 22, 23):
            rows, _ = service.list_shows(
                s, viewer=Viewer(viewer), owner_id=20, filters=repo.ShowFilters(), sort=None, limit=10, offset=0
            )
            seen[viewer] = {x["visibility"] for x in rows}
        assert seen == {21: {"friends", "public"}, 22: {"public"}, 23: {"public"}}
