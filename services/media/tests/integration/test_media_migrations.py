"""Migrations: upgrade to head and back to base on SQLite; the schema matches the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from media.db import Base
from shared.db import downgrade_migrations, make_engine, run_migrations


def test_upgrade_downgrade_and_no_drift(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    run_migrations("media", url)
    engine = make_engine(url)
    assert {"media_item", "rendition", "show_ref", "outbox_event", "processed_event"} <= set(
        inspect(engine).get_table_names())
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    assert diff == []
    downgrade_migrations("media", url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
