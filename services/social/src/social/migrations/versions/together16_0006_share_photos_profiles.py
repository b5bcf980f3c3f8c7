"""share links carry the owner's chosen photos; the opt-in public profile setting

Revision ID: together16_0006
Revises: together16_0005
Create Date: 2026-12-06 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "together16_0006"
down_revision: str | None = "together16_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("share_link", schema=None) as batch_op:
        batch_op.add_column(sa.Column("photo_ids", sa.JSON(none_as_null=True), nullable=True))

    op.create_table("profile_setting",
    sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
    sa.Column("public_profile", sa.Boolean(), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("user_id", name=op.f("pk_profile_setting"))
    )


def downgrade() -> None:
    op.drop_table("profile_setting")
    with op.batch_alter_table("share_link", schema=None) as batch_op:
        batch_op.drop_column("photo_ids")
