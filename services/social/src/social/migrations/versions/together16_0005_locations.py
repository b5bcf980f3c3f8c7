"""friends positions at a concert (deleted when they expire) and the "appear offline" setting

Revision ID: together16_0005
Revises: together16_0004
Create Date: 2026-12-06 12:22:36.752429
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "together16_0005"
down_revision: str | None = "together16_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("friend_location",
    sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
    sa.Column("concert_id", sa.Integer(), autoincrement=False, nullable=False),
    sa.Column("show_id", sa.Integer(), nullable=False),
    sa.Column("latitude", sa.Float(), nullable=False),
    sa.Column("longitude", sa.Float(), nullable=False),
    sa.Column("accuracy_m", sa.Float(), nullable=False),
    sa.Column("precision", sa.String(length=16), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("user_id", "concert_id", name=op.f("pk_friend_location"))
    )
    with op.batch_alter_table("friend_location", schema=None) as batch_op:
        batch_op.create_index("ix_friend_location_concert_expires", ["concert_id", "expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_friend_location_expires_at"), ["expires_at"], unique=False)

    op.create_table("presence_setting",
    sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
    sa.Column("appear_offline", sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint("user_id", name=op.f("pk_presence_setting"))
    )


def downgrade() -> None:
    op.drop_table("presence_setting")
    with op.batch_alter_table("friend_location", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_friend_location_expires_at"))
        batch_op.drop_index("ix_friend_location_concert_expires")

    op.drop_table("friend_location")
