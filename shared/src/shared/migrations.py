"""The body of every service's alembic env.py: `run_env(Base.metadata)`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData, pool

from shared.db import make_engine


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
