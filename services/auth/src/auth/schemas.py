"""Request and response models of the auth API (inputs forbid unknown secrets by ignoring them)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

from shared.db import iso

MfaMethod = Literal["totp", "email", "sms"]
# Generous cap on raw input so a huge password is refused fast; the policy names the 1024-byte rule.
_PW = Field(min_length=1, max_length=4096)


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        # PostgreSQL text cannot hold NUL; refuse it here instead of failing in the database
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class UserRef(BaseModel):
    """Another user as the API shows them."""

    id: int
    username: str


class MeRead(BaseModel):
    """The caller's own account."""

    id: int
    username: str
    email: str
    email_verified: bool
    mfa_enabled: bool
    mfa_method: str | None
    created_at: datetime

    @field_serializer("created_at")
    def _iso(self, value: datetime) -> str | None:
        return iso(value)


class RegisterRequest(_In):
    """New account; `mfa_method` (or the earlier `enable_mfa: true` = email) asks for MFA."""

    username: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=1, max_length=320)
    password: str = _PW
    mfa_method: Literal["totp", "email"] | None = None
    enable_mfa: bool = False


class RegisterResponse(BaseModel):
    """The new account (own email included) and what happens next."""

    user: MeRead
    message: str
    totp_uri: str | None = None
    totp_secret: str | None = None
    qr_code: str | None = None


class LoginRequest(_In):
    """`username` or `login` (a username or an email address) and the password."""

    login: str = Field(min_length=1, max_length=320, validation_alias=AliasChoices("login", "username", "email"))
    password: str = _PW

    @model_validator(mode="before")
    @classmethod
    def _prefer_non_empty(cls, data: object) -> object:
        # the web client sends both `login` and `username`; take whichever is filled
        if isinstance(data, dict):
            for key in ("login", "username", "email"):
                if isinstance(data.get(key), str) and data[key].strip():
                    return {**data, "login": data[key].strip()}
        return data


class SessionResponse(BaseModel):
    """A signed-in session: tokens for non-browser clients (browsers use the cookies)."""

    user: MeRead
    access_token: str
    refresh_token: str
    # seconds until the access token expires: refresh before that (the web app does at 80 %)
    expires_in: int
    session_id: str
    mfa_required: Literal[False] = False
    message: str | None = None


class SessionRead(BaseModel):
    """One signed-in device of the caller."""

    id: str
    current: bool
    device: str
    user_agent: str
    ip: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime

    @field_serializer("created_at", "last_used_at", "expires_at")
    def _iso(self, value: datetime) -> str | None:
        return iso(value)


class SessionList(BaseModel):
    """The caller's active sessions, the current one marked."""

    sessions: list[SessionRead]
    total: int


class RevokeAllRequest(_In):
    """Sign out every session (default), or every session but this one."""

    keep_current: bool = False


class RevokedCount(BaseModel):
    """How many sessions were signed out."""

    message: str
    revoked: int


class ReauthResponse(BaseModel):
    """The re-authentication was recorded on this session until `reauth_until`."""

    message: str
    reauth_until: str


class ChangeEmailRequest(_In):
    """The new address (confirmed by a mailed link) and, optionally, the password as the step-up."""

    new_email: str = Field(min_length=1, max_length=320, validation_alias=AliasChoices("new_email", "email"))
    password: str | None = Field(None, max_length=4096)


class Revocation(BaseModel):
    """A revoked session whose tokens may still be around (`expires_at`: epoch seconds)."""

    sid: str
    user_id: int
    reason: str
    revoked_at: datetime
    expires_at: float

    @field_serializer("revoked_at")
    def _iso(self, value: datetime) -> str | None:
        return iso(value)


class RevocationPage(BaseModel):
    """Revocations after a cursor, and the cursor to ask with next time."""

    revocations: list[Revocation]
    cursor: int


class MfaRequiredResponse(BaseModel):
    """Password accepted; the second factor is pending (no session, no email yet)."""

    mfa_required: Literal[True] = True
    mfa_token: str
    methods: list[str]
    message: str


class MfaTokenRequest(_In):
    """The login attempt, by token (or the `mfa_pending` cookie)."""

    mfa_token: str | None = Field(None, max_length=4096)


class VerifyMfaRequest(MfaTokenRequest):
    """A TOTP code, an emailed/SMS code, or a recovery code."""

    code: str = Field(min_length=1, max_length=64)


class RefreshRequest(_In):
    """A refresh token in the body (non-browser clients); browsers send the cookie."""

    refresh_token: str | None = Field(None, max_length=4096)


class TokenRequest(_In):
    """A token from an emailed link."""

    token: str = Field(min_length=1, max_length=512)


class EmailRequest(_In):
    """An email address."""

    email: str = Field(min_length=1, max_length=320)


class ResetPasswordRequest(_In):
    """The reset token and the new password."""

    token: str = Field(min_length=1, max_length=512)
    password: str = Field(min_length=1, max_length=4096, validation_alias=AliasChoices("password", "new_password"))


class ChangePasswordRequest(_In):
    """The current password and the new one."""

    current_password: str = _PW
    new_password: str = _PW


class PasswordRequest(_In):
    """The password, to confirm a destructive action (optional after a recent re-authentication)."""

    password: str | None = Field(None, max_length=4096)


class ReauthRequest(_In):
    """The password or a current MFA code (TOTP or recovery code); optional after a recent re-authentication."""

    password: str | None = Field(None, max_length=4096)
    code: str | None = Field(None, max_length=64)


class MfaSetupRequest(_In):
    """Which method to set up (SMS needs a phone number in E.164 form)."""

    method: MfaMethod
    phone_number: str | None = Field(None, pattern=r"^\+[1-9][0-9]{6,14}$")


class MfaSetupResponse(BaseModel):
    """TOTP: the provisioning URI, the secret and a QR code; email/SMS: a code was sent."""

    method: str
    message: str
    totp_uri: str | None = None
    totp_secret: str | None = None
    qr_code: str | None = None


class MfaEnableRequest(_In):
    """The code confirming the method being set up."""

    code: str = Field(min_length=1, max_length=64)
    method: MfaMethod | None = None


class RecoveryCodesResponse(BaseModel):
    """One-time recovery codes, shown once."""

    message: str
    method: str | None = None
    recovery_codes: list[str]


class MessageResponse(BaseModel):
    """A sentence for the person."""

    message: str


class InternalUsers(BaseModel):
    """Users by id (for services that missed events)."""

    users: list[UserRef]
