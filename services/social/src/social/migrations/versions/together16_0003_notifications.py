"""notifications (with per-type email preferences and digest state), blocks, direct messages, check-in copies

Revision ID: together16_0003
Revises: w2edge_0002
Create Date: 2026-12-06 11:55:24.141924
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "together16_0003"
down_revision: str | None = "w2edge_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("checkin_ref",
    sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
    sa.Column("concert_id", sa.Integer(), autoincrement=False, nullable=False),
    sa.Column("show_id", sa.Integer(), nullable=False),
    sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("user_id", "concert_id", name=op.f("pk_checkin_ref"))
    )
    with op.batch_alter_table("checkin_ref", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checkin_ref_concert_id"), ["concert_id"], unique=False)

    op.create_table("direct_message",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("sender_id", sa.Integer(), nullable=False),
    sa.Column("recipient_id", sa.Integer(), nullable=False),
    sa.Column("user_low", sa.Integer(), nullable=False),
    sa.Column("user_high", sa.Integer(), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_direct_message"))
    )
    with op.batch_alter_table("direct_message", schema=None) as batch_op:
        batch_op.create_index("ix_direct_message_pair_id", ["user_low", "user_high", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_direct_message_recipient_id"), ["recipient_id"], unique=False)

    op.create_table("notification",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("user_id", sa.Integer(), nullable=False),
    sa.Column("type", sa.String(length=32), nullable=False),
    sa.Column("actor_id", sa.Integer(), nullable=True),
    sa.Column("show_id", sa.Integer(), nullable=True),
    sa.Column("concert_id", sa.Integer(), nullable=True),
    sa.Column("media_id", sa.Integer(), nullable=True),
    sa.Column("text", sa.String(length=500), nullable=False),
    sa.Column("dedupe_key", sa.String(length=128), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("emailed_at", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
    sa.UniqueConstraint("user_id", "dedupe_key", name="uq_notification_user_key")
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notification_emailed_at"), ["emailed_at"], unique=False)
        batch_op.create_index("ix_notification_user_id_id", ["user_id", "id"], unique=False)

    op.create_table("notification_digest",
    sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
    sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("user_id", name=op.f("pk_notification_digest"))
    )
    op.create_table("notification_pref",
    sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
    sa.Column("type", sa.String(length=32), nullable=False),
    sa.Column("email", sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint("user_id", "type", name=op.f("pk_notification_pref"))
    )
    op.create_table("user_block",
    sa.Column("blocker_id", sa.Integer(), autoincrement=False, nullable=False),
    sa.Column("blocked_id", sa.Integer(), autoincrement=False, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("blocker_id", "blocked_id", name=op.f("pk_user_block"))
    )
    with op.batch_alter_table("user_block", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_block_blocked_id"), ["blocked_id"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("user_block", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_block_blocked_id"))

    op.drop_table("user_block")
    op.drop_table("notification_pref")
    op.drop_table("notification_digest")
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_user_id_id")
        batch_op.drop_index(batch_op.f("ix_notification_emailed_at"))

    op.drop_table("notification")
    with op.batch_alter_table("direct_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_direct_message_recipient_id"))
        batch_op.drop_index("ix_direct_message_pair_id")

    op.drop_table("direct_message")
    with op.batch_alter_table("checkin_ref", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkin_ref_concert_id"))

    op.drop_table("checkin_ref")
