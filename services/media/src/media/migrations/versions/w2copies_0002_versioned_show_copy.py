"""versioned show copy: version and tombstone flag on show_ref

Revision ID: w2copies_0002
Revises: 0001
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "w2copies_0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("show_ref", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("deleted", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    op.execute("DELETE FROM show_ref WHERE deleted")
    with op.batch_alter_table("show_ref", schema=None) as batch_op:
        batch_op.drop_column("deleted")
        batch_op.drop_column("version")
