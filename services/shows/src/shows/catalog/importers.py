"""What each job kind does (runs in the catalog worker): setlist imports, history imports, artist lookups."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from shared.db import session_scope, utcnow
from shared.users import UserDirectory
from shows import repository as repo
from shows.catalog import heard, lineup
from shows.catalog.csvformats import FileProblem, HistoryRow, read_rows
from shows.catalog.http import SourceError, SourceNotFound
from shows.catalog.models import ArtistRecording
from shows.catalog.setlistfm import SfSetlist
from shows.catalog.sources import Sources
from shows.catalog.text import song_key
from shows.config import ShowsSettings
from shows.exceptions import DuplicateShow
from shows.models import Artist, Concert, SetlistSong, Show, Venue
from shows.normalize import normalize
from shows.schemas import ShowCreate
from shows.service import Viewer, create_show


class JobFailed(Exception):
    """The job cannot succeed; `reason` is what the person reads."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class JobContext:
    """What a handler gets: the job's facts, sessions, the source clients and a progress callback."""

    job_id: int
    user_id: int
    params: dict[str, Any]
    payload: str | None
    factory: sessionmaker[Session]
    sources: Sources
    settings: ShowsSettings
    progress: Callable[[int], None]
    users: UserDirectory  # shows are created for the job's owner, who must still exist (shared.users)


@dataclass
class NewSong:
    """A song to write into a setlist."""

    title: str
    set_number: int = 1
    set_name: str = ""
    encore: int = 0
    is_tape: bool = False
    is_cover: bool = False
    original_artist: str | None = None
    with_artist: str | None = None
    notes: str = ""
    recording_mbid: str | None = None


# ---------------------------------------------------------------- setlists


def songs_from_setlistfm(setlist: SfSetlist) -> list[NewSong]:
    """Every song of every set, keeping set breaks, encores, tape, covers and guests."""
    songs: list[NewSong] = []
    for number, s in enumerate(setlist.sets, start=1):
        name = s.name or (f"Encore {s.encore}" if s.encore else "")
        for song in s.songs:
            songs.append(NewSong(song.name[:200], number, name[:120], s.encore, song.tape, bool(song.cover),
                                 song.cover, song.with_artist, song.info[:500]))
    return songs


def write_setlist(session: Session, show: Show, act_id: int | None, songs: Sequence[NewSong], *, source: str,
                  replace: bool, max_songs: int) -> int:
    """Put an act's imported songs into a show's setlist (after the other acts' songs); returns how many.

    An act that already has songs keeps them unless `replace` (a hand-made setlist is never overwritten silently).
    """
    bill = lineup.act_ids(session, show.id)
    stored_act = None if act_id is None or (bill and act_id == bill[0]) else act_id
    cond = SetlistSong.artist_id.is_(None) if stored_act is None else SetlistSong.artist_id == stored_act
    existing = list(session.scalars(select(SetlistSong.id).where(SetlistSong.show_id == show.id, cond)))
    before = heard.keys_of_shows(session, [show.id])
    if existing and not replace:
        raise JobFailed("This show already has a setlist for that act; import again with replace: true to overwrite.")
    if existing:
        session.execute(delete(SetlistSong).where(SetlistSong.id.in_(existing)))
        session.flush()
        repo.apply_positions(session, show.id, [s.id for s in repo.list_songs(session, show.id)])
    start = repo.max_position(session, show.id)
    if start + len(songs) > max_songs:
        raise JobFailed(f"A setlist holds at most {max_songs} songs.")
    for i, song in enumerate(songs, start=1):
        session.add(SetlistSong(
            show_id=show.id, position=start + i, title=song.title, notes=song.notes, is_cover=song.is_cover,
            original_artist=song.original_artist, with_artist=song.with_artist, artist_id=stored_act,
            set_number=song.set_number, set_name=song.set_name, encore=song.encore, is_tape=song.is_tape,
            recording_mbid=song.recording_mbid, song_key=song_key(song.title), source=source,
        ))
    show.updated_at = utcnow()
    heard.refresh_shows(session, show.user_id, [show.id], before)
    return len(songs)


def _fill_venue(session: Session, venue_id: int, found: SfSetlist) -> None:
    venue = session.get(Venue, venue_id)
    if venue is None:
        return
    if found.venue_id and not venue.setlistfm_id:
        venue.setlistfm_id = found.venue_id
    if venue.latitude is None and found.latitude is not None:
        venue.latitude, venue.longitude = found.latitude, found.longitude
    if not venue.country and found.country:
        venue.country = found.country


def _pick(candidates: list[SfSetlist], venue_name: str, city: str) -> SfSetlist | None:
    """The candidate at the show's venue (or in its city); the only candidate when there is one."""
    vn, cn = normalize(venue_name), normalize(city)
    for c in candidates:
        if vn and (vn in normalize(c.venue_name) or normalize(c.venue_name) in vn):
            return c
    for c in candidates:
        if cn and normalize(c.city) == cn:
            return c
    return candidates[0] if len(candidates) == 1 else None


def import_setlist(ctx: JobContext) -> dict[str, Any]:
    """`POST /api/shows/{id}/setlist/import`: by external id, or found by artist + date + venue."""
    p = ctx.params
    source = p["source"]
    with ctx.factory() as s:
        show = s.get(Show, p["show_id"])
        if show is None or show.user_id != ctx.user_id:
            raise JobFailed("The show is gone.")
        concert = s.get(Concert, show.concert_id)
        act_id = p.get("artist_id") or (concert.artist_id if concert else None)
        artist = s.get(Artist, act_id)
        venue = s.get(Venue, concert.venue_id) if concert else None
        if artist is None or venue is None:
            raise JobFailed("The show has no artist or venue to look up.")
        facts = (artist.name, artist.mbid, venue.name, venue.city, show.show_date, venue.id)
    name, mbid, venue_name, city, date, venue_id = facts
    ctx.progress(10)
    if source == "setlistfm":
        client = ctx.sources.setlistfm
        if p.get("external_id"):
            found: SfSetlist | None = client.setlist(p["external_id"])
        else:
            candidates = client.search(artist_name=name, date=date, artist_mbid=mbid)
            if not candidates and mbid:
                candidates = client.search(artist_name=name, date=date)
            found = _pick(candidates, venue_name, city)
        if found is None:
            raise JobFailed(f"setlist.fm has no setlist of {name} at {venue_name} on {date.isoformat()}.")
        songs, ref = songs_from_setlistfm(found), {"setlist_id": found.id, "url": found.url}
    else:
        if p.get("external_id"):
            mb_songs, event = ctx.sources.musicbrainz.event_setlist(p["external_id"]), p["external_id"]
        else:
            hit = ctx.sources.musicbrainz.find_event_setlist(name, date.isoformat())
            if hit is None:
                raise JobFailed(f"MusicBrainz has no event with a setlist of {name} on {date.isoformat()}.")
            event, mb_songs = hit
        mine = [m for m in mb_songs if m.act is None or normalize(m.act) == normalize(name)] or mb_songs
        songs = [NewSong(m.title[:200], notes=m.note[:500], recording_mbid=m.recording_mbid) for m in mine]
        ref, found = {"event_id": event, "url": f"https://musicbrainz.org/event/{event}"}, None
    if not songs:
        raise JobFailed("The setlist found has no songs yet.")
    ctx.progress(60)
    with session_scope(ctx.factory) as s:
        show = s.get(Show, p["show_id"])
        if show is None:
            raise JobFailed("The show is gone.")
        count = write_setlist(s, show, p.get("artist_id"), songs, source=source, replace=bool(p.get("replace")),
                              max_songs=ctx.settings.setlist_max_songs)
        if found is not None:
            _fill_venue(s, venue_id, found)
            art = s.get(Artist, act_id)
            if art is not None and found.artist_mbid and not art.mbid:
                art.mbid = found.artist_mbid
    sets = len({(x.set_number, x.encore) for x in songs})
    return {"show_id": p["show_id"], "source": source, "songs": count, "sets": sets,
            "encores": len({x.encore for x in songs if x.encore}), "covers": sum(x.is_cover for x in songs),
            "tape": sum(x.is_tape for x in songs), **ref}


# ---------------------------------------------------------------- history (CSV and setlist.fm attended)


def _row_body(row: HistoryRow) -> dict[str, Any]:
    body: dict[str, Any] = {
        "artists": [{"name": n, "role": r} for n, r in row.artists],
        "venue_name": row.venue,
        "city": row.city,
        "state": row.state,
        "country": row.country,
        "date": row.date.isoformat() if row.date else None,
        "visibility": "friends",
    }
    for name in ("ticket_price", "currency", "seat"):
        if getattr(row, name) is not None:
            body[name] = getattr(row, name)
    if row.festival:
        body["festival"] = {"name": row.festival}
    if row.notes:
        body["notes"] = row.notes
    return body


def _log_row(session: Session, viewer: Viewer, row: HistoryRow,
             users: UserDirectory) -> tuple[str, int | None, str | None]:
    """("created"|"matched"|"skipped", show id, reason) for one row; a row already logged is matched."""
    if row.problem:
        return "skipped", None, row.problem
    try:
        data = ShowCreate.model_validate(_row_body(row))
    except ValidationError as exc:
        first = exc.errors()[0]
        return "skipped", None, f"{'.'.join(str(x) for x in first['loc'])}: {first['msg']}"
    try:
        with session.begin_nested():
            body = create_show(session, viewer=viewer, data=data, users=users)
    except DuplicateShow as dup:
        shown = (dup.details or [{}])[0].get("message")
        return "matched", int(shown) if shown and shown.isdigit() else None, None
    return "created", int(body["id"]), None


def _history(ctx: JobContext, rows: list[HistoryRow], dry_run: bool,
             after_row: Callable[[Session, HistoryRow, int], None] | None = None) -> dict[str, Any]:
    viewer = Viewer(id=ctx.user_id, username=ctx.params.get("viewer") or "")
    counts = {"created": 0, "matched": 0, "skipped": 0}
    report: list[dict[str, Any]] = []
    batch = 100
    session = ctx.factory()
    try:
        for start in range(0, len(rows), batch):
            for row in rows[start:start + batch]:
                status, show_id, reason = _log_row(session, viewer, row, ctx.users)
                counts[status] += 1
                if status == "created" and show_id is not None and after_row is not None:
                    after_row(session, row, show_id)
                if len(report) < 1000:
                    report.append({"line": row.line, "status": status, "show_id": show_id, "reason": reason,
                                   "artist": row.artists[0][0] if row.artists else None,
                                   "date": row.date.isoformat() if row.date else None})
            if not dry_run:
                session.commit()  # a crash later redoes nothing: these rows are matched next time
                # (a dry run holds one transaction to the end: on SQLite a progress write would wait for it)
                ctx.progress(min(99, 5 + int(95 * min(len(rows), start + batch) / max(1, len(rows)))))
        if dry_run:
            session.rollback()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    return {**counts, "dry_run": dry_run, "total": len(rows), "rows": report}


def import_history(ctx: JobContext) -> dict[str, Any]:
    """`POST /api/imports`: every row of a history file becomes a show (or is matched, or skipped)."""
    try:
        rows = read_rows(ctx.payload or "", ctx.params["format"], ctx.settings.import_max_rows)
    except FileProblem as exc:
        raise JobFailed(str(exc)) from exc
    ctx.progress(5)
    return _history(ctx, rows, bool(ctx.params.get("dry_run")))


def import_attended(ctx: JobContext) -> dict[str, Any]:
    """`POST /api/imports/setlistfm-attended`: a setlist.fm user's attended concerts, with their setlists."""
    client = ctx.sources.setlistfm
    found: list[SfSetlist] = []
    page, total = 1, None
    try:
        while page <= ctx.settings.catalog_attended_pages:
            items, total_here = client.attended(ctx.params["username"], page)
            total = total if total is not None else total_here
            found.extend(items)
            ctx.progress(min(40, 5 + page * 5))
            if not items or len(found) >= (total or 0):
                break
            page += 1
    except SourceNotFound as exc:
        raise JobFailed(f"setlist.fm has no user {ctx.params['username']!r}.") from exc
    rows = [HistoryRow(i + 1, sl.date, [(sl.artist_name, "headliner")], sl.venue_name, sl.city, sl.state, sl.country,
                       setlistfm_id=sl.id) for i, sl in enumerate(found)]
    by_line = {r.line: sl for r, sl in zip(rows, found, strict=True)}

    def with_setlist(session: Session, row: HistoryRow, show_id: int) -> None:
        sl = by_line[row.line]
        show = session.get(Show, show_id)
        concert = session.get(Concert, show.concert_id) if show else None
        if show is None or concert is None:
            return
        _fill_venue(session, concert.venue_id, sl)
        songs = songs_from_setlistfm(sl)
        if songs:
            write_setlist(session, show, None, songs, source="setlistfm", replace=False,
                          max_songs=ctx.settings.setlist_max_songs)

    result = _history(ctx, rows, bool(ctx.params.get("dry_run")), with_setlist)
    return {**result, "username": ctx.params["username"]}


# ---------------------------------------------------------------- artists


def lookup_artist(ctx: JobContext) -> dict[str, Any]:
    """`POST /api/artists/{id}/lookup`: MBID (asking when ambiguous), aliases, image, description, recordings."""
    mb = ctx.sources.musicbrainz
    with ctx.factory() as s:
        artist = s.get(Artist, ctx.params["artist_id"])
        if artist is None:
            raise JobFailed("The artist is gone.")
        name, mbid = artist.name, ctx.params.get("mbid") or artist.mbid
    if not mbid:
        hits = mb.search_artists(name)
        exact = [h for h in hits if normalize(h.name) == normalize(name)
                 or normalize(name) in {normalize(a) for a in h.aliases}]
        if len(exact) > 1 and exact[0].score - exact[1].score < 10:
            return {"ambiguous": True, "artist_id": ctx.params["artist_id"],
                    "candidates": [{"mbid": h.mbid, "name": h.name, "disambiguation": h.disambiguation,
                                    "score": h.score} for h in exact[:10]]}
        best = exact[0] if exact else (hits[0] if hits and hits[0].score >= 95 else None)
        if best is None:
            raise JobFailed(f"MusicBrainz has no artist called {name!r}.")
        mbid = best.mbid
    ctx.progress(20)
    info = mb.artist(mbid)
    image, description = info.image_url, None
    if info.wikidata_id:
        try:
            wd_image, description = ctx.sources.wikidata.image_and_description(info.wikidata_id)
            image = image or wd_image
        except SourceError:
            pass  # the picture and the blurb are extras: the artist is known without them
    ctx.progress(40)
    recordings = mb.recordings(mbid, max_pages=ctx.settings.catalog_recording_pages)
    ctx.progress(90)
    with session_scope(ctx.factory) as s:
        artist = s.get(Artist, ctx.params["artist_id"])
        if artist is None:
            raise JobFailed("The artist is gone.")
        artist.mbid, artist.sort_name, artist.disambiguation = mbid, info.sort_name or None, info.disambiguation
        artist.aliases = info.aliases or None
        artist.image_url = image or artist.image_url
        if description:
            artist.description = description[:500]
        artist.catalog_fetched_at = utcnow()
        s.execute(delete(ArtistRecording).where(ArtistRecording.artist_id == artist.id))
        seen: set[str] = set()
        for r in recordings:
            if r.mbid in seen:
                continue
            seen.add(r.mbid)
            s.add(ArtistRecording(artist_id=artist.id, mbid=r.mbid, title=r.title[:300], song_key=song_key(r.title),
                                  length_ms=r.length_ms))
    return {"artist_id": ctx.params["artist_id"], "mbid": mbid, "name": info.name,
            "disambiguation": info.disambiguation, "aliases": info.aliases, "image_url": image,
            "recordings": len(seen), "songs_known": len({song_key(r.title) for r in recordings})}


HANDLERS: dict[str, Callable[[JobContext], dict[str, Any]]] = {
    "setlist_import": import_setlist,
    "history_import": import_history,
    "setlistfm_attended": import_attended,
    "artist_lookup": lookup_artist,
}

