"""Auth tables: users, sessions and their revocations, refresh tokens, one-time tokens, MFA, mail outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from auth.db import Base
from shared.db import utcnow


class User(Base):
    """An account; secrets are stored hashed (password) or encrypted (TOTP seed)."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(30))
    username_lower: Mapped[str] = mapped_column(String(30), unique=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    mfa_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    mfa_method: Mapped[str | None] = mapped_column(String(10), nullable=True)
    totp_secret_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    totp_pending_secret_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    # last accepted TOTP time step: only a strictly later step is accepted (replay prevention)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    phone_number: Mapped[str | None] = mapped_column(String(20), nullable=True)
    pending_phone_number: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # set by a "this wasn't me" report: signing in is refused until the password was reset by mail
    password_reset_required: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # the version other services' copies compare (shared.copies); bumped by every user.* event
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class DeletedUser(Base):
    """What remains of a deleted account: its id and final version, so copies elsewhere never revive it."""

    __tablename__ = "deleted_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer)
    deleted_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class AuthSession(Base):
    """A signed-in device: the refresh-token family is the session, its id the tokens' `sid` claim."""

    __tablename__ = "auth_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the refresh token's lifetime, moved forward at each rotation
    expires_at: Mapped[datetime] = mapped_column()
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    # the last time the password or a second factor was checked on this session (step-up)
    reauth_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True, index=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)


class SessionRevocation(Base):
    """One revocation, kept while tokens of the session may still be valid: every process catches up here.

    The id orders revocations for `/internal/sessions/revoked?after=<id>`; no foreign key, so account
    deletion keeps the rows that make its tokens refused.
    """

    __tablename__ = "session_revocation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(40), default="")
    revoked_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class RefreshToken(Base):
    """One issued refresh token (by jti and hash) in a rotation family (= session)."""

    __tablename__ = "refresh_token"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[str] = mapped_column(String(64), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class OneTimeToken(Base):
    """A verification or password-reset link token, stored as SHA-256, single use, bound to its purpose."""

    __tablename__ = "one_time_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # what the link acts on: the new address of an email change, the change a "this wasn't me" undoes
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class MfaChallenge(Base):
    """A login attempt whose password was right and whose second factor is pending."""

    __tablename__ = "mfa_challenge"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    consumed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)


class MfaCode(Base):
    """A 6-digit code sent by email or SMS (keyed hash, 10 min, single use, limited attempts)."""

    __tablename__ = "mfa_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(10))  # login | setup
    channel: Mapped[str] = mapped_column(String(10))  # email | sms
    challenge_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)


class RecoveryCode(Base):
    """A one-time recovery code (keyed hash)."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)


class OutboundMessage(Base):
    """A mail or SMS written with the change and delivered after commit by the sender thread."""

    __tablename__ = "outbound_message"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(10))  # email | sms
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(200), default="")
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True, index=True)
    locked_until: Mapped[datetime | None] = mapped_column(nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
