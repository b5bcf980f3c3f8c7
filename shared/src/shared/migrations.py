"""The body of every service's alembic env.py (`run_env(Base.metadata)`) and schema steps they share."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy import MetaData, pool

from shared.db import UTCDateTime, make_engine


def run_env(target_metadata: MetaData) -> None:
    """Run migrations online (or offline for `--sql`) with batch mode on SQLite."""
    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("sqlalchemy.url is not set; run migrations through <svc>-migrate")
    is_sqlite = url.startswith("sqlite")
    if context.is_offline_mode():
        context.configure(
            url=url, target_metadata=target_metadata, literal_binds=True, render_as_batch=is_sqlite
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url, poolclass=pool.NullPool) if not is_sqlite else make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=is_sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


# Schema steps every service's outbox shares, called from each service's own migration. Frozen once released:
# a later change is a new pair of functions, so replaying old migrations always builds the same schema.


def add_outbox_backoff_columns() -> None:
    """outbox_event.aggregate (ordering key) and next_attempt_at (per-row backoff), with their indexes."""
    with op.batch_alter_table("outbox_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("aggregate", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("next_attempt_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_outbox_event_aggregate"), ["aggregate"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_event_next_attempt_at"), ["next_attempt_at"], unique=False)


def drop_outbox_backoff_columns() -> None:
    """Undo add_outbox_backoff_columns."""
    with op.batch_alter_table("outbox_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_event_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_outbox_event_aggregate"))
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("aggregate")
