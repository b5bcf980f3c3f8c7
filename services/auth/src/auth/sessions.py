"""Sessions: tokens of a session, refresh rotation, revocation pushed to every process, step-up checks.

A session is one signed-in device. Its id is the `sid` claim of its access and refresh tokens and the
family id of its refresh tokens. Revoking it writes the revocation with the change (a
`session_revocation` row for catch-ups and a `session.revoked` outbox event), then, once committed,
adds it to this process's list and broadcasts it so every process refuses its tokens within moments.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from auth import mfa as mfa_service
from auth import repository as repo
from auth.context import AuthContext
from auth.exceptions import InvalidToken, ReauthenticationRequired, RefreshReused, SessionNotFound
from auth.models import AuthSession, RefreshToken, User
from auth.security import sha256_hex
from shared.auth import Principal, check_csrf
from shared.db import after_commit, session_scope
from shared.errors import ServiceError
from shared.events import SessionRevokedV1
from shared.outbox import emit
from shared.revocation import CHANNEL, Fetch

log = logging.getLogger("auth.sessions")

# verifiers accept a token up to 30 s past its exp (shared.auth leeway); a revocation is kept that long
# after the last token of the session can have expired, plus a margin for clock differences
VERIFIER_LEEWAY_S = 30
REVOCATION_MARGIN_S = 30
# a revocation written this long ago is committed everywhere: catch-ups move their cursor past it
COMMIT_GRACE_S = 30

LOGOUT = "logout"
SIGNED_OUT = "signed_out"
SIGNED_OUT_EVERYWHERE = "signed_out_everywhere"
PASSWORD_CHANGED = "password_changed"
PASSWORD_RESET = "password_reset"
ACCOUNT_DELETED = "account_deleted"
REFRESH_REUSE = "refresh_reuse"
REPORTED = "reported_not_me"


@dataclass
class IssuedSession:
    """A fresh access + refresh token pair of a session and the CSRF values for the readable cookies."""

    user: User
    sid: str
    access_token: str
    refresh_token: str
    csrf_access: str
    csrf_refresh: str
    expires_in: int


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
             ("Safari/", "Safari"), ("curl/", "curl"), ("python-httpx/", "httpx"), ("okhttp", "Android app"))
_SYSTEMS = (("Windows", "Windows"), ("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"),
            ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def describe_agent(user_agent: str) -> str:
    """A short device label for the sessions list ("Firefox on Linux"), from the User-Agent."""
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), "")
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), "")
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or (re.split(r"[\s/]", user_agent.strip(), maxsplit=1)[0][:40] or "Unknown device")


# ---------------------------------------------------------------- issuing


def _issue(ctx: AuthContext, session: Session, user: User, row: AuthSession) -> IssuedSession:
    s = ctx.settings
    access, access_claims = ctx.keys.signer.access_token(user.id, user.username, s.access_ttl_s, sid=row.id)
    # the pair shares one CSRF value: a refresh from the browser echoes it whichever readable cookie it has
    csrf = str(access_claims["csrf"])
    refresh, claims = ctx.keys.issue("refresh", user.id, s.refresh_ttl_s, sid=row.id, fam=row.id, csrf=csrf)
    now = ctx.now()
    repo.add_refresh_token(
        session,
        RefreshToken(
            jti=claims["jti"],
            user_id=user.id,
            family_id=row.id,
            token_hash=sha256_hex(refresh),
            expires_at=now + timedelta(seconds=s.refresh_ttl_s),
        ),
    )
    row.last_used_at = now
    row.expires_at = now + timedelta(seconds=s.refresh_ttl_s)
    return IssuedSession(user, row.id, access, refresh, csrf, csrf, s.access_ttl_s)


def start(
    ctx: AuthContext, *, session: Session, user: User, user_agent: str = "", ip: str = "",
    reauthenticated: bool = False,
) -> IssuedSession:
    """A new session for a device (login, MFA completion, password change) and its first tokens.

    `reauthenticated` marks the session as having just checked the password: a password change's new
    session may go on with other sensitive changes; a plain login may not (a stolen fresh session must
    not enroll MFA).
    """
    now = ctx.now()
    row = AuthSession(
        id=uuid.uuid4().hex,
        user_id=user.id,
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(seconds=ctx.settings.refresh_ttl_s),
        user_agent=(user_agent or "")[:255],
        ip=(ip or "")[:64],
        reauth_at=now if reauthenticated else None,
    )
    repo.add_session(session, row)
    return _issue(ctx, session, user, row)


def rotate(
    ctx: AuthContext, *, session: Session, token: str | None, via_cookie: bool, headers: Mapping[str, str]
) -> IssuedSession:
    """New tokens for a refresh token; a reused one revokes its whole session."""
    if not token:
        raise InvalidToken("Sign in again.", code="not_authenticated")
    claims = ctx.keys.verify(token, "refresh")
    check_csrf("POST", headers, claims, via_cookie)
    row = repo.get_refresh_token(session, str(claims["jti"]))
    if row is None or row.token_hash != sha256_hex(token) or row.revoked:
        raise InvalidToken()
    auth_session = repo.get_session(session, row.family_id)
    if auth_session is None or auth_session.revoked_at is not None:
        raise InvalidToken()
    if row.used_at is not None or not repo.mark_refresh_used(session, row.jti, ctx.now()):
        revoke(ctx, session=session, user_id=row.user_id, sids=[row.family_id], reason=REFRESH_REUSE)
        log.warning("refresh token reuse for user %s: session %s revoked", row.user_id, row.family_id)
        raise RefreshReused()
    user = repo.get_user(session, row.user_id)
    if user is None or row.expires_at <= ctx.now():
        raise InvalidToken()
    return _issue(ctx, session, user, auth_session)


# ---------------------------------------------------------------- revocation


def revoke(
    ctx: AuthContext, *, session: Session, user_id: int, reason: str, sids: list[str] | None = None,
    keep: str | None = None,
) -> list[str]:
    """Revoke a user's sessions (all, or `sids`, but never `keep`); the revoked ids.

    The revocation is durable with the transaction (rows + outbox events); after the commit it is added
    to this process's list and pushed to every other process.
    """
    rows = repo.sessions_to_revoke(session, user_id=user_id, sids=sids, keep=keep)
    if not rows:
        return []
    now = ctx.now()
    expires_at = now + timedelta(seconds=ctx.settings.access_ttl_s + VERIFIER_LEEWAY_S + REVOCATION_MARGIN_S)
    repo.mark_revoked(session, rows, reason=reason, now=now, expires_at=expires_at)
    revoked = [(r.id, r.user_id) for r in rows]
    for sid, uid in revoked:
        emit(session, SessionRevokedV1(sid=sid, user_id=uid, reason=reason, expires_at=expires_at))
    until = expires_at.timestamp()

    def push() -> None:
        for sid, uid in revoked:
            ctx.revocations.add(sid, until, uid)
            if ctx.broadcast is not None:
                ctx.broadcast.publish(CHANNEL, {"sid": sid, "user_id": uid, "expires_at": until})

    after_commit(session, push)
    return [sid for sid, _ in revoked]


def logout(
    ctx: AuthContext, *, session: Session, refresh_token: str | None, principal: Principal | None
) -> None:
    """End the session of this refresh token (or, without one, of the access token); nothing if invalid."""
    sid: str | None = None
    if refresh_token:
        try:
            claims = ctx.keys.verify(refresh_token, "refresh")
        except ServiceError:  # invalid, expired, already revoked: nothing left to end
            claims = None
        if claims is not None:
            row = repo.get_refresh_token(session, str(claims["jti"]))
            if row is not None and row.token_hash == sha256_hex(refresh_token):
                sid = row.family_id
    if sid is None and principal is not None:
        sid = principal.sid
    if sid is None:
        return
    row_session = repo.get_session(session, sid)
    if row_session is not None:
        revoke(ctx, session=session, user_id=row_session.user_id, sids=[sid], reason=LOGOUT)


def _own_session(session: Session, principal: Principal) -> AuthSession:
    row = repo.get_session(session, principal.sid)
    if row is None or row.user_id != principal.user_id or row.revoked_at is not None:
        raise InvalidToken()
    return row


def list_sessions(ctx: AuthContext, *, session: Session, principal: Principal) -> list[dict[str, Any]]:
    """The caller's active sessions, the current one marked."""
    return [
        {
            "id": row.id,
            "current": row.id == principal.sid,
            "created_at": row.created_at,
            "last_used_at": row.last_used_at,
            "expires_at": row.expires_at,
            "device": describe_agent(row.user_agent),
            "user_agent": row.user_agent,
            "ip": row.ip,
        }
        for row in repo.active_sessions(session, principal.user_id, ctx.now())
    ]


def revoke_one(ctx: AuthContext, *, session: Session, principal: Principal, sid: str) -> bool:
    """Sign one of the caller's sessions out (idempotent); True when it was the current one."""
    row = repo.get_session(session, sid)
    if row is None or row.user_id != principal.user_id:
        raise SessionNotFound()
    revoke(ctx, session=session, user_id=principal.user_id, sids=[sid], reason=SIGNED_OUT)
    return sid == principal.sid


def revoke_all(ctx: AuthContext, *, session: Session, principal: Principal, keep_current: bool) -> int:
    """Sign out every session of the caller (or every other one); how many were ended."""
    keep = principal.sid if keep_current else None
    return len(revoke(ctx, session=session, user_id=principal.user_id, keep=keep, reason=SIGNED_OUT_EVERYWHERE))


# ---------------------------------------------------------------- step-up


def reauth_deadline(ctx: AuthContext, row: AuthSession) -> datetime | None:
    """Until when the session's last re-authentication counts (None if it never re-authenticated)."""
    if row.reauth_at is None:
        return None
    return row.reauth_at + timedelta(seconds=ctx.settings.reauth_window_s)


def reauthenticate(
    ctx: AuthContext, *, session: Session, principal: Principal, user: User, password: str | None,
    code: str | None,
) -> datetime:
    """Check the password or a current second factor and record it on the session; until when it counts."""
    row = _own_session(session, principal)
    mfa_service.reauthenticate(ctx, session=session, user=user, password=password, code=code)
    row.reauth_at = ctx.now()
    deadline = reauth_deadline(ctx, row)
    assert deadline is not None
    return deadline


def require_step_up(
    ctx: AuthContext, *, session: Session, principal: Principal, user: User, password: str | None = None,
    code: str | None = None,
) -> None:
    """Allow a sensitive change: the password (or a code) given with it, or a recent re-authentication.

    403 `reauthentication_required` otherwise; a wrong password or code is 401 `invalid_credentials`.
    """
    row = _own_session(session, principal)
    if password or code:
        mfa_service.reauthenticate(ctx, session=session, user=user, password=password, code=code)
        row.reauth_at = ctx.now()
        return
    deadline = reauth_deadline(ctx, row)
    if deadline is None or deadline < ctx.now():
        raise ReauthenticationRequired()


# ---------------------------------------------------------------- catch-up (every process)


def revoked_since(ctx: AuthContext, *, session: Session, after: int) -> dict[str, Any]:
    """Revocations after the cursor `after` whose tokens may still be valid, and the next cursor.

    Ids are assigned before commit, so a revocation can become visible after one with a higher id;
    the cursor therefore only moves past revocations older than COMMIT_GRACE_S, and younger ones are
    sent again (readers ignore repeats).
    """
    now = ctx.now()
    if after > repo.max_revocation_id(session):
        after = 0  # a cursor from another database (restored, recreated): start over
    rows = repo.revocations_after(session, after, now)
    cursor = max(after, repo.revocation_cursor(session, now - timedelta(seconds=COMMIT_GRACE_S)))
    return {
        "revocations": [
            {"sid": r.sid, "user_id": r.user_id, "reason": r.reason, "revoked_at": r.revoked_at,
             "expires_at": r.expires_at.timestamp()}
            for r in rows
        ],
        "cursor": cursor,
    }


def database_fetch(ctx: AuthContext, session_factory: sessionmaker[Session]) -> Fetch:
    """auth's own catch-up: read the revocations from its database (and prune expired rows now and then)."""
    state = {"pruned_at": 0.0}

    def fetch(cursor: int) -> Mapping[str, Any]:
        with session_scope(session_factory) as s:
            now = ctx.now()
            if now.timestamp() - state["pruned_at"] > 3600:
                state["pruned_at"] = now.timestamp()
                repo.prune_revocations(s, now - timedelta(days=1))
            return revoked_since(ctx, session=s, after=cursor)

    return fetch
