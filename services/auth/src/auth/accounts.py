"""Changes to an account that other services' copies must follow (each bumps the user's version)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from auth.models import User
from shared.events import UserUpdatedV1
from shared.outbox import emit


def set_email(session: Session, user: User, email: str) -> None:
    """Give the account a (verified) new address and tell the copies (social keeps it for exact search)."""
    user.email, user.email_verified = email, True
    user.version = (user.version or 1) + 1
    emit(session, UserUpdatedV1(user_id=user.id, username=user.username, email=email,
                                aggregate_version=user.version))
