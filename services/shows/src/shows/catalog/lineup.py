"""Bills of shows (headliner, support, guest acts), festival and ticket facts, and artists by name or alias."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import String, cast, delete, func, select
from sqlalchemy.orm import Session

from shows import repository as repo
from shows.catalog.models import ShowAct
from shows.exceptions import InvalidField
from shows.models import Artist, Concert, Show
from shows.normalize import like_escape, normalize

ROLES = ("headliner", "support", "guest")


def find_artist(session: Session, name: str, mbid: str | None = None) -> Artist | None:
    """An existing artist: by MBID, else by normalised name, else by an exact alias (case-insensitive)."""
    if mbid:
        hit = session.scalars(select(Artist).where(Artist.mbid == mbid).order_by(Artist.id)).first()
        if hit is not None:
            return hit
    norm = normalize(name)
    hit = session.scalars(select(Artist).where(Artist.name_norm == norm)).first()
    if hit is not None or not name.strip():
        return hit
    # aliases are a JSON list of names: an exact, quoted element matches
    needle = f'%"{like_escape(name.strip().lower())}"%'
    stmt = select(Artist).where(Artist.aliases.is_not(None),
                                func.lower(cast(Artist.aliases, String)).like(needle, escape="\\"))
    return session.scalars(stmt.order_by(Artist.id)).first()


def resolve_artist(session: Session, name: str, mbid: str | None = None) -> Artist:
    """The artist for a typed name (an alias finds its artist), created when nobody used the name yet."""
    found = find_artist(session, name, mbid)
    if found is not None:
        if mbid and not found.mbid:
            found.mbid = mbid
        return found
    return repo.find_or_create_artist(session, name.strip()[:200], normalize(name), mbid or None)


def set_lineup(session: Session, show_id: int, headliner_id: int, acts: Sequence[tuple[int, str]], *,
               new: bool = False) -> None:
    """Replace a show's bill: the headliner first, then the other acts in the order given (duplicates dropped).
    `new`: the show was inserted in this transaction, so it has no bill to delete."""
    if not new:
        session.execute(delete(ShowAct).where(ShowAct.show_id == show_id))
    seen = {headliner_id}
    rows = [ShowAct(show_id=show_id, artist_id=headliner_id, role="headliner", position=1)]
    for artist_id, role in acts:
        if artist_id in seen:
            continue
        seen.add(artist_id)
        rows.append(ShowAct(show_id=show_id, artist_id=artist_id, role=role, position=len(rows) + 1))
    session.add_all(rows)
    session.flush()


def ensure_headliner(session: Session, show_id: int, headliner_id: int) -> None:
    """Keep the bill's headliner equal to the concert's artist after the show moved to another concert."""
    acts = list(session.scalars(select(ShowAct).where(ShowAct.show_id == show_id).order_by(ShowAct.position)))
    first = next((a for a in acts if a.position == 1), None)
    if first is not None and first.artist_id == headliner_id:
        return
    others = [(a.artist_id, a.role) for a in acts if a is not first and a.artist_id != headliner_id]
    set_lineup(session, show_id, headliner_id, others)


def act_ids(session: Session, show_id: int) -> list[int]:
    """Artist ids on a show's bill, in order."""
    stmt = select(ShowAct.artist_id).where(ShowAct.show_id == show_id).order_by(ShowAct.position)
    return list(session.scalars(stmt))


def lineups(session: Session, show_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """The bills of several shows in one query: {show_id: [{artist{...}, role, position}]}."""
    ids = list(show_ids)
    if not ids:
        return {}
    stmt = (
        select(ShowAct.show_id, ShowAct.role, ShowAct.position, Artist.id, Artist.name, Artist.mbid, Artist.image_url,
               Artist.disambiguation)
        .join(Artist, Artist.id == ShowAct.artist_id)
        .where(ShowAct.show_id.in_(ids))
        .order_by(ShowAct.show_id, ShowAct.position)
    )
    out: dict[int, list[dict[str, Any]]] = {}
    for sid, role, pos, aid, name, mbid, image, dis in session.execute(stmt):
        out.setdefault(sid, []).append(act_json(aid, name, mbid, image, dis, role, pos))
    return out


def act_json(artist_id: int, name: str, mbid: str | None, image_url: str | None, disambiguation: str | None,
             role: str, position: int) -> dict[str, Any]:
    """One act of a bill as the contract's JSON."""
    return {
        "artist": {"id": artist_id, "name": name, "mbid": mbid, "image_url": image_url,
                   "disambiguation": disambiguation or ""},
        "role": role,
        "position": position,
    }


def apply_show_extras(session: Session, show: Show, data: Any, fields: set[str], *,
                      headliner_id: int | None = None, new: bool = False) -> None:
    """Festival, ticket facts and the bill from a create/update body (only the fields it sent).

    `headliner_id`: the concert's artist when the caller has it; `new`: the show was inserted in this
    transaction (it has no bill yet): a new show skips three statements.
    """
    session.flush()
    if headliner_id is None:
        headliner_id = session.scalars(select(Concert.artist_id).where(Concert.id == show.concert_id)).one()
    if "festival" in fields:
        fest = data.festival
        show.festival_name = fest.name if fest else None
        show.festival_day = fest.day if fest else None
        show.festival_stage = fest.stage if fest else None
    for name in ("ticket_price", "currency", "seat"):
        if name in fields:
            setattr(show, name, getattr(data, name))
    if "artists" in fields and data.artists is not None:
        acts: list[tuple[int, str]] = []
        for act in data.artists:
            artist = resolve_artist(session, act.name, act.mbid)
            if artist.id != headliner_id:
                acts.append((artist.id, act.role if act.role != "headliner" else "support"))
        set_lineup(session, show.id, headliner_id, acts, new=new)
    elif new or not act_ids(session, show.id):
        set_lineup(session, show.id, headliner_id, [], new=new)
    else:
        ensure_headliner(session, show.id, headliner_id)


def act_for_song(session: Session, show_id: int, artist_id: int | None, artist_name: str | None) -> int | None:
    """The act a setlist song names (by id or name); it must be on the show's bill. None = the headliner."""
    if artist_id is None and not artist_name:
        return None
    bill = act_ids(session, show_id)
    if artist_id is None:
        found = find_artist(session, artist_name or "")
        artist_id = found.id if found is not None else None
    if artist_id is None or artist_id not in bill:
        raise InvalidField("That act is not on this show's bill; add it to the lineup first.", field="artist_id")
    return None if bill and artist_id == bill[0] else artist_id
