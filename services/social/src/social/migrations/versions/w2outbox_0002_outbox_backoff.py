"""outbox: aggregate ordering key and per-row backoff

Revision ID: w2outbox_0002
Revises: w2copies_0002
"""

from collections.abc import Sequence

from shared.migrations import add_outbox_backoff_columns, drop_outbox_backoff_columns

revision: str = "w2outbox_0002"
down_revision: str | None = "w2copies_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_outbox_backoff_columns()


def downgrade() -> None:
    drop_outbox_backoff_columns()
