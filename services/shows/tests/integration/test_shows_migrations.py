"""Migrations: upgrade, downgrade, upgrade again on SQLite, and no drift between models and migrations."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import shows.models  # noqa: F401 - registers the tables
from shared.db import downgrade_migrations, make_engine, run_migrations
from shows.db import Base


def test_round_trip_and_no_drift(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    run_migrations("shows", url)
    downgrade_migrations("shows", url)
    run_migrations("shows", url)
    engine = make_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"render_as_batch": True}), Base.metadata)
    engine.dispose()
    assert diff == []
