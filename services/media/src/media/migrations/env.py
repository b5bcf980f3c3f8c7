"""Alembic environment of the media service."""

import media.models  # noqa: F401 - registers the tables on Base.metadata
from media.db import Base
from shared.migrations import run_env

run_env(Base.metadata)
