"""Migrations: upgrade, downgrade, upgrade again, and no drift between the models and the revision."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from shared.db import downgrade_migrations, make_engine, run_migrations
from social import models  # noqa: F401 - registers the tables
from social.db import Base


def test_round_trip_and_no_drift(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    run_migrations("social", url)
    downgrade_migrations("social", url)
    run_migrations("social", url)
    engine = make_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []
