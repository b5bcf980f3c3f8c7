"""Alembic environment of the shows service."""

import shows.models  # noqa: F401 - registers the tables on Base.metadata
from shared.migrations import run_env
from shows.db import Base

run_env(Base.metadata)
