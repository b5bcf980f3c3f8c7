"""Auth errors (ServiceError subclasses); `commit_changes` errors keep what the request recorded."""

from __future__ import annotations

from typing import Any

from shared.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed


class InvalidCredentials(Unauthorized):
    """Unknown account and wrong password look exactly the same."""

    default_code = "invalid_credentials"
    default_message = "Invalid username/email or password"


class InvalidToken(Unauthorized):
    """A session, refresh or MFA token that is missing, forged, expired or revoked."""

    default_code = "invalid_token"
    default_message = "Your session is not valid; sign in again."


class RefreshReused(Unauthorized):
    """A rotated refresh token came back: its whole family was revoked (kept despite the error)."""

    commit_changes = True
    default_code = "refresh_token_reused"
    default_message = "This session was ended for your safety; sign in again."


class InvalidMfaCode(Unauthorized):
    """A wrong, expired or replayed second-factor code (failed-attempt counters are kept)."""

    commit_changes = True
    default_code = "invalid_mfa_code"
    default_message = "The code is not valid or has already been used."


class MfaChallengeInvalid(Unauthorized):
    """The MFA step is not bound to a live login attempt."""

    default_code = "mfa_session_invalid"
    default_message = "Your sign-in attempt expired or is not valid; sign in again."


class InvalidLinkToken(BadRequest):
    """A verification or reset token that is unknown, used, or for another purpose."""

    default_code = "invalid_token"
    default_message = "This link is not valid or has already been used; request a new one."


class ExpiredLinkToken(BadRequest):
    """A verification or reset token past its expiry."""

    default_code = "token_expired"
    default_message = "This link has expired; request a new one."


class ReauthFailed(Unauthorized):
    """Password (or code) re-check failed for a sensitive change."""

    commit_changes = True
    default_code = "invalid_credentials"
    default_message = "The password or code is not correct."


class ReauthenticationRequired(Forbidden):
    """A sensitive change without a password or second-factor check on this session in the last minutes."""

    default_code = "reauthentication_required"
    default_message = "Confirm it is you: enter your password (or a current code) to continue."


class PasswordResetRequired(Forbidden):
    """The account was reported as taken over: a password reset by mail comes first."""

    default_code = "password_reset_required"
    default_message = "For your safety, choose a new password with the link we emailed you before signing in."


class SessionNotFound(NotFound):
    """No such session among the caller's."""

    default_code = "session_not_found"
    default_message = "No such session."


class UsernameTaken(Conflict):
    default_code = "username_taken"
    default_message = "This username is already taken."

    def __init__(self, **kw: Any) -> None:
        super().__init__(details=[{"field": "username", "message": self.default_message}], **kw)


class EmailTaken(Conflict):
    default_code = "email_taken"
    default_message = "An account with this email address already exists."

    def __init__(self, **kw: Any) -> None:
        super().__init__(details=[{"field": "email", "message": self.default_message}], **kw)


class MfaStateConflict(Conflict):
    """MFA is already on (or off) for this request."""

    default_code = "mfa_state_conflict"


class MfaMethodUnavailable(BadRequest):
    """The account's MFA method does not send codes (or is not set up)."""

    default_code = "mfa_method_unavailable"


def policy_error(field: str, code: str, message: str) -> ValidationFailed:
    """A 422 naming the password rule that failed."""
    return ValidationFailed(message, code=code, field=field)
