"""Alembic environment of the shows service."""

from alembic import context

import shows.models  # noqa: F401 - registers the tables on Base.metadata
from shared.db import make_engine
from shows.db import Base


def _run_env() -> None:
    # Local copy of shared.migrations.run_env: the shared one passes poolclass=NullPool together with
    # make_engine's pool_size/max_overflow defaults, which create_engine rejects on PostgreSQL.
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("sqlalchemy.url is not set; run migrations through shows-migrate")
    is_sqlite = url.startswith("sqlite")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=Base.metadata, literal_binds=True, render_as_batch=is_sqlite)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url) if is_sqlite else make_engine(url, pool_size=1, max_overflow=0)
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=Base.metadata, render_as_batch=is_sqlite, compare_type=True
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


_run_env()
