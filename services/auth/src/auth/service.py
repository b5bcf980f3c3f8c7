"""Accounts: register, sign in, email verification and change, password reset and change, MFA changes.

Session mechanics live in auth.sessions, second factors in auth.mfa, security notices in auth.notices;
the functions here tie them together per use case (step-up first, then the change, then the notice).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from auth import accounts, links, mail, notices, sessions
from auth import mfa as mfa_service
from auth import repository as repo
from auth.context import AuthContext
from auth.exceptions import (
    EmailTaken,
    InvalidCredentials,
    InvalidLinkToken,
    InvalidToken,
    MfaStateConflict,
    PasswordResetRequired,
    UsernameTaken,
    policy_error,
)
from auth.mfa import MfaPending
from auth.models import User
from auth.passwords import USERNAME_RE, check_password
from auth.sessions import IssuedSession
from shared.auth import Principal
from shared.copies import SNAPSHOT_PAGE_MAX, SnapshotPage, merge_page
from shared.errors import NotFound, ValidationFailed
from shared.events import UserDeletedV1, UserRegisteredV1
from shared.outbox import emit

log = logging.getLogger("auth.service")

FORGOT_MESSAGE = "If an account uses that email address, a password reset link has been sent to it."


@dataclass
class Registered:
    """A new account, plus the TOTP provisioning data when TOTP was asked for."""

    user: User
    message: str
    totp: dict[str, str] | None = None


@dataclass
class Device:
    """Where a sign-in comes from (shown in the sessions list)."""

    user_agent: str = ""
    ip: str = ""


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


def _send_verification(ctx: AuthContext, session: Session, user: User) -> None:
    token = links.issue(ctx, session, user, links.VERIFY_EMAIL, ctx.settings.verify_email_ttl_s)
    text, html_body = mail.render(
        user.username,
        ["Welcome to ShareMyShows! Confirm your email address with the link below (valid for 24 hours)."],
        links.url(ctx, "verify-email", token),
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


def login(
    ctx: AuthContext, *, session: Session, login: str, password: str, ip: str, device: Device | None = None
) -> IssuedSession | MfaPending:
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
    if user.password_reset_required:
        raise PasswordResetRequired()
    if user.mfa_enabled and user.mfa_method:
        return mfa_service.start_challenge(ctx, session=session, user=user)
    device = device or Device()
    return sessions.start(ctx, session=session, user=user, user_agent=device.user_agent, ip=device.ip or ip)


def verify_mfa(
    ctx: AuthContext, *, session: Session, mfa_token: str | None, code: str, device: Device | None = None
) -> IssuedSession:
    """Complete a login attempt with its second factor."""
    user = mfa_service.complete_challenge(ctx, session=session, mfa_token=mfa_token, code=code)
    if user.password_reset_required:
        raise PasswordResetRequired()
    device = device or Device()
    return sessions.start(ctx, session=session, user=user, user_agent=device.user_agent, ip=device.ip)


def current_user(ctx: AuthContext, *, session: Session, principal: Principal) -> User:
    """The caller's account; 401 when it no longer exists."""
    user = repo.get_user(session, principal.user_id)
    if user is None:
        raise InvalidToken()
    return user


def _step_up(ctx: AuthContext, session: Session, principal: Principal, password: str | None = None,
             code: str | None = None) -> User:
    user = current_user(ctx, session=session, principal=principal)
    sessions.require_step_up(ctx, session=session, principal=principal, user=user, password=password, code=code)
    return user


def reauthenticate(ctx: AuthContext, *, session: Session, principal: Principal, password: str | None,
                   code: str | None) -> str:
    """Re-check the password or a current code on this session; the ISO time until it counts."""
    user = current_user(ctx, session=session, principal=principal)
    until = sessions.reauthenticate(ctx, session=session, principal=principal, user=user, password=password,
                                    code=code)
    return until.isoformat().replace("+00:00", "Z")


def delete_account(ctx: AuthContext, *, session: Session, principal: Principal, password: str | None) -> None:
    """Delete the caller's account (step-up), end every session and publish `user.deleted` (a tombstone)."""
    user = _step_up(ctx, session, principal, password=password)
    user_id, address, name = user.id, user.email, user.username
    sessions.revoke(ctx, session=session, user_id=user_id, reason=sessions.ACCOUNT_DELETED)
    text, html_body = mail.render(
        name, ["Your ShareMyShows account and everything in it were deleted, as you asked. Goodbye!"]
    )
    mail.queue_mail(session, to=address, subject="Your ShareMyShows account was deleted", text=text,
                    html_body=html_body)
    version = repo.delete_user(session, user)
    emit(session, UserDeletedV1(user_id=user_id, aggregate_version=version))


def verify_email(ctx: AuthContext, *, session: Session, token: str, ip: str) -> str:
    """Confirm an address with a mailed link: the account's own, or the new one of an email change."""
    row = links.find(ctx, session, token, (links.VERIFY_EMAIL, links.CHANGE_EMAIL), ip)
    user = repo.get_user(session, row.user_id)
    if user is None:
        raise InvalidLinkToken()
    links.spend(ctx, session, row)
    if row.purpose == links.VERIFY_EMAIL:
        user.email_verified = True
        return "Your email address is confirmed."
    new_email = str((row.data or {}).get("new_email") or "")
    if not new_email:
        raise InvalidLinkToken()
    other = repo.get_user_by_email(session, new_email)
    if other is not None and other.id != user.id:
        raise EmailTaken()
    old_email = user.email
    accounts.set_email(session, user, new_email)
    # links mailed to the old address (reset, verification) must not act on the account any more
    repo.invalidate_link_tokens(session, user.id, (links.RESET_PASSWORD, links.VERIFY_EMAIL), ctx.now())
    notices.notify(ctx, session, user, notices.EMAIL_CHANGED, to=old_email, old_email=old_email,
                   new_email=new_email)
    return f"Your email address is now {new_email}."


def request_email_change(ctx: AuthContext, *, session: Session, principal: Principal, new_email: str,
                         password: str | None) -> str:
    """Mail a confirmation link to a new address (step-up); the change happens when it is opened."""
    user = _step_up(ctx, session, principal, password=password)
    address = normalize_email(new_email, allow_test_domains=ctx.settings.is_dev)
    if address == user.email:
        raise ValidationFailed("This is already your email address.", field="new_email")
    if repo.get_user_by_email(session, address) is not None:
        raise EmailTaken()
    repo.invalidate_link_tokens(session, user.id, links.CHANGE_EMAIL, ctx.now())
    token = links.issue(ctx, session, user, links.CHANGE_EMAIL, ctx.settings.change_email_ttl_s,
                        data={"new_email": address})
    text, html_body = mail.render(
        user.username,
        ["Confirm that this address should become the email address of your ShareMyShows account "
         "(the link is valid for 24 hours and works once). Until then your old address stays in use.",
         "If you did not ask for this, ignore this mail."],
        links.url(ctx, "verify-email", token),
        "Use this email address",
    )
    mail.queue_mail(session, to=address, subject="Confirm your new ShareMyShows email address", text=text,
                    html_body=html_body)
    return f"We sent a confirmation link to {address}; your email changes when you open it."


def forgot_password(ctx: AuthContext, *, session: Session, email: str, ip: str) -> str:
    """Mail a reset link if the account exists; the answer never says whether it does."""
    s = ctx.settings
    ctx.limit(f"forgot:ip:{ip}", s.forgot_limit_per_ip, s.forgot_window_s)
    address = email.strip().lower()
    within_limit = ctx.allowed(f"forgot:email:{address}", s.forgot_limit_per_email, s.forgot_window_s)
    user = repo.get_user_by_email(session, address)
    if user is not None and within_limit:
        notices.send_reset_link(ctx, session, user)
    return FORGOT_MESSAGE


def _set_password(ctx: AuthContext, session: Session, user: User, password: str) -> None:
    user.password_hash = ctx.hashing.hash(password)
    user.password_reset_required = False
    repo.invalidate_link_tokens(session, user.id, links.RESET_PASSWORD, ctx.now())


def reset_password(ctx: AuthContext, *, session: Session, token: str, password: str, ip: str) -> None:
    """Set a new password with a single-use reset token; every session ends (MFA stays on)."""
    row = links.find(ctx, session, token, (links.RESET_PASSWORD,), ip)
    user = repo.get_user(session, row.user_id)
    if user is None:
        raise InvalidLinkToken()
    _check_policy(password, field="password", username=user.username, email=user.email)
    links.spend(ctx, session, row)
    _set_password(ctx, session, user, password)
    sessions.revoke(ctx, session=session, user_id=user.id, reason=sessions.PASSWORD_RESET)
    notices.notify(ctx, session, user, notices.PASSWORD_RESET)


def change_password(
    ctx: AuthContext, *, session: Session, principal: Principal, current_password: str, new_password: str,
    device: Device | None = None,
) -> IssuedSession:
    """Change the password (the current one is the step-up); every session ends, this device gets a new one."""
    user = _step_up(ctx, session, principal, password=current_password)
    _check_policy(new_password, field="new_password", username=user.username, email=user.email)
    _set_password(ctx, session, user, new_password)
    sessions.revoke(ctx, session=session, user_id=user.id, reason=sessions.PASSWORD_CHANGED)
    notices.notify(ctx, session, user, notices.PASSWORD_CHANGED)
    device = device or Device()
    return sessions.start(ctx, session=session, user=user, user_agent=device.user_agent, ip=device.ip,
                          reauthenticated=True)


# ---------------------------------------------------------------- MFA changes (step-up + notice)


def mfa_setup(ctx: AuthContext, *, session: Session, principal: Principal, method: str,
              phone_number: str | None) -> dict[str, str]:
    """Start enrolling a second factor (needs a recent re-authentication)."""
    user = current_user(ctx, session=session, principal=principal)
    if user.mfa_enabled:  # say so before asking for the password
        raise MfaStateConflict("Two-step verification is already on; turn it off first to change the method.")
    sessions.require_step_up(ctx, session=session, principal=principal, user=user)
    return mfa_service.setup(ctx, session=session, user=user, method=method, phone_number=phone_number)


def mfa_enable(ctx: AuthContext, *, session: Session, principal: Principal, code: str,
               method: str | None) -> tuple[str, list[str]]:
    """Turn MFA on with the enrolment code (needs a recent re-authentication); mails a notice."""
    user = current_user(ctx, session=session, principal=principal)
    if user.mfa_enabled:
        raise MfaStateConflict("Two-step verification is already on.")
    sessions.require_step_up(ctx, session=session, principal=principal, user=user)
    method, codes = mfa_service.enable(ctx, session=session, user=user, code=code, method=method)
    notices.notify(ctx, session, user, notices.MFA_ENABLED, method=method)
    return method, codes


def mfa_disable(ctx: AuthContext, *, session: Session, principal: Principal, password: str | None,
                code: str | None) -> None:
    """Turn MFA off (password or code given, or a recent re-authentication); mails a notice."""
    user = current_user(ctx, session=session, principal=principal)
    if not user.mfa_enabled:
        raise MfaStateConflict("Two-step verification is already off.")
    sessions.require_step_up(ctx, session=session, principal=principal, user=user, password=password, code=code)
    mfa_service.disable(ctx, session=session, user=user)
    notices.notify(ctx, session, user, notices.MFA_DISABLED)


def mfa_recovery_codes(ctx: AuthContext, *, session: Session, principal: Principal, password: str | None,
                       code: str | None) -> tuple[str | None, list[str]]:
    """New recovery codes (password or code given, or a recent re-authentication); mails a notice."""
    user = current_user(ctx, session=session, principal=principal)
    if not user.mfa_enabled:
        raise MfaStateConflict("Turn on two-step verification first.")
    sessions.require_step_up(ctx, session=session, principal=principal, user=user, password=password, code=code)
    codes = mfa_service.regenerate_recovery_codes(ctx, session=session, user=user)
    notices.notify(ctx, session, user, notices.RECOVERY_CODES)
    return user.mfa_method, codes


def secure_account(ctx: AuthContext, *, session: Session, token: str, ip: str) -> str:
    """The "this wasn't me" link of a security notice (see auth.notices)."""
    return notices.secure_account(ctx, session=session, token=token, ip=ip)


def queue_user_mail(*, session: Session, user_id: int, subject: str, paragraphs: list[str], link: str | None,
                    link_label: str) -> None:
    """Queue a mail another service composed to a live account's address (404 when there is none)."""
    user = repo.get_user(session, user_id)
    if user is None:
        raise NotFound("User not found.")
    text, html_body = mail.render(user.username, paragraphs, link, link_label)
    mail.queue_mail(session, to=user.email, subject=subject, text=text, html_body=html_body)


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
