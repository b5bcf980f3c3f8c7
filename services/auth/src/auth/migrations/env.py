"""Alembic environment of the auth service."""

from alembic import context
from sqlalchemy import create_engine, pool

from auth import models  # noqa: F401  (registers the tables)
from auth.db import Base
from shared.migrations import run_env


def _run_postgres(url: str) -> None:
    # Local stand-in for shared.migrations.run_env on PostgreSQL: run_env passes NullPool to make_engine,
    # which also sets pool_size/max_overflow, and SQLAlchemy refuses that combination.
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


_url = context.config.get_main_option("sqlalchemy.url") or ""
if _url.startswith("postgres") and not context.is_offline_mode():
    _run_postgres(_url)
else:
    run_env(Base.metadata)
