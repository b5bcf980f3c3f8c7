"""versioned copies: show versions and tombstones, user and friendship copies with versions

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
    sqlite = op.get_context().dialect.name == "sqlite"
    # SQLite reuses the highest rowid after a delete unless the table is AUTOINCREMENT: a new show must
    # never take the id of a deleted one, whose tombstone other services keep (PostgreSQL never reuses).
    with op.batch_alter_table(
        "show", schema=None, recreate="always" if sqlite else "auto", table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
    op.create_table(
        "show_tombstone",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("concert_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_show_tombstone")),
    )
    with op.batch_alter_table("show_tombstone", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_show_tombstone_deleted_at"), ["deleted_at"], unique=False)
    with op.batch_alter_table("user_copy", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("deleted", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("friendship", schema=None) as batch_op:
        batch_op.add_column(sa.Column("accepted", sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("friendship", schema=None) as batch_op:
        batch_op.drop_column("version")
        batch_op.drop_column("accepted")
    op.execute("DELETE FROM user_copy WHERE deleted")
    with op.batch_alter_table("user_copy", schema=None) as batch_op:
        batch_op.drop_column("deleted")
        batch_op.drop_column("version")
    with op.batch_alter_table("show_tombstone", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_show_tombstone_deleted_at"))
    op.drop_table("show_tombstone")
    with op.batch_alter_table("show", schema=None) as batch_op:
        batch_op.drop_column("version")
