"""versioned copies: user and show copies with versions and tombstones, friendship pair versions

Revision ID: w2copies_0002
Revises: 0001
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = "w2copies_0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("deleted", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("show_ref", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("deleted", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "friend_pair",
        sa.Column("user_low", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("user_high", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_low", "user_high", name=op.f("pk_friend_pair")),
    )
    with op.batch_alter_table("friend_pair", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_friend_pair_updated_at"), ["updated_at"], unique=False)
    # today's friendships start their version history at 1 (shows' copies hold 0: the reconciler repairs them)
    op.execute(
        "INSERT INTO friend_pair (user_low, user_high, version, accepted, updated_at) "
        "SELECT user_low, user_high, 1, status = 'accepted', CURRENT_TIMESTAMP FROM friendship"
    )


def downgrade() -> None:
    with op.batch_alter_table("friend_pair", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_friend_pair_updated_at"))
    op.drop_table("friend_pair")
    op.execute("DELETE FROM show_ref WHERE deleted OR version = 0")
    op.execute("DELETE FROM app_user WHERE deleted")
    with op.batch_alter_table("show_ref", schema=None) as batch_op:
        batch_op.drop_column("deleted")
        batch_op.drop_column("version")
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_column("deleted")
        batch_op.drop_column("version")
