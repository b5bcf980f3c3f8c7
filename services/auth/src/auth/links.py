"""Single-use link tokens (verify email, reset password, change email, secure account) and their URLs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from auth import repository as repo
from auth.context import AuthContext
from auth.exceptions import ExpiredLinkToken, InvalidLinkToken
from auth.models import OneTimeToken, User
from auth.security import new_link_token, sha256_hex

VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"
CHANGE_EMAIL = "change_email"
SECURE_ACCOUNT = "secure_account"


def url(ctx: AuthContext, path: str, token: str) -> str:
    """A link into the web app: always the configured public URL, never the request's Host header."""
    return f"{ctx.settings.public_base_url.rstrip('/')}/{path}?token={token}"


def issue(ctx: AuthContext, session: Session, user: User, purpose: str, ttl_s: int,
          data: dict[str, Any] | None = None) -> str:
    """A new single-use token of `purpose` (only its hash is stored); returns the token for the link."""
    token, token_hash = new_link_token()
    repo.add_link_token(
        session,
        OneTimeToken(user_id=user.id, purpose=purpose, token_hash=token_hash, data=data,
                     expires_at=ctx.now() + timedelta(seconds=ttl_s)),
    )
    return token


def find(ctx: AuthContext, session: Session, token: str, purposes: tuple[str, ...], ip: str) -> OneTimeToken:
    """The unused, unexpired token row of one of `purposes` (rate limited per IP); 400 otherwise."""
    s = ctx.settings
    ctx.limit(f"confirm:ip:{ip}", s.confirm_limit_per_ip, s.confirm_window_s)
    row = repo.get_link_token(session, sha256_hex(token.strip()))
    if row is None or row.purpose not in purposes or row.used_at is not None:
        raise InvalidLinkToken()
    if row.expires_at <= ctx.now():
        raise ExpiredLinkToken()
    return row


def spend(ctx: AuthContext, session: Session, row: OneTimeToken) -> None:
    """Mark a token used (atomic: a second use of the same link fails)."""
    if not repo.use_link_token(session, row.id, ctx.now()):
        raise InvalidLinkToken()
