"""search setting: users opt in to be found by their exact email

Revision ID: w2edge_0002
Revises: w2outbox_0002
Create Date: 2026-12-06 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "w2edge_0002"
down_revision: str | None = "w2outbox_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "search_setting",
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("findable_by_email", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_search_setting")),
    )


def downgrade() -> None:
    op.drop_table("search_setting")
