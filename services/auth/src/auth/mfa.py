"""Second factors: TOTP (replay-safe), emailed/SMS codes, recovery codes, the MFA login step, setup and disable.

Callers check the step-up (auth.sessions.require_step_up) and send the notices (auth.notices).
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from auth import mail
from auth import repository as repo
from auth.context import AuthContext
from auth.exceptions import (
    InvalidMfaCode,
    MfaChallengeInvalid,
    MfaMethodUnavailable,
    MfaStateConflict,
    ReauthFailed,
)
from auth.models import MfaChallenge, MfaCode, User
from auth.security import (
    new_numeric_code,
    new_recovery_code,
    new_totp_secret,
    normalize_code,
    qr_svg_data_uri,
    totp_match_step,
    totp_uri,
)
from shared.errors import ValidationFailed

LOGIN = "login"
SETUP = "setup"
RECOVERY_CODE_COUNT = 10


@dataclass
class MfaPending:
    """Password accepted; the second factor is still needed for this login attempt."""

    mfa_token: str
    methods: list[str]
    message: str


_PROMPTS = {
    "totp": "Enter the 6-digit code from your authenticator app.",
    "email": "We sent a 6-digit code to your email address.",
    "sms": "We sent a 6-digit code to your phone.",
}


def _code_scope(user: User, purpose: str) -> str:
    return f"{user.id}:{purpose}"


def _send_code(
    ctx: AuthContext,
    session: Session,
    user: User,
    *,
    purpose: str,
    channel: str,
    challenge_id: str | None = None,
    phone: str | None = None,
) -> None:
    """Store a fresh code (replacing older ones of the purpose) and queue it by mail or SMS."""
    now = ctx.now()
    repo.invalidate_codes(session, user.id, purpose, now)
    code = new_numeric_code()
    repo.add_code(
        session,
        MfaCode(
            user_id=user.id,
            purpose=purpose,
            channel=channel,
            challenge_id=challenge_id,
            code_hash=ctx.box.code_hash(code, _code_scope(user, purpose)),
            expires_at=now + timedelta(seconds=ctx.settings.code_ttl_s),
        ),
    )
    minutes = max(1, ctx.settings.code_ttl_s // 60)
    if channel == "sms":
        mail.queue_sms(session, to=phone or user.phone_number or "", text=f"ShareMyShows code: {code} ({minutes} min)")
        return
    what = "sign in" if purpose == LOGIN else "turn on two-step verification"
    text, html_body = mail.render(
        user.username,
        [
            f"Your code to {what} is {code}. It is valid for {minutes} minutes and works once.",
            "If you did not ask for it, change your password.",
        ],
    )
    mail.queue_mail(session, to=user.email, subject=f"Your ShareMyShows code: {code}", text=text, html_body=html_body)


def _check_sent_code(ctx: AuthContext, session: Session, user: User, row: MfaCode | None, code: str) -> bool:
    if row is None or row.expires_at <= ctx.now() or row.attempts >= ctx.settings.code_max_attempts:
        return False
    row.attempts += 1
    expected = ctx.box.code_hash(code, _code_scope(user, row.purpose))
    return hmac.compare_digest(row.code_hash, expected) and repo.use_code(session, row.id, ctx.now())


def _check_totp(ctx: AuthContext, session: Session, user: User, encrypted: str | None, code: str) -> bool:
    secret = ctx.box.decrypt(encrypted) if encrypted else None
    if secret is None:
        return False
    step = totp_match_step(secret, code, now=ctx.now().timestamp())
    # atomic compare-and-set: a code (time step) is accepted once, even by two concurrent requests
    return step is not None and repo.consume_totp_step(session, user.id, step)


def check_second_factor(
    ctx: AuthContext,
    session: Session,
    user: User,
    code: str,
    *,
    challenge_id: str | None = None,
    allow_sent_code: bool = True,
) -> str | None:
    """Which factor `code` proved (totp, email, sms, recovery_code), or None."""
    c = normalize_code(code)
    if c.isdigit() and len(c) == 6:
        if user.mfa_method == "totp":
            return "totp" if _check_totp(ctx, session, user, user.totp_secret_enc, c) else None
        if user.mfa_method in ("email", "sms") and allow_sent_code:
            row = repo.latest_code(session, user.id, LOGIN, challenge_id)
            return user.mfa_method if _check_sent_code(ctx, session, user, row, c) else None
        return None
    if len(c) == 10 and repo.use_recovery_code(
        session, user.id, ctx.box.code_hash(c, _code_scope(user, "recovery")), ctx.now()
    ):
        return "recovery_code"
    return None


# ---------------------------------------------------------------- the login step


def start_challenge(ctx: AuthContext, *, session: Session, user: User) -> MfaPending:
    """Record a pending login attempt, send a code if the method sends one, return the MFA token."""
    now = ctx.now()
    challenge = MfaChallenge(
        id=uuid.uuid4().hex, user_id=user.id, created_at=now, expires_at=now + timedelta(seconds=ctx.settings.mfa_ttl_s)
    )
    repo.add_challenge(session, challenge)
    method = user.mfa_method or "totp"
    if method in ("email", "sms"):
        _send_code(ctx, session, user, purpose=LOGIN, channel=method, challenge_id=challenge.id)
    token, _ = ctx.keys.issue("mfa", user.id, ctx.settings.mfa_ttl_s, jti=challenge.id)
    return MfaPending(token, [method, "recovery_code"], _PROMPTS[method])


def _live_challenge(ctx: AuthContext, session: Session, mfa_token: str | None) -> tuple[MfaChallenge, User]:
    if not mfa_token:
        raise MfaChallengeInvalid()
    claims = ctx.keys.verify(mfa_token, "mfa")
    challenge = repo.get_challenge(session, str(claims["jti"]))
    if (
        challenge is None
        or str(challenge.user_id) != str(claims["sub"])
        or challenge.consumed_at is not None
        or challenge.expires_at <= ctx.now()
    ):
        raise MfaChallengeInvalid()
    user = repo.get_user(session, challenge.user_id)
    if user is None:
        raise MfaChallengeInvalid()
    return challenge, user


def complete_challenge(ctx: AuthContext, *, session: Session, mfa_token: str | None, code: str) -> User:
    """The user of a login attempt whose second factor `code` is right (rate limited per account)."""
    challenge, user = _live_challenge(ctx, session, mfa_token)
    s = ctx.settings
    ctx.limit(f"mfa:user:{user.id}", s.mfa_limit_per_account, s.mfa_window_s)
    if challenge.failed_attempts >= s.mfa_limit_per_account:
        raise MfaChallengeInvalid()  # too many wrong codes for this attempt: sign in again
    factor = check_second_factor(ctx, session, user, code, challenge_id=challenge.id)
    if factor is None:
        challenge.failed_attempts += 1
        raise InvalidMfaCode()
    if not repo.consume_challenge(session, challenge.id, ctx.now()):
        raise MfaChallengeInvalid()
    if factor == "email":
        user.email_verified = True  # the code proved control of the mailbox
    return user


def resend_code(ctx: AuthContext, *, session: Session, mfa_token: str | None) -> str:
    """Send a fresh code for a pending login attempt (email and SMS methods only)."""
    challenge, user = _live_challenge(ctx, session, mfa_token)
    if user.mfa_method not in ("email", "sms"):
        raise MfaMethodUnavailable("This account uses an authenticator app; use the code it shows.")
    s = ctx.settings
    ctx.limit(f"mfa-resend:user:{user.id}", s.resend_limit_per_account, s.mfa_window_s)
    _send_code(ctx, session, user, purpose=LOGIN, channel=user.mfa_method, challenge_id=challenge.id)
    return _PROMPTS[user.mfa_method]


# ---------------------------------------------------------------- setup, enable, disable, recovery codes


def begin_totp(ctx: AuthContext, user: User) -> dict[str, str]:
    """A new pending TOTP seed (encrypted at rest) and how to provision it."""
    secret = new_totp_secret()
    user.totp_pending_secret_enc = ctx.box.encrypt(secret)
    uri = totp_uri(secret, user.username, ctx.settings.totp_issuer)
    return {"totp_uri": uri, "totp_secret": secret, "qr_code": qr_svg_data_uri(uri)}


def setup(ctx: AuthContext, *, session: Session, user: User, method: str, phone_number: str | None) -> dict[str, str]:
    """Start enrolling a method: TOTP provisioning data, or a code sent by email/SMS."""
    if user.mfa_enabled:
        raise MfaStateConflict("Two-step verification is already on; turn it off first to change the method.")
    if method == "totp":
        return {"method": "totp", "message": "Scan the QR code, then confirm with a code.", **begin_totp(ctx, user)}
    s = ctx.settings
    ctx.limit(f"mfa-resend:user:{user.id}", s.resend_limit_per_account, s.mfa_window_s)
    if method == "sms":
        if not phone_number:
            raise ValidationFailed(
                "A phone number in international format (+15551234567) is needed for SMS.", field="phone_number"
            )
        user.pending_phone_number = phone_number
        _send_code(ctx, session, user, purpose=SETUP, channel="sms", phone=phone_number)
        return {"method": "sms", "message": "We sent a 6-digit code to your phone; confirm it to turn on SMS codes."}
    _send_code(ctx, session, user, purpose=SETUP, channel="email")
    return {"method": "email", "message": "We sent a 6-digit code to your email; confirm it to turn on email codes."}


def _new_recovery_codes(ctx: AuthContext, session: Session, user: User) -> list[str]:
    codes = [new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    scope = _code_scope(user, "recovery")
    repo.replace_recovery_codes(session, user.id, [ctx.box.code_hash(normalize_code(c), scope) for c in codes])
    return codes


def enable(ctx: AuthContext, *, session: Session, user: User, code: str, method: str | None) -> tuple[str, list[str]]:
    """Confirm the method being set up with a valid code; returns it and 10 new recovery codes."""
    if user.mfa_enabled:
        raise MfaStateConflict("Two-step verification is already on.")
    s = ctx.settings
    ctx.limit(f"mfa:user:{user.id}", s.mfa_limit_per_account, s.mfa_window_s)
    pending = repo.latest_code(session, user.id, SETUP)
    method = method or ("totp" if user.totp_pending_secret_enc else pending.channel if pending else None)
    c = normalize_code(code)
    if method == "totp":
        if not user.totp_pending_secret_enc:
            raise MfaMethodUnavailable("Start with /api/auth/mfa/setup to get a TOTP secret.")
        if not _check_totp(ctx, session, user, user.totp_pending_secret_enc, c):
            raise InvalidMfaCode()
        user.totp_secret_enc, user.totp_pending_secret_enc = user.totp_pending_secret_enc, None
    elif method in ("email", "sms"):
        if pending is None or pending.channel != method:
            raise MfaMethodUnavailable("Start with /api/auth/mfa/setup to get a code.")
        if not _check_sent_code(ctx, session, user, pending, c):
            raise InvalidMfaCode()
        if method == "sms":
            user.phone_number, user.pending_phone_number = user.pending_phone_number, None
    else:
        raise MfaMethodUnavailable("Start with /api/auth/mfa/setup.")
    user.mfa_enabled, user.mfa_method = True, method
    codes = _new_recovery_codes(ctx, session, user)
    return method, codes


def reauthenticate(ctx: AuthContext, *, session: Session, user: User, password: str | None, code: str | None) -> None:
    """Require the password or a current code (TOTP or recovery code) for a sensitive change."""
    s = ctx.settings
    ctx.limit(f"reauth:user:{user.id}", s.mfa_limit_per_account, s.mfa_window_s)
    if not password and not code:
        raise ValidationFailed("Enter your password (or a current code) to confirm.", field="password")
    if password and ctx.hashing.verify(user.password_hash, password):
        return
    if code and user.mfa_enabled and check_second_factor(ctx, session, user, code, allow_sent_code=False):
        return
    raise ReauthFailed()


def turn_off(session: Session, user: User) -> None:
    """Drop every second factor of the account: secrets, phone, recovery codes."""
    user.mfa_enabled, user.mfa_method = False, None
    user.totp_secret_enc = user.totp_pending_secret_enc = None
    user.totp_last_step = None
    user.phone_number = user.pending_phone_number = None
    repo.delete_recovery_codes(session, user.id)


def disable(ctx: AuthContext, *, session: Session, user: User) -> None:
    """Turn MFA off (the caller checked the step-up); secrets and recovery codes are dropped."""
    if not user.mfa_enabled:
        raise MfaStateConflict("Two-step verification is already off.")
    turn_off(session, user)


def regenerate_recovery_codes(ctx: AuthContext, *, session: Session, user: User) -> list[str]:
    """Replace the recovery codes (the caller checked the step-up)."""
    if not user.mfa_enabled:
        raise MfaStateConflict("Turn on two-step verification first.")
    return _new_recovery_codes(ctx, session, user)
