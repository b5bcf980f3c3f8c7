"""The songs a person heard live, kept as one summary row per (person, act, song) so reading them is one
indexed query. Every change of a setlist or a show refreshes the rows of the (act, song) pairs it touched."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, false, func, select, tuple_
from sqlalchemy.orm import Session

from shared.db import utcnow
from shows.catalog.models import HeardSong, HeardState
from shows.models import Concert, SetlistSong, Show

Key = tuple[int, str]  # (the act's artist id, song key)


def _act() -> Any:
    return func.coalesce(SetlistSong.artist_id, Concert.artist_id)


def _songs(user_id: int) -> Any:
    return (
        select()
        .select_from(SetlistSong)
        .join(Show, Show.id == SetlistSong.show_id)
        .join(Concert, Concert.id == Show.concert_id)
        .where(Show.user_id == user_id, SetlistSong.is_tape.is_(false()))
    )


def keys_of_shows(session: Session, show_ids: Iterable[int]) -> set[Key]:
    """The (act, song) pairs of some shows' setlists (read before a change, refreshed after it)."""
    ids = list(show_ids)
    return _keys(session, SetlistSong.show_id.in_(ids)) if ids else set()


def _keys(session: Session, where: Any) -> set[Key]:
    stmt = (
        select(_act(), SetlistSong.song_key)
        .select_from(SetlistSong)
        .join(Show, Show.id == SetlistSong.show_id)
        .join(Concert, Concert.id == Show.concert_id)
        .where(where)
        .distinct()
    )
    return {(int(a), k) for a, k in session.execute(stmt)}


def _is_built(session: Session, user_id: int, lock: bool = False) -> bool:
    stmt = select(HeardState.user_id).where(HeardState.user_id == user_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()  # one refresh of a person's rows at a time
    return session.scalar(stmt) is not None


def _insert(session: Session, user_id: int, keys: set[Key] | None) -> None:
    act = _act().label("act")
    stmt = _songs(user_id).add_columns(act, SetlistSong.song_key, SetlistSong.title, Show.show_date, Show.id)
    if keys is not None:
        # the plain IN on song_key lets the index narrow the rows; the pair IN keeps only the acts asked for
        stmt = stmt.where(SetlistSong.song_key.in_({k for _, k in keys}),
                          tuple_(act, SetlistSong.song_key).in_(list(keys)))
    groups: dict[Key, dict[str, Any]] = {}
    for a, key, title, date, sid in session.execute(stmt):
        g = groups.get((a, key))
        if g is None:
            groups[(a, key)] = {"user_id": user_id, "artist_id": a, "song_key": key, "title": title, "times": 1,
                                "first_heard": date, "last_heard": date, "show_ids": {sid}}
            continue
        g["times"] += 1
        g["title"] = min(g["title"], title)
        g["first_heard"], g["last_heard"] = min(g["first_heard"], date), max(g["last_heard"], date)
        g["show_ids"].add(sid)
    rows = [{**g, "show_ids": sorted(g["show_ids"])} for g in groups.values()]
    if rows:
        session.execute(HeardSong.__table__.insert(), rows)


def rebuild(session: Session, user_id: int) -> None:
    """Build a person's rows from all their setlists."""
    session.execute(delete(HeardSong).where(HeardSong.user_id == user_id))
    _insert(session, user_id, None)
    if not _is_built(session, user_id):
        session.add(HeardState(user_id=user_id, built_at=utcnow()))
    session.flush()


def refresh(session: Session, user_id: int, keys: set[Key]) -> None:
    """Recount the given (act, song) pairs of a person after a change (nothing to do before the first build)."""
    if not keys:
        return
    session.flush()
    if _is_built(session, user_id, lock=True):
        _recount(session, user_id, keys)


def _recount(session: Session, user_id: int, keys: set[Key]) -> None:
    pairs = list(keys)
    for i in range(0, len(pairs), 500):
        chunk = pairs[i:i + 500]
        session.execute(delete(HeardSong).where(HeardSong.user_id == user_id,
                                                tuple_(HeardSong.artist_id, HeardSong.song_key).in_(chunk)))
        _insert(session, user_id, set(chunk))
    session.flush()


def refresh_shows(session: Session, user_id: int, show_ids: Iterable[int], before: set[Key]) -> None:
    """After a change of some shows: recount what they had before and what they have now."""
    session.flush()
    if _is_built(session, user_id, lock=True):  # before the first build there is nothing to keep current
        _recount(session, user_id, before | keys_of_shows(session, show_ids))


def refresh_added(session: Session, user_id: int, song_ids: Iterable[int]) -> None:
    """After songs were added: recount their (act, song) pairs only (a whole setlist's were read for each)."""
    ids = list(song_ids)
    session.flush()
    if ids and _is_built(session, user_id, lock=True):
        _recount(session, user_id, _keys(session, SetlistSong.id.in_(ids)))


def page(session: Session, user_id: int, artist_id: int | None, limit: int, offset: int) -> tuple[list[HeardSong],
                                                                                                   int]:
    """One page of a person's songs, most heard first, and how many in all (built on first use)."""
    if not _is_built(session, user_id):
        rebuild(session, user_id)
    cond = [HeardSong.user_id == user_id]
    if artist_id is not None:
        cond.append(HeardSong.artist_id == artist_id)
    stmt = (select(HeardSong).where(*cond)
            .order_by(HeardSong.times.desc(), HeardSong.song_key, HeardSong.artist_id).limit(limit).offset(offset))
    total = session.scalar(select(func.count()).select_from(HeardSong).where(*cond))
    return list(session.scalars(stmt)), int(total or 0)
