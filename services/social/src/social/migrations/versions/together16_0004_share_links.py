"""share links: public, revocable links to one show (only the token hash is stored)

Revision ID: together16_0004
Revises: together16_0003
Create Date: 2026-12-06 12:20:30.278868
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "together16_0004"
down_revision: str | None = "together16_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("share_link",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("token_hash", sa.String(length=64), nullable=False),
    sa.Column("token_prefix", sa.String(length=8), nullable=False),
    sa.Column("show_id", sa.Integer(), nullable=False),
    sa.Column("owner_id", sa.Integer(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_share_link")),
    sa.UniqueConstraint("token_hash", name=op.f("uq_share_link_token_hash"))
    )
    with op.batch_alter_table("share_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_share_link_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_share_link_show_id"), ["show_id"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("share_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_share_link_show_id"))
        batch_op.drop_index(batch_op.f("ix_share_link_owner_id"))

    op.drop_table("share_link")
