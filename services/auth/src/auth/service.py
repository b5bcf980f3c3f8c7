"""Accounts and sessions: register, login, tokens, email verification, password reset and change."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from auth import mail
from auth import mfa as mfa_service
from auth import repository as repo
from auth.context import AuthContext
from auth.exceptions import (
    EmailTaken,
    ExpiredLinkToken,
    InvalidCredentials,
    InvalidLinkToken,
    InvalidToken,
    RefreshReused,
    UsernameTaken,
    policy_error,
)
from auth.mfa import MfaPending
from auth.models import OneTimeToken, RefreshToken, User
from auth.passwords import USERNAME_RE, check_password
from auth.security import new_link_token, sha256_hex
from shared.auth import Principal, check_csrf
from shared.copies import SNAPSHOT_PAGE_MAX, SnapshotPage, merge_page
from shared.errors import Unauthorized, ValidationFailed
from shared.events import UserDeletedV1, UserRegisteredV1
from shared.outbox import emit

log = logging.getLogger("auth.service")

VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"
FORGOT_MESSAGE = "If an account uses that email address, a password reset link has been sent to it."


@dataclass
class IssuedSession:
    """A fresh access + refresh token pair and the CSRF values for the readable cookies."""

    user: User
    access_token: str
    refresh_token: str
    csrf_access: str
    csrf_refresh: str


@dataclass
class Registered:
    """A new account, plus the TOTP provisioning data when TOTP was asked for."""

    user: User
    message: str
    totp: dict[str, str] | None = None


def _check_policy(password: str, *, field: str, username: str, email: str) -> None:
    violation = check_password(password, username=username, email=email)
    if violation is not None:
        raise policy_error(field, violation.code, violation.message)


def normalize_email(email: str, *, allow_test_domains: bool = False) -> str:
    """A syntactically valid email address, lower-cased (no DNS lookup); 422 otherwise."""
    try:
        # `*.test` addresses (RFC 2606) are accepted outside production so test suites can register users
        checked = validate_email(email.strip(), check_deliverability=False, test_environment=allow_test_domains)
    except EmailNotValidError as exc:
        raise ValidationFailed(f"Enter a valid email address ({exc}).", field="email") from exc
    return checked.normalized.lower()


def start_session(ctx: AuthContext, *, session: Session, user: User, family_id: str | None = None) -> IssuedSession:
    """Issue an access token and a refresh token (stored by jti and hash) in a rotation family."""
    s = ctx.settings
    access, access_claims = ctx.keys.signer.access_token(user.id, user.username, s.access_ttl_s)
    family = family_id or uuid.uuid4().hex
    # the pair shares one CSRF value: a refresh from the browser echoes it whichever readable cookie it has
    csrf = str(access_claims["csrf"])
    refresh, claims = ctx.keys.issue("refresh", user.id, s.refresh_ttl_s, fam=family, csrf=csrf)
    repo.add_refresh_token(
        session,
        RefreshToken(
            jti=claims["jti"],
            user_id=user.id,
            family_id=family,
            token_hash=sha256_hex(refresh),
            expires_at=ctx.now() + timedelta(seconds=s.refresh_ttl_s),
        ),
    )
    return IssuedSession(user, access, refresh, csrf, csrf)


def _link(ctx: AuthContext, path: str, token: str) -> str:
    # always the configured public URL, never the request's Host header
    return f"{ctx.settings.public_base_url.rstrip('/')}/{path}?token={token}"


def _new_link_token(ctx: AuthContext, session: Session, user: User, purpose: str, ttl_s: int) -> str:
    token, token_hash = new_link_token()
    repo.add_link_token(
        session,
        OneTimeToken(
            user_id=user.id, purpose=purpose, token_hash=token_hash, expires_at=ctx.now() + timedelta(seconds=ttl_s)
        ),
    )
    return token


def _send_verification(ctx: AuthContext, session: Session, user: User) -> None:
    token = _new_link_token(ctx, session, user, VERIFY_EMAIL, ctx.settings.verify_email_ttl_s)
    text, html_body = mail.render(
        user.username,
        ["Welcome to ShareMyShows! Confirm your email address with the link below (valid for 24 hours)."],
        _link(ctx, "verify-email", token),
        "Confirm my email address",
    )
    mail.queue_mail(
        session, to=user.email, subject="Confirm your ShareMyShows email address", text=text, html_body=html_body
    )


def register(
    ctx: AuthContext, *, session: Session, username: str, email: str, password: str, mfa_method: str | None, ip: str
) -> Registered:
    """Create an account, queue the verification mail and publish `user.registered`."""
    s = ctx.settings
    ctx.limit(f"register:ip:{ip}", s.register_limit_per_ip, s.register_window_s)
    username = username.strip()
    if not USERNAME_RE.fullmatch(username):
        raise ValidationFailed("Username must be 3–30 characters of letters, digits, _ . or -.", field="username")
    email = normalize_email(email, allow_test_domains=s.is_dev)
    _check_policy(password, field="password", username=username, email=email)
    if repo.get_user_by_username(session, username) is not None:
        raise UsernameTaken()
    if repo.get_user_by_email(session, email) is not None:
        raise EmailTaken()
    user = User(
        username=username,
        username_lower=username.lower(),
        email=email,
        password_hash=ctx.hashing.hash(password),
        email_verified=False,
        mfa_enabled=False,
        created_at=ctx.now(),
        updated_at=ctx.now(),
    )
    try:
        with session.begin_nested():
            repo.add_user(session, user)
    except IntegrityError as exc:  # a concurrent registration won the race
        raise UsernameTaken() from exc
    totp = None
    if mfa_method == "email":
        user.mfa_enabled, user.mfa_method = True, "email"
    elif mfa_method == "totp":
        totp = mfa_service.begin_totp(ctx, user)
    emit(session, UserRegisteredV1(user_id=user.id, username=user.username, email=user.email,
                                   aggregate_version=user.version or 1))
    _send_verification(ctx, session, user)
    message = "Registration successful. Check your email to confirm your address."
    if totp:
        message += " Scan the QR code, then confirm a code with /api/auth/mfa/enable after signing in."
    return Registered(user, message, totp)


def login(ctx: AuthContext, *, session: Session, login: str, password: str, ip: str) -> IssuedSession | MfaPending:
    """Check the password (same answer for unknown users); a session, or an MFA challenge."""
    s = ctx.settings
    ident = login.strip().lower()
    ctx.limit(f"login:ip:{ip}", s.login_limit_per_ip, s.login_window_s)
    user = repo.get_user_by_email(session, ident) if "@" in ident else repo.get_user_by_username(session, ident)
    # one counter per account, whether it is named by username or by email
    account_key = f"login:acct:{user.id if user is not None else ident}"
    ctx.limit(account_key, s.login_limit_per_account, s.login_window_s)
    if user is None:
        ctx.hashing.verify_dummy(password)
        raise InvalidCredentials()
    if not ctx.hashing.verify(user.password_hash, password):
        raise InvalidCredentials()
    if ctx.hashing.needs_rehash(user.password_hash):
        user.password_hash = ctx.hashing.hash(password)
    ctx.limiter.reset(f"auth:{account_key}")  # only failures accumulate (MFA has its own limit)
    if user.mfa_enabled and user.mfa_method:
        return mfa_service.start_challenge(ctx, session=session, user=user)
    return start_session(ctx, session=session, user=user)


def verify_mfa(ctx: AuthContext, *, session: Session, mfa_token: str | None, code: str) -> IssuedSession:
    """Complete a login attempt with its second factor."""
    user = mfa_service.complete_challenge(ctx, session=session, mfa_token=mfa_token, code=code)
    return start_session(ctx, session=session, user=user)


def refresh(
    ctx: AuthContext, *, session: Session, token: str | None, via_cookie: bool, headers: Mapping[str, str]
) -> IssuedSession:
    """Rotate a refresh token; a reused one revokes its whole family."""
    if not token:
        raise InvalidToken("Sign in again.", code="not_authenticated")
    claims = ctx.keys.verify(token, "refresh")
    check_csrf("POST", headers, claims, via_cookie)
    row = repo.get_refresh_token(session, str(claims["jti"]))
    if row is None or row.token_hash != sha256_hex(token) or row.revoked:
        raise InvalidToken()
    if row.used_at is not None or not repo.mark_refresh_used(session, row.jti, ctx.now()):
        repo.revoke_family(session, row.family_id)
        log.warning("refresh token reuse for user %s: family %s revoked", row.user_id, row.family_id)
        raise RefreshReused()
    user = repo.get_user(session, row.user_id)
    if user is None or row.expires_at <= ctx.now():
        raise InvalidToken()
    return start_session(ctx, session=session, user=user, family_id=row.family_id)


def logout(ctx: AuthContext, *, session: Session, refresh_token: str | None) -> None:
    """Revoke the refresh family of this session (an invalid token has nothing left to revoke)."""
    if not refresh_token:
        return
    try:
        claims = ctx.keys.verify(refresh_token, "refresh")
    except Unauthorized:
        return
    row = repo.get_refresh_token(session, str(claims["jti"]))
    if row is not None and row.token_hash == sha256_hex(refresh_token):
        repo.revoke_family(session, row.family_id)


def current_user(ctx: AuthContext, *, session: Session, principal: Principal) -> User:
    """The caller's account; 401 when it no longer exists."""
    user = repo.get_user(session, principal.user_id)
    if user is None:
        raise InvalidToken()
    return user


def delete_account(ctx: AuthContext, *, session: Session, principal: Principal, password: str) -> None:
    """Delete the caller's account after a password check and publish `user.deleted`."""
    user = current_user(ctx, session=session, principal=principal)
    mfa_service.reauthenticate(ctx, session=session, user=user, password=password, code=None)
    user_id = user.id
    version = repo.delete_user(session, user)
    emit(session, UserDeletedV1(user_id=user_id, aggregate_version=version))


def _use_link_token(ctx: AuthContext, session: Session, token: str, purpose: str, ip: str) -> OneTimeToken:
    s = ctx.settings
    ctx.limit(f"confirm:ip:{ip}", s.confirm_limit_per_ip, s.confirm_window_s)
    row = repo.get_link_token(session, sha256_hex(token.strip()))
    if row is None or row.purpose != purpose or row.used_at is not None:
        raise InvalidLinkToken()
    if row.expires_at <= ctx.now():
        raise ExpiredLinkToken()
    return row


def verify_email(ctx: AuthContext, *, session: Session, token: str, ip: str) -> None:
    """Mark the address verified (single-use 24 h token)."""
    row = _use_link_token(ctx, session, token, VERIFY_EMAIL, ip)
    if not repo.use_link_token(session, row.id, ctx.now()):
        raise InvalidLinkToken()
    user = repo.get_user(session, row.user_id)
    if user is not None:
        user.email_verified = True


def forgot_password(ctx: AuthContext, *, session: Session, email: str, ip: str) -> str:
    """Mail a reset link if the account exists; the answer never says whether it does."""
    s = ctx.settings
    ctx.limit(f"forgot:ip:{ip}", s.forgot_limit_per_ip, s.forgot_window_s)
    address = email.strip().lower()
    within_limit = ctx.allowed(f"forgot:email:{address}", s.forgot_limit_per_email, s.forgot_window_s)
    user = repo.get_user_by_email(session, address)
    if user is not None and within_limit:
        repo.invalidate_link_tokens(session, user.id, RESET_PASSWORD, ctx.now())
        token = _new_link_token(ctx, session, user, RESET_PASSWORD, s.reset_ttl_s)
        text, html_body = mail.render(
            user.username,
            [
                "Someone asked to reset your ShareMyShows password. The link is valid for one hour and works once.",
                "If it was not you, ignore this mail; your password stays the same.",
            ],
            _link(ctx, "reset-password", token),
            "Choose a new password",
        )
        mail.queue_mail(
            session, to=user.email, subject="Reset your ShareMyShows password", text=text, html_body=html_body
        )
    return FORGOT_MESSAGE


def _password_changed(ctx: AuthContext, session: Session, user: User, password: str) -> None:
    user.password_hash = ctx.hashing.hash(password)
    repo.invalidate_link_tokens(session, user.id, RESET_PASSWORD, ctx.now())
    repo.revoke_user_refresh_tokens(session, user.id)
    text, html_body = mail.render(
        user.username,
        [
            "Your ShareMyShows password was changed and every other session was signed out.",
            "If this was not you, reset your password now and contact us.",
        ],
    )
    mail.queue_mail(
        session, to=user.email, subject="Your ShareMyShows password was changed", text=text, html_body=html_body
    )


def reset_password(ctx: AuthContext, *, session: Session, token: str, password: str, ip: str) -> None:
    """Set a new password with a single-use reset token; every session ends (MFA stays on)."""
    row = _use_link_token(ctx, session, token, RESET_PASSWORD, ip)
    user = repo.get_user(session, row.user_id)
    if user is None:
        raise InvalidLinkToken()
    _check_policy(password, field="password", username=user.username, email=user.email)
    if not repo.use_link_token(session, row.id, ctx.now()):
        raise InvalidLinkToken()
    _password_changed(ctx, session, user, password)


def change_password(
    ctx: AuthContext, *, session: Session, principal: Principal, current_password: str, new_password: str
) -> IssuedSession:
    """Change the password (current one required); other sessions end, this one gets fresh tokens."""
    user = current_user(ctx, session=session, principal=principal)
    mfa_service.reauthenticate(ctx, session=session, user=user, password=current_password, code=None)
    _check_policy(new_password, field="new_password", username=user.username, email=user.email)
    _password_changed(ctx, session, user, new_password)
    return start_session(ctx, session=session, user=user)


def internal_users(*, session: Session, ids: str) -> list[User]:
    """Users by comma-separated ids for other services (at most 500)."""
    try:
        wanted = [int(p) for p in ids.split(",") if p.strip()]
    except ValueError as exc:
        raise ValidationFailed("ids must be comma-separated integers.", field="ids") from exc
    return repo.users_by_ids(session, wanted[:500])


def users_snapshot(
    *, session: Session, after: int, limit: int, since: datetime | None, ids: str | None, username: str | None = None
) -> SnapshotPage:
    """A page of every account, live or deleted, with versions (other services repair their copies with it)."""
    wanted = None
    if username is not None:
        user = repo.get_user_by_username(session, username.strip()) if "\x00" not in username else None
        wanted = [user.id] if user is not None else []
    elif ids is not None:
        try:
            wanted = [int(p) for p in ids.split(",") if p.strip()][:SNAPSHOT_PAGE_MAX]
        except ValueError as exc:
            raise ValidationFailed("ids must be comma-separated integers.", field="ids") from exc
    live, dead = repo.users_snapshot(session, after=after, limit=limit, since=since, ids=wanted)
    return merge_page(
        [{"user_id": u.id, "username": u.username, "email": u.email, "version": u.version, "deleted": False}
         for u in live],
        [{"user_id": d.id, "username": "", "email": None, "version": d.version, "deleted": True} for d in dead],
        key="user_id",
        limit=limit,
    )


def internal_lookup(*, session: Session, username: str | None, email: str | None) -> User | None:
    """A user by exact username (case-insensitive) or email."""
    if username and "\x00" not in username:
        return repo.get_user_by_username(session, username.strip())
    if email and "\x00" not in email:
        return repo.get_user_by_email(session, email.strip())
    return None
