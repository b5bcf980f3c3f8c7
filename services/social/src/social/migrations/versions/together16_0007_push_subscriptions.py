"""Web Push subscriptions of browsers

Revision ID: together16_0007
Revises: together16_0006
Create Date: 2026-12-06 15:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "together16_0007"
down_revision: str | None = "together16_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("push_subscription",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("user_id", sa.Integer(), nullable=False),
    sa.Column("endpoint", sa.String(length=1000), nullable=False),
    sa.Column("p256dh", sa.String(length=200), nullable=False),
    sa.Column("auth", sa.String(length=100), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_push_subscription")),
    sa.UniqueConstraint("endpoint", name=op.f("uq_push_subscription_endpoint"))
    )
    with op.batch_alter_table("push_subscription", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_push_subscription_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("push_subscription", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_push_subscription_user_id"))
    op.drop_table("push_subscription")
