"""sessions with ids, their revocations, step-up, link-token data, forced password reset

Revision ID: w2sessions_0002
Revises: w2outbox_0002
Create Date: 2026-11-27 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = "w2sessions_0002"
down_revision: str | None = "w2outbox_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_session",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_agent", sa.String(length=255), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("reauth_at", shared.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", shared.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name=op.f("fk_auth_session_user_id_user_account"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_session")),
    )
    with op.batch_alter_table("auth_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_session_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_auth_session_revoked_at"), ["revoked_at"], unique=False)

    op.create_table(
        "session_revocation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("revoked_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_revocation")),
    )
    with op.batch_alter_table("session_revocation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_revocation_sid"), ["sid"], unique=False)
        batch_op.create_index(batch_op.f("ix_session_revocation_expires_at"), ["expires_at"], unique=False)

    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("password_reset_required", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("one_time_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("data", sa.JSON(), nullable=True))
    # refresh tokens issued before sessions existed carry no `sid`: they can no longer be used
    op.execute(sa.text("UPDATE refresh_token SET revoked = true"))


def downgrade() -> None:
    with op.batch_alter_table("one_time_token", schema=None) as batch_op:
        batch_op.drop_column("data")
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("password_reset_required")
    with op.batch_alter_table("session_revocation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_revocation_expires_at"))
        batch_op.drop_index(batch_op.f("ix_session_revocation_sid"))
    op.drop_table("session_revocation")
    with op.batch_alter_table("auth_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_session_revoked_at"))
        batch_op.drop_index(batch_op.f("ix_auth_session_user_id"))
    op.drop_table("auth_session")
