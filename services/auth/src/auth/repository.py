"""Every query of the auth service; flushes, never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from auth.models import (
    AuthSession,
    DeletedUser,
    MfaChallenge,
    MfaCode,
    OneTimeToken,
    OutboundMessage,
    RecoveryCode,
    RefreshToken,
    SessionRevocation,
    User,
)
from shared.db import utcnow

# ---------------------------------------------------------------- users


def get_user(session: Session, user_id: int) -> User | None:
    """A user by id."""
    return session.get(User, user_id)


def get_user_by_username(session: Session, username: str) -> User | None:
    """A user by username (case-insensitive)."""
    return session.scalar(select(User).where(User.username_lower == username.lower()))


def get_user_by_email(session: Session, email: str) -> User | None:
    """A user by email (stored lower-cased)."""
    return session.scalar(select(User).where(User.email == email.lower()))


def users_by_ids(session: Session, ids: Sequence[int]) -> list[User]:
    """Users among `ids` (unknown ids skipped)."""
    if not ids:
        return []
    return list(session.scalars(select(User).where(User.id.in_(ids)).order_by(User.id)))


def add_user(session: Session, user: User) -> User:
    """Insert a user."""
    session.add(user)
    session.flush()
    return user


def delete_user(session: Session, user: User) -> int:
    """Delete a user and their tokens and codes, leaving a tombstone; returns the tombstone's version."""
    version = user.version + 1
    session.add(DeletedUser(id=user.id, version=version, deleted_at=utcnow()))
    session.execute(delete(RefreshToken).where(RefreshToken.user_id == user.id))
    session.execute(delete(OneTimeToken).where(OneTimeToken.user_id == user.id))
    session.execute(delete(MfaCode).where(MfaCode.user_id == user.id))
    session.execute(delete(MfaChallenge).where(MfaChallenge.user_id == user.id))
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
    session.delete(user)
    session.flush()
    return version


def users_snapshot(
    session: Session, *, after: int, limit: int, since: datetime | None, ids: Sequence[int] | None
) -> tuple[list[User], list[DeletedUser]]:
    """Live users and tombstones with id > `after` (changed since `since`, among `ids`), each by id."""
    live = select(User).where(User.id > after).order_by(User.id).limit(limit)
    dead = select(DeletedUser).where(DeletedUser.id > after).order_by(DeletedUser.id).limit(limit)
    if since is not None:
        live = live.where(User.updated_at >= since)
        dead = dead.where(DeletedUser.deleted_at >= since)
    if ids is not None:
        live = live.where(User.id.in_(ids))
        dead = dead.where(DeletedUser.id.in_(ids))
    return list(session.scalars(live)), list(session.scalars(dead))


def consume_totp_step(session: Session, user_id: int, step: int) -> bool:
    """Record `step` as the last accepted TOTP step only if it is strictly later (atomic)."""
    result = session.execute(
        update(User)
        .where(User.id == user_id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- sessions and revocations


def add_session(session: Session, row: AuthSession) -> None:
    """Store a new session."""
    session.add(row)
    session.flush()


def get_session(session: Session, sid: str) -> AuthSession | None:
    """A session by id."""
    return session.get(AuthSession, sid)


def active_sessions(session: Session, user_id: int, now: datetime) -> list[AuthSession]:
    """A user's sessions that are neither revoked nor expired, most recently used first."""
    stmt = (
        select(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None), AuthSession.expires_at > now)
        .order_by(AuthSession.last_used_at.desc(), AuthSession.created_at.desc())
    )
    return list(session.scalars(stmt))


def sessions_to_revoke(session: Session, *, user_id: int, sids: Sequence[str] | None = None,
                       keep: str | None = None) -> list[AuthSession]:
    """Unrevoked sessions of a user (all, or those in `sids`), except `keep`; locked for the update."""
    stmt = select(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    if sids is not None:
        stmt = stmt.where(AuthSession.id.in_(list(sids)))
    if keep:
        stmt = stmt.where(AuthSession.id != keep)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return list(session.scalars(stmt))


def mark_revoked(session: Session, rows: Sequence[AuthSession], *, reason: str, now: datetime,
                 expires_at: datetime) -> None:
    """Revoke sessions: their refresh tokens die and one revocation row each is written for catch-ups."""
    for row in rows:
        row.revoked_at = now
        row.revoked_reason = reason
        session.add(SessionRevocation(sid=row.id, user_id=row.user_id, reason=reason, revoked_at=now,
                                      expires_at=expires_at))
    if rows:
        session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id.in_([r.id for r in rows]))
            .values(revoked=True)
            .execution_options(synchronize_session=False)
        )
    session.flush()


def revocations_after(session: Session, after: int, now: datetime, limit: int = 5000) -> list[SessionRevocation]:
    """Revocations with an id above `after` whose tokens may still be valid, in id order."""
    stmt = (
        select(SessionRevocation)
        .where(SessionRevocation.id > after, SessionRevocation.expires_at > now)
        .order_by(SessionRevocation.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def revocation_cursor(session: Session, settled_before: datetime) -> int:
    """The highest revocation id written before `settled_before` (0 if none)."""
    value = session.scalar(
        select(func.max(SessionRevocation.id)).where(SessionRevocation.revoked_at <= settled_before)
    )
    return int(value or 0)


def max_revocation_id(session: Session) -> int:
    """The highest revocation id (0 if none)."""
    return int(session.scalar(select(func.max(SessionRevocation.id))) or 0)


def prune_revocations(session: Session, before: datetime) -> int:
    """Delete revocation rows whose tokens all expired before `before`."""
    result = session.execute(delete(SessionRevocation).where(SessionRevocation.expires_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- refresh tokens


def add_refresh_token(session: Session, token: RefreshToken) -> None:
    """Store an issued refresh token."""
    session.add(token)
    session.flush()


def get_refresh_token(session: Session, jti: str) -> RefreshToken | None:
    """A refresh token by jti."""
    return session.get(RefreshToken, jti)


def mark_refresh_used(session: Session, jti: str, now: datetime) -> bool:
    """Mark a refresh token used if it was not (atomic: only one of two racing refreshes wins)."""
    result = session.execute(
        update(RefreshToken)
        .where(RefreshToken.jti == jti, RefreshToken.used_at.is_(None), RefreshToken.revoked.is_(False))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def revoke_family(session: Session, family_id: str) -> None:
    """Revoke every token of a refresh family."""
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id)
        .values(revoked=True)
        .execution_options(synchronize_session=False)
    )


def revoke_user_refresh_tokens(session: Session, user_id: int) -> None:
    """Revoke every refresh token of a user (all sessions)."""
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked.is_(False))
        .values(revoked=True)
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------- one-time link tokens


def add_link_token(session: Session, token: OneTimeToken) -> None:
    """Store a verification/reset token (hash only)."""
    session.add(token)
    session.flush()


def get_link_token(session: Session, token_hash: str) -> OneTimeToken | None:
    """A link token by hash."""
    return session.scalar(select(OneTimeToken).where(OneTimeToken.token_hash == token_hash))


def use_link_token(session: Session, token_id: int, now: datetime) -> bool:
    """Mark a link token used if it was unused (atomic single use)."""
    result = session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.id == token_id, OneTimeToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def invalidate_link_tokens(session: Session, user_id: int, purpose: str | Sequence[str], now: datetime) -> None:
    """Mark every unused token of `purpose` (or of several purposes) for a user as used."""
    purposes = [purpose] if isinstance(purpose, str) else list(purpose)
    session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.user_id == user_id, OneTimeToken.purpose.in_(purposes), OneTimeToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------- MFA challenges, codes, recovery codes


def add_challenge(session: Session, challenge: MfaChallenge) -> None:
    """Store a pending MFA login attempt."""
    session.add(challenge)
    session.flush()


def get_challenge(session: Session, challenge_id: str) -> MfaChallenge | None:
    """A pending MFA login attempt by id."""
    return session.get(MfaChallenge, challenge_id)


def consume_challenge(session: Session, challenge_id: str, now: datetime) -> bool:
    """Mark a challenge consumed (atomic: one session per login attempt)."""
    result = session.execute(
        update(MfaChallenge)
        .where(MfaChallenge.id == challenge_id, MfaChallenge.consumed_at.is_(None))
        .values(consumed_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def add_code(session: Session, code: MfaCode) -> None:
    """Store a sent code (hash only)."""
    session.add(code)
    session.flush()


def latest_code(session: Session, user_id: int, purpose: str, challenge_id: str | None = None) -> MfaCode | None:
    """The newest unused code of a user for a purpose (and login attempt)."""
    stmt = select(MfaCode).where(MfaCode.user_id == user_id, MfaCode.purpose == purpose, MfaCode.used_at.is_(None))
    if challenge_id is not None:
        stmt = stmt.where(MfaCode.challenge_id == challenge_id)
    return session.scalar(stmt.order_by(MfaCode.id.desc()).limit(1))


def invalidate_codes(session: Session, user_id: int, purpose: str, now: datetime) -> None:
    """Retire every unused code of a user for a purpose (a new one replaces them)."""
    session.execute(
        update(MfaCode)
        .where(MfaCode.user_id == user_id, MfaCode.purpose == purpose, MfaCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )


def use_code(session: Session, code_id: int, now: datetime) -> bool:
    """Mark a code used if it was unused (atomic single use)."""
    result = session.execute(
        update(MfaCode)
        .where(MfaCode.id == code_id, MfaCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def replace_recovery_codes(session: Session, user_id: int, hashes: list[str]) -> None:
    """Drop a user's recovery codes and store new ones."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    session.add_all(RecoveryCode(user_id=user_id, code_hash=h) for h in hashes)
    session.flush()


def delete_recovery_codes(session: Session, user_id: int) -> None:
    """Drop a user's recovery codes."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))


def use_recovery_code(session: Session, user_id: int, code_hash: str, now: datetime) -> bool:
    """Spend one unused recovery code (atomic single use)."""
    result = session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.code_hash == code_hash, RecoveryCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- outbound mail / SMS


def add_message(session: Session, message: OutboundMessage) -> None:
    """Queue a mail or SMS in the caller's transaction."""
    session.add(message)
    session.flush()


def pending_message_ids(session: Session, now: datetime, limit: int = 20, max_attempts: int = 8) -> list[int]:
    """Ids of unsent messages that nobody is sending right now."""
    stmt = (
        select(OutboundMessage.id)
        .where(
            OutboundMessage.sent_at.is_(None),
            OutboundMessage.attempts < max_attempts,
            or_(OutboundMessage.locked_until.is_(None), OutboundMessage.locked_until < now),
        )
        .order_by(OutboundMessage.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def claim_message(session: Session, message_id: int, now: datetime, until: datetime) -> OutboundMessage | None:
    """Lock one message for sending (compare-and-set so two senders never send it twice)."""
    result = session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.id == message_id,
            OutboundMessage.sent_at.is_(None),
            or_(OutboundMessage.locked_until.is_(None), OutboundMessage.locked_until < now),
        )
        .values(locked_until=until, attempts=OutboundMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return session.get(OutboundMessage, message_id, populate_existing=True)
